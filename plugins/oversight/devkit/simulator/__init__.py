"""Simulate a province's city deliveries (file-drop layout), deterministic per seed.

For Shaanxi (61) the registry and the cumulative refund and complaint figures
are calibrated so that, as of the last simulated date, the warehouse reproduces
the province's 2022 report exactly: 4600 compulsory-stage subject-type
institutions on the baseline, 4431 reduced, 169 remaining (all supervised, on
the model contract), 3571 active non-subject institutions (all supervised),
220,000 students refunded 582,000,000.00 yuan (cash, course exchange, judicial),
2744 complaint clues (1248 in-school, 1496 out-of-school), all closed.

It also plants, and records in ``<out>/_simulation/manifest.json``:
- one regulatory breach per alert rule (valid data: it must reach raw),
- every kind of bad data of the contract's section 4 (it must be rejected or
  quarantined with the stated reason),
- clean control institutions (they must raise no alert),
- a sample of the personal identities used (for pseudonymisation checks).

Cities deliver in their own formats (GB18030 CSV with Chinese headers, UTF-8
CSV with BOM, XLSX, JSONL). ``scale`` multiplies daily activity: with
``cities`` it doubles as the load generator for benchmarks.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import random
import re
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import chinese_calendar
from stdnum.cn import ric, uscc

from oversight.contract.cities import City, province_units
from oversight.contract.spec import SPECS

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
ORG_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
GIVEN = "子涵欣怡梓萱一诺浩宇雨桐思远嘉懿俊杰语嫣若曦明轩梓睿静怡晨阳佳琪文博"
BANKS = ["中国银行", "中国建设银行", "中国工商银行", "中国农业银行", "交通银行", "西安银行", "长安银行"]
POLICY_DATE = dt.date(2021, 7, 24)
SHANGHAI = ZoneInfo("Asia/Shanghai")
NON_SUBJECT_FIELDS = ("sports", "arts", "tech", "other")

# Shaanxi's 2022 report, province level (regulatory-rules.md section 1).
SHAANXI = {
    "deregistered": 3700,  # split of the 4431 reduced is not published: chosen
    "converted": 731,
    "remaining": 169,
    "non_subject_active": 3571,
    "refund_students": 220_000,
    "refund_fen": 582_000_000_00,
    "complaints_in_school": 1248,
    "complaints_out_of_school": 1496,
}
# Share of the province per reporting unit (rough population weights; not published).
SHAANXI_WEIGHTS = {
    "610100": 0.30,
    "610200": 0.025,
    "610300": 0.095,
    "610400": 0.11,
    "610403": 0.01,
    "610500": 0.12,
    "610600": 0.06,
    "610700": 0.09,
    "610800": 0.09,
    "610900": 0.06,
    "611000": 0.04,
}
# Delivery format per unit: (format, encoding, header language, date style, money style)
FORMATS: dict[str, tuple[str, str | None, str]] = {
    "610100": ("csv", "utf-8-sig", "zh"),
    "610200": ("csv", "gb18030", "zh"),
    "610300": ("xlsx", None, "zh"),
    "610400": ("jsonl", "utf-8", "en"),
    "610403": ("csv", "utf-8-sig", "zh"),
    "610500": ("csv", "utf-8", "en"),
    "610600": ("csv", "gb18030", "zh"),
    "610700": ("xlsx", None, "en"),
    "610800": ("csv", "utf-8", "zh"),
    "610900": ("jsonl", "utf-8", "zh"),
    "611000": ("csv", "gb18030", "zh"),
}
FORMAT_CYCLE = list(FORMATS.values())
SLASH_DATES = {"610200", "611000"}  # YYYY/MM/DD
COMPACT_DATES = {"610600"}  # YYYYMMDD
THOUSANDS = {"610800", "610300"}  # money as "1,234.50"
T_SEPARATOR = {"610500"}  # 2026-11-02T10:00:00
BOOL_STYLE = {"610100": ("是", "否"), "610200": ("是", "否"), "610300": ("Y", "N"), "610403": ("1", "0")}

LEDGER_REJECTING_CITIES = {"610300", "610400", "610600"}  # file-level bad ledger plants live there


def allocate(total: int, weights: Sequence[float]) -> list[int]:
    """Split ``total`` by ``weights`` into integers summing exactly to it (largest remainder)."""
    if total == 0:
        return [0] * len(weights)
    s = sum(weights)
    raw = [total * w / s for w in weights]
    base = [int(x) for x in raw]
    order = sorted(range(len(raw)), key=lambda i: (raw[i] - base[i], -i), reverse=True)
    for i in order[: total - sum(base)]:
        base[i] += 1
    return base


def deterministic_zip(data: bytes) -> bytes:
    """The same archive with fixed member timestamps: the same seed gives the same bytes."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(2020, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl stamps the save time here
                content = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2020-01-01T00:00:00Z", content)
            target.writestr(fixed, content)
    return out.getvalue()


def is_rest_day(day: dt.date) -> bool:
    try:
        return not chinese_calendar.is_workday(day)
    except NotImplementedError:
        return day.weekday() >= 5


def working_days_before(day: dt.date, n: int) -> dt.date:
    d = day
    while n > 0:
        d -= dt.timedelta(days=1)
        if not is_rest_day(d):
            n -= 1
    return d


@dataclass
class Institution:
    institution_id: str
    institution_name: str
    city_code: str
    district: str
    category: str
    non_subject_field: str | None
    stage: str
    delivery_mode: str
    baseline_category: str | None
    status: str
    nonprofit: bool
    approved_date: dt.date
    status_changed_date: dt.date | None
    license_no: str | None
    address: str
    residential_premises: bool
    fund_supervision_mode: str
    custodian_bank: str | None
    on_platform: bool
    uses_model_contract: bool
    group: str = field(default="", repr=False)
    role: str = field(default="clean", repr=False)

    def row(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("group")
        d.pop("role")
        return d


@dataclass
class Order:
    order_id: str
    institution: Institution
    hours: float
    unit_price: int  # yuan
    student: int
    remaining: float
    mode: str
    course_category: str


@dataclass
class Simulation:
    province: str
    start: dt.date
    end: dt.date
    units: list[City]
    institutions: list[Institution] = field(default_factory=list)
    # (city, kind, day) -> list of canonical rows
    rows: dict[tuple[str, str, dt.date], list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    manifest: dict[str, Any] = field(default_factory=dict)


class Simulator:
    def __init__(
        self,
        province: str = "61",
        start: dt.date = dt.date(2026, 11, 2),
        end: dt.date = dt.date(2026, 11, 8),
        seed: int = 20221,
        scale: float = 1.0,
        cities: Iterable[str] | None = None,
    ) -> None:
        if end < start:
            raise ValueError(f"end {end} is before start {start}")
        units = province_units(province)
        if not units:
            raise ValueError(f"no prefecture-level units for province {province!r}")
        if cities:
            wanted = set(cities)
            unknown = wanted - {u.city_code for u in units}
            if unknown:
                raise ValueError(f"cities {sorted(unknown)} are not in province {province}")
            units = [u for u in units if u.city_code in wanted]
        self.province = province
        self.calibrated = province == "61" and len(units) == len(province_units("61"))
        self.start, self.end = start, end
        self.days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
        self.seed = seed
        self.scale = scale
        self.rng = random.Random(seed)  # noqa: S311 - simulation, not security
        self.units = units
        self.sim = Simulation(province, start, end, units)
        self.counter: dict[str, int] = defaultdict(int)
        self.identities: list[dict[str, str]] = []
        self.expected_alerts: list[dict[str, Any]] = []
        self.bad_data: list[dict[str, Any]] = []
        self.orders: dict[str, list[Order]] = defaultdict(list)

    # -- identities ----------------------------------------------------------
    def next_id(self, prefix: str) -> int:
        self.counter[prefix] += 1
        return self.counter[prefix]

    def uscc_for(self, city: str, nonprofit: bool) -> str:
        n = self.next_id("uscc")
        h = hashlib.sha256(f"{self.seed}/{n}".encode()).digest()
        body = "".join(USCC_ALPHABET[b % 31] for b in h[:8])
        body = body.replace("I", "1").replace("O", "0")
        weights = [3, 7, 9, 10, 5, 8, 4, 2]
        total = sum(ORG_ALPHABET.index(c) * w for c, w in zip(body, weights, strict=True))
        check = 11 - total % 11
        org = body + ("X" if check == 10 else "0" if check == 11 else str(check))
        prefix = ("52" if nonprofit else "91") + city[:4] + f"{(n % 9) + 1:02d}" + org
        code = prefix + uscc.calc_check_digit(prefix)
        assert uscc.is_valid(code), code
        return code

    def person(self, city: str) -> tuple[str, str, str]:
        """(name, resident id number, phone), unique phone and id per person."""
        n = self.next_id("person")
        name = self.rng.choice(SURNAMES) + "".join(self.rng.choice(GIVEN) for _ in range(self.rng.choice((1, 2))))
        birth = dt.date(2010, 1, 1) + dt.timedelta(days=(n * 37) % 3000)
        body = f"{city[:4]}02{birth:%Y%m%d}{n % 1000:03d}"
        id_no = body + ric.calc_check_digit(body)
        phone = f"1{'35789'[n % 5]}{n:09d}"
        if len(self.identities) < 60 and n % 97 == 1:
            self.identities.append({"name": name, "id_no": id_no, "phone": phone})
        return name, id_no, phone

    # -- registry ------------------------------------------------------------
    def institution(self, unit: City, group: str, **kw: Any) -> Institution:
        nonprofit = kw.pop("nonprofit", self.rng.random() < 0.2)
        mode = kw.pop("fund_supervision_mode", self.rng.choice(("escrow", "escrow", "escrow", "reserve")))
        city = unit.city_code
        n = self.next_id("inst")
        inst = Institution(
            institution_id=self.uscc_for(city, nonprofit),
            institution_name=f"{unit.city_name}{self.rng.choice(['启明', '博学', '星辰', '育才', '青禾', '知行'])}"
            f"{self.rng.choice(['教育', '培训', '艺术', '体育', '科技'])}{n}号学校",
            city_code=city,
            district=f"{unit.city_name}第{n % 7 + 1}区",
            category=kw.pop("category"),
            non_subject_field=kw.pop("non_subject_field", None),
            stage=kw.pop("stage"),
            delivery_mode=kw.pop("delivery_mode", "online" if self.rng.random() < 0.02 else "offline"),
            baseline_category=kw.pop("baseline_category", None),
            status=kw.pop("status", "active"),
            nonprofit=nonprofit,
            approved_date=kw.pop("approved_date", dt.date(2015, 1, 1) + dt.timedelta(days=n % 2200)),
            status_changed_date=kw.pop("status_changed_date", None),
            license_no=f"教民{city}{n:07d}",
            address=f"{unit.city_name}某路{n % 300 + 1}号",
            residential_premises=False,
            fund_supervision_mode=mode,
            custodian_bank=self.rng.choice(BANKS) if mode == "escrow" else None,
            on_platform=kw.pop("on_platform", mode != "none"),
            uses_model_contract=kw.pop("uses_model_contract", True),
            group=group,
        )
        assert not kw, kw
        self.sim.institutions.append(inst)
        return inst

    def build_registry(self) -> None:
        weights = [SHAANXI_WEIGHTS.get(u.city_code, 1.0) for u in self.units]
        if self.calibrated:
            t = SHAANXI
            groups = {
                "deregistered": t["deregistered"],
                "converted": t["converted"],
                "remaining": t["remaining"],
                "non_subject_new": t["non_subject_active"] - t["converted"],
            }
        else:
            per = max(1, len(self.units))
            groups = {
                "deregistered": 300 * per,
                "converted": 60 * per,
                "remaining": 15 * per,
                "non_subject_new": 250 * per,
            }
        groups |= {"non_subject_cancelled": 120, "non_subject_suspended": 30, "high_school_subject": 150}
        allocation = {g: allocate(n, weights) for g, n in groups.items()}
        for i, unit in enumerate(self.units):
            for group, counts in allocation.items():
                for _ in range(counts[i]):
                    self.institution(unit, group, **self.group_attributes(group))

    def group_attributes(self, group: str) -> dict[str, Any]:
        """Registry attributes of a simulated institution of ``group``."""
        r = self.rng

        def before_policy() -> dt.date:
            return dt.date(2012, 1, 1) + dt.timedelta(days=r.randrange(3400))

        baseline = {"stage": "compulsory", "baseline_category": "subject"}
        if group == "deregistered":
            return {
                **baseline,
                "category": "subject",
                "status": "cancelled",
                "status_changed_date": POLICY_DATE + dt.timedelta(days=39 + r.randrange(300)),
                "approved_date": before_policy(),
                "fund_supervision_mode": "none",
                "on_platform": False,
                "uses_model_contract": False,
            }
        if group == "converted":
            return {
                **baseline,
                "category": "non_subject",
                "non_subject_field": r.choice(NON_SUBJECT_FIELDS),
                "approved_date": before_policy(),
            }
        if group == "remaining":
            return {**baseline, "category": "subject", "nonprofit": True, "approved_date": before_policy()}
        if group == "non_subject_new":
            return {
                "category": "non_subject",
                "non_subject_field": r.choice(NON_SUBJECT_FIELDS),
                "stage": r.choice(("compulsory", "other", "high_school")),
                "approved_date": dt.date(2021, 9, 1) + dt.timedelta(days=r.randrange(1500)),
            }
        if group == "non_subject_cancelled":
            return {
                "category": "non_subject",
                "non_subject_field": r.choice(NON_SUBJECT_FIELDS),
                "stage": "other",
                "status": "cancelled",
                "status_changed_date": dt.date(2024, 5, 1),
                "fund_supervision_mode": "none",
                "on_platform": False,
            }
        if group == "non_subject_suspended":
            return {
                "category": "non_subject",
                "non_subject_field": r.choice(NON_SUBJECT_FIELDS),
                "stage": "other",
                "status": "suspended",
                "status_changed_date": dt.date(2025, 3, 1),
            }
        if group == "high_school_subject":
            return {"category": "subject", "stage": "high_school", "nonprofit": True}
        raise ValueError(f"unknown institution group {group!r}")

    # -- helpers -------------------------------------------------------------
    def pick(
        self, group: str, city: str | None = None, mode: str | None = None, fund: str | None = None
    ) -> Institution:
        for inst in self.sim.institutions:
            if (
                inst.group == group
                and inst.role == "clean"
                and (city is None or inst.city_code == city)
                and (mode is None or inst.delivery_mode == mode)
                and (fund is None or inst.fund_supervision_mode == fund)
            ):
                return inst
        inst = next(i for i in self.sim.institutions if i.group == group and i.role == "clean")
        return inst

    def unit(self, city: str) -> City:
        return next(u for u in self.units if u.city_code == city)

    def plant_city(self, preferred: str) -> str:
        codes = [u.city_code for u in self.units]
        if preferred in codes:
            return preferred
        safe = [c for c in codes if c not in LEDGER_REJECTING_CITIES]
        return (safe or codes)[0]

    def ts(self, day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(hour, minute))

    def movement_id(self, city: str) -> str:
        return f"M{city}{self.next_id('mv' + city):09d}"

    def add(self, city: str, kind: str, day: dt.date, row: dict[str, Any]) -> dict[str, Any]:
        self.sim.rows[(city, kind, day)].append(row)
        return row

    # -- fee ledger ------------------------------------------------------------
    def prepaid(
        self,
        inst: Institution,
        day: dt.date,
        hours: float,
        price: int,
        *,
        months: int | None = None,
        days_span: int = 60,
        channel: str = "platform",
        hour: int = 10,
    ) -> Order:
        order = Order(
            order_id=f"O{inst.city_code}{self.next_id('order'):08d}",
            institution=inst,
            hours=hours,
            unit_price=price,
            student=self.counter["person"] + 1,
            remaining=hours,
            mode=inst.delivery_mode,
            course_category=inst.category,
        )
        name, id_no, _phone = self.person(inst.city_code)
        end = day + dt.timedelta(days=days_span)
        if months is not None:
            m = day.month - 1 + months
            end = dt.date(day.year + m // 12, m % 12 + 1, min(day.day, 28))
        class_type = self.rng.choice(("small", "medium", "large"))
        self.movement(
            inst,
            day,
            "prepaid",
            round(hours * price, 2),
            self.ts(day, hour, self.rng.randrange(60)),
            order_id=order.order_id,
            student_id_no=id_no,
            student_name=name,
            course_category=inst.category,
            class_hours=hours,
            unit_price_yuan=price,
            delivery_mode=inst.delivery_mode,
            class_type=class_type,
            service_start_date=day,
            service_end_date=end,
            channel=channel,
        )
        order.mode = inst.delivery_mode
        self.orders[inst.institution_id].append(order)
        return order

    def release(
        self,
        order: Order,
        day: dt.date,
        *,
        hours: float | None = None,
        start: tuple[int, int] | None = None,
        minutes: int | None = None,
        amount: float | None = None,
        class_day: dt.date | None = None,
    ) -> None:
        inst = order.institution
        online = order.mode == "online"
        hours = hours if hours is not None else (1 if online else min(2, order.remaining))
        if hours <= 0:
            return
        minutes = minutes if minutes is not None else int(hours * (30 if online else 45))
        start = start or ((19, 0) if online else (18, 0))
        began = self.ts(class_day or day, *start)
        self.movement(
            inst,
            day,
            "release",
            amount if amount is not None else round(hours * order.unit_price, 2),
            self.ts(day, 21, 30),
            order_id=order.order_id,
            class_hours=hours,
            class_started_at=began,
            class_ended_at=began + dt.timedelta(minutes=minutes),
        )
        order.remaining -= hours

    def movement(
        self,
        inst: Institution,
        day: dt.date,
        movement_type: str,
        amount: float,
        occurred_at: dt.datetime,
        *,
        account_prefix: str = "6217",
        **fields: Any,
    ) -> None:
        """One row of the fee ledger on ``inst``'s supervised account."""
        self.add(
            inst.city_code,
            "fee_ledger",
            day,
            {
                "movement_id": self.movement_id(inst.city_code),
                "institution_id": inst.institution_id,
                "account_no": f"{account_prefix}{inst.institution_id[8:16]}",
                "movement_type": movement_type,
                "amount_yuan": amount,
                "occurred_at": occurred_at,
                **fields,
            },
        )

    def reserve_deposit(self, inst: Institution, day: dt.date, amount: float) -> None:
        self.movement(inst, day, "reserve_deposit", amount, self.ts(day, 9, 0), account_prefix="6228")

    def clean_price(self, inst: Institution) -> int:
        if inst.category == "subject":
            return 20 if inst.delivery_mode == "online" else self.rng.choice((30, 35, 40))
        return self.rng.choice((40, 50, 60, 80))

    def build_ledger(self) -> None:
        """Daily collections and class consumption of clean institutions."""
        active = [
            i
            for i in self.sim.institutions
            if i.status == "active" and i.fund_supervision_mode != "none" and i.role == "clean"
        ]
        rate = 0.12 * self.scale
        first = self.days[0]
        for inst in active:
            if inst.fund_supervision_mode == "reserve":
                self.reserve_deposit(inst, first, 200_000.0)
        for day in self.days:
            rest = is_rest_day(day)
            for inst in active:
                if inst.role != "clean":
                    continue
                subject = inst.category == "subject"
                if not (subject and rest):
                    n_new = int(rate) + (1 if self.rng.random() < rate - int(rate) else 0)
                    for _ in range(n_new):
                        price = self.clean_price(inst)
                        hours = self.rng.choice((10, 12, 16, 20, 24, 30, 40))
                        if not subject:
                            hours = min(hours, 5000 // price)
                        self.prepaid(inst, day, hours, price, days_span=self.rng.choice((30, 45, 60, 80)))
                if subject and rest:
                    continue
                for order in self.orders.get(inst.institution_id, []):
                    if order.remaining > 0 and order.course_category == inst.category and order.unit_price < 100:
                        self.release(order, day)

    # -- plants: regulatory breaches (valid data) ------------------------------
    def expect(self, rule: str, inst: Institution | None, city: str | None = None, **detail: Any) -> None:
        if inst is not None:
            inst.role = f"plant:{rule}"
        self.expected_alerts.append(
            {
                "rule_id": rule,
                "institution_id": inst.institution_id if inst else None,
                "city_code": inst.city_code if inst else city,
                **{k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in detail.items()},
            }
        )

    def plant_breaches(self) -> None:
        d = self.days
        first, last = d[0], d[-1]
        second = d[min(1, len(d) - 1)]
        xa = self.plant_city("610100")
        xy = self.plant_city("610900")

        inst = self.pick("non_subject_new", xa, fund="escrow", mode="offline")
        self.expect("prepaid_over_60_hours", inst, class_hours=120)
        o = self.prepaid(inst, second, 120, 40)
        self.release(o, second)

        inst = self.pick("non_subject_new", xa, fund="escrow", mode="offline")
        self.expect("prepaid_over_3_months", inst, months=6)
        o = self.prepaid(inst, second, 40, 40, months=6)
        self.release(o, second)

        inst = self.pick("non_subject_new", xy, fund="escrow", mode="offline")
        self.expect("non_subject_over_5000", inst, amount_yuan=6000)
        o = self.prepaid(inst, second, 50, 120)
        self.release(o, second)

        inst = self.pick("remaining", xa, mode="offline")
        self.expect("price_above_cap", inst, unit_price_yuan=300)
        workday = next((x for x in d if not is_rest_day(x)), first)
        o = self.prepaid(inst, workday, 10, 300)
        self.release(o, workday)

        inst = self.pick("non_subject_new", xy, fund="reserve", mode="offline")
        self.expect("off_platform_collection", inst, channel="cash")
        self.reserve_deposit(inst, first, 200_000.0)
        o = self.prepaid(inst, second, 20, 50, channel="cash")
        self.release(o, second)

        inst = self.pick("non_subject_new", xa, fund="escrow", mode="offline")
        self.expect("escrow_shortfall", inst)
        o = self.prepaid(inst, first, 40, 50)
        for day in d[1:] or d:
            self.release(o, day, hours=1, amount=1500.0)

        inst = self.pick("non_subject_new", xy, fund="reserve", mode="offline")
        self.expect("reserve_below_3_months", inst, reserve_yuan=500)
        self.reserve_deposit(inst, first, 500.0)
        for day in d:
            o = self.prepaid(inst, day, 20, 50)
            self.release(o, day)

        inst = self.pick("deregistered", self.plant_city("610403"))
        self.expect("sales_after_deregistration", inst)
        self.prepaid(inst, second, 20, 40)

        unit = self.unit(self.plant_city("610500"))
        inst = self.institution(
            unit,
            "new_subject",
            category="subject",
            stage="compulsory",
            baseline_category=None,
            approved_date=dt.date(2023, 3, 15),
            nonprofit=True,
        )
        self.expect("new_subject_after_baseline", inst)

        rest_days = [x for x in d if is_rest_day(x)]
        rest = rest_days[0] if rest_days else first - dt.timedelta(days=(first.weekday() + 2) % 7)
        inst = self.pick("remaining", xy, mode="offline")
        self.expect("subject_class_on_rest_day", inst, class_date=rest)
        pay_day = rest if rest_days else first
        o = self.prepaid(inst, working_days_before(pay_day, 1) if rest_days and rest > first else pay_day, 20, 35)
        self.release(o, pay_day, class_day=rest, start=(10, 0))

        inst = self.pick("non_subject_new", xa, fund="escrow", mode="offline")
        self.expect("class_ends_too_late", inst, class_ended_at="21:15")
        o = self.prepaid(inst, second, 20, 50)
        self.release(o, second, hours=2, start=(19, 45), minutes=90)

        inst = self.pick("non_subject_new", xy, fund="escrow", mode="online")
        if inst.delivery_mode != "online":
            inst.delivery_mode = "online"
        self.expect("online_session_too_long", inst, minutes=60)
        o = self.prepaid(inst, second, 20, 30)
        self.release(o, second, hours=2, start=(19, 0), minutes=60)

        inst = self.pick("non_subject_new", xa, fund="escrow", mode="offline")
        self.expect("consumption_stall", inst, days_without_release=len(d))
        for day in d:
            self.prepaid(inst, day, 10, 50)

        inst = self.pick("high_school_subject", self.plant_city("610200"))
        inst.fund_supervision_mode, inst.custodian_bank, inst.on_platform = "none", None, False
        self.expect("unsupervised_institution", inst)

        # refund and complaint plants are written by build_refunds / build_complaints
        self.refund_overdue = self.pick("non_subject_new", xa, fund="escrow")
        self.expect("refund_overdue", self.refund_overdue, requested_date=working_days_before(first, 8))
        self.refund_surge = self.pick("non_subject_new", xy, fund="escrow")
        self.expect("refund_surge", self.refund_surge, requests=25, date=d[min(2, len(d) - 1)])
        self.complaint_spike = self.pick("non_subject_new", xa, fund="escrow")
        self.expect("complaint_spike", self.complaint_spike, complaints=12, date=second)

        # extract_late: one kind arriving after its deadline, one never arriving
        self.late_delivery: tuple[str, str, dt.date] | None = None
        if len(d) >= 3:
            self.late_delivery = (self.plant_city("611000"), "complaints", d[2])
            self.expect(
                "extract_late",
                None,
                city=self.late_delivery[0],
                kind="complaints",
                business_date=d[2],
                delivered="late",
            )
        self.missing_delivery = (self.plant_city("610403"), "refunds", last)
        self.expect(
            "extract_late", None, city=self.missing_delivery[0], kind="refunds", business_date=last, delivered="never"
        )

    # -- refunds -----------------------------------------------------------------
    def refund_row(
        self,
        inst: Institution,
        day: dt.date,
        fen: int,
        status: str,
        requested: dt.date,
        person: tuple[str, str],
        method: str | None = None,
        completed: dt.date | None = None,
        refunded_fen: int | None = None,
    ) -> dict[str, Any]:
        return {
            "refund_id": f"R{inst.city_code}{self.next_id('refund'):08d}",
            "institution_id": inst.institution_id,
            "order_id": None,
            "student_name": person[0],
            "guardian_phone": person[1],
            "requested_amount_yuan": fen / 100,
            "refunded_amount_yuan": (fen if refunded_fen is None else refunded_fen) / 100
            if status == "completed"
            else 0.0,
            "method": method,
            "status": status,
            "requested_date": requested,
            "completed_date": completed,
            "updated_at": self.ts(day, 16, self.rng.randrange(60)),
        }

    def build_refunds(self) -> None:
        d = self.days
        first = d[0]
        # in-window cases of clean institutions: requested, acted on within 2 working days, some completed
        window_students = 0
        window_fen = 0
        in_window: list[tuple[Institution, dt.date, int, tuple[str, str]]] = []
        candidates = [i for i in self.sim.institutions if i.role == "clean" and i.status == "active"]
        for day in d[:-1]:
            for inst in self.rng.sample(candidates, k=min(len(candidates), max(1, int(4 * self.scale)))):
                name, _id, phone = self.person(inst.city_code)
                fen = self.rng.randrange(50_000, 400_000)
                in_window.append((inst, day, fen, (name, phone)))
        completed_rows: list[tuple[Institution, dt.date, dict[str, Any]]] = []
        for inst, day, fen, who in in_window:
            row = self.refund_row(inst, day, fen, "requested", day, who)
            self.add(inst.city_code, "refunds", day, row)
            later = [x for x in d if x > day and not is_rest_day(x)]
            if later:
                self.add(
                    inst.city_code,
                    "refunds",
                    later[0],
                    {**row, "status": "in_progress", "updated_at": self.ts(later[0], 11)},
                )
            if len(later) >= 2:
                done = {
                    **row,
                    "status": "completed",
                    "method": "cash",
                    "refunded_amount_yuan": fen / 100,
                    "completed_date": later[1],
                    "updated_at": self.ts(later[1], 15),
                }
                self.add(inst.city_code, "refunds", later[1], done)
                completed_rows.append((inst, later[1], done))
                window_students += 1
                window_fen += fen
        # plants
        inst = self.refund_overdue
        name, _i, phone = self.person(inst.city_code)
        requested = working_days_before(first, 8)
        self.add(
            inst.city_code,
            "refunds",
            first,
            self.refund_row(inst, first, 180_000, "requested", requested, (name, phone)),
        )
        inst = self.refund_surge
        surge_day = d[min(2, len(d) - 1)]
        for _ in range(25):
            name, _i, phone = self.person(inst.city_code)
            row = self.refund_row(inst, surge_day, 150_000, "requested", surge_day, (name, phone))
            self.add(inst.city_code, "refunds", surge_day, row)
            nxt = [x for x in d if x > surge_day]
            if nxt:
                self.add(
                    inst.city_code,
                    "refunds",
                    nxt[0],
                    {**row, "status": "in_progress", "updated_at": self.ts(nxt[0], 10)},
                )
        # historical completed cases delivered on the first day, calibrated to the report
        if self.calibrated:
            students = SHAANXI["refund_students"] - window_students
            total_fen = SHAANXI["refund_fen"] - window_fen
        else:
            students = 2000 * len(self.units)
            total_fen = students * 264_500
        pool = [i for i in self.sim.institutions if i.group in ("deregistered", "converted") and i.role == "clean"]
        weights = [self.rng.uniform(0.5, 1.5) for _ in range(students)]
        wsum = sum(weights)
        fens = [max(1000, int(total_fen * w / wsum)) for w in weights]
        fens[-1] += total_fen - sum(fens)
        methods = ["cash"] * 68 + ["course_exchange"] * 27 + ["judicial"] * 5
        for k in range(students):
            inst = pool[k % len(pool)]
            name, _i, phone = self.person(inst.city_code)
            requested = dt.date(2021, 8, 1) + dt.timedelta(days=self.rng.randrange(500))
            completed = requested + dt.timedelta(days=self.rng.randrange(3, 60))
            method = methods[k % 100]
            if k % 20 == 0 and fens[k] > 2000:  # a second case for the same student: same person, split amount
                part = fens[k] // 3
                self.add(
                    inst.city_code,
                    "refunds",
                    first,
                    self.refund_row(inst, first, part, "completed", requested, (name, phone), method, completed),
                )
                fens[k] -= part
            self.add(
                inst.city_code,
                "refunds",
                first,
                self.refund_row(inst, first, fens[k], "completed", requested, (name, phone), method, completed),
            )
        self.manifest_refunds = {"students": students + window_students, "fen": total_fen + window_fen}

    # -- complaints ---------------------------------------------------------------
    def complaint_row(
        self,
        city: str,
        day: dt.date,
        received: dt.datetime,
        scope: str,
        status: str,
        inst: Institution | None,
        category: str,
        closed: dt.datetime | None = None,
        cid: str | None = None,
    ) -> dict[str, Any]:
        _name, _i, phone = self.person(city)
        return {
            "complaint_id": cid or f"C{city}{self.next_id('complaint'):07d}",
            "city_code": city,
            "received_channel": self.rng.choice(("province_hotline", "city_hotline", "county_hotline", "platform")),
            "scope": scope,
            "institution_id": inst.institution_id if inst else None,
            "category": category,
            "received_at": received,
            "status": status,
            "closed_at": closed,
            "reporter_phone": phone,
            "summary": f"家长{_name}反映{'校外培训机构' if scope == 'out_of_school' else '学校'}"
            f"相关问题，联系电话{phone}",
            "updated_at": self.ts(day, 17, self.rng.randrange(60)),
        }

    def lifecycle(self, city: str, day: dt.date, scope: str, inst: Institution | None, category: str) -> None:
        """A clue received on ``day``, transferred, then closed by the last day."""
        d = self.days
        received = self.ts(day, 9, self.rng.randrange(60))
        row = self.complaint_row(city, day, received, scope, "open", inst, category)
        self.add(city, "complaints", day, row)
        later = [x for x in d if x > day]
        close_day = later[min(len(later) - 1, 2)] if later else day
        if later and close_day != later[0]:
            self.add(
                city, "complaints", later[0], {**row, "status": "transferred", "updated_at": self.ts(later[0], 12)}
            )
        if close_day == day:
            self.sim.rows[(city, "complaints", day)][-1] = {
                **row,
                "status": "closed",
                "closed_at": self.ts(day, 16),
                "updated_at": self.ts(day, 16, 30),
            }
        else:
            self.add(
                city,
                "complaints",
                close_day,
                {
                    **row,
                    "status": "closed",
                    "closed_at": self.ts(close_day, 15),
                    "updated_at": self.ts(close_day, 15, 30),
                },
            )

    def build_complaints(self) -> None:
        d = self.days
        in_school = out_school = 0
        late = getattr(self, "late_delivery", None)
        quiet = {(late[0], late[2])} if late else set()
        cats_out = ("unlicensed_training", "hidden_variant", "subject_violation", "fees", "refund", "other")
        cats_in = ("homework", "after_school", "fees", "other")
        clean = [i for i in self.sim.institutions if i.role == "clean" and i.status == "active"]
        for day in d:
            for unit in self.units:
                if (unit.city_code, day) in quiet:
                    continue
                if self.rng.random() < 0.6:
                    inst = self.rng.choice([i for i in clean if i.city_code == unit.city_code] or clean)
                    self.lifecycle(unit.city_code, day, "out_of_school", inst, self.rng.choice(cats_out))
                    out_school += 1
                if self.rng.random() < 0.4:
                    self.lifecycle(unit.city_code, day, "in_school", None, self.rng.choice(cats_in))
                    in_school += 1
        spike_day = d[min(1, len(d) - 1)]
        inst = self.complaint_spike
        for _ in range(12):
            self.lifecycle(inst.city_code, spike_day, "out_of_school", inst, "refund")
            out_school += 1
        # history, delivered on the first day: all closed
        if self.calibrated:
            hist_in = SHAANXI["complaints_in_school"] - in_school
            hist_out = SHAANXI["complaints_out_of_school"] - out_school
        else:
            hist_in, hist_out = 100 * len(self.units), 120 * len(self.units)
        first = d[0]
        weights = [SHAANXI_WEIGHTS.get(u.city_code, 1.0) for u in self.units]
        for scope, total in (("in_school", hist_in), ("out_of_school", hist_out)):
            for unit, n in zip(self.units, allocate(total, weights), strict=True):
                for _ in range(n):
                    received = self.ts(dt.date(2021, 9, 1) + dt.timedelta(days=self.rng.randrange(400)), 10)
                    closed = received + dt.timedelta(days=self.rng.randrange(1, 20))
                    cat = self.rng.choice(cats_in if scope == "in_school" else cats_out)
                    self.add(
                        unit.city_code,
                        "complaints",
                        first,
                        self.complaint_row(unit.city_code, first, received, scope, "closed", None, cat, closed),
                    )
        self.manifest_complaints = {"in_school": hist_in + in_school, "out_of_school": hist_out + out_school}

    # -- plants: bad data ------------------------------------------------------------
    def plant_bad_rows(self) -> None:
        d = self.days
        if len(d) < 2:
            return
        day2 = d[1]
        day3 = d[min(2, len(d) - 1)]
        xa = self.plant_city("610100")
        xy = self.plant_city("610900")
        wn = self.plant_city("610500")
        yl = self.plant_city("610403")
        template = dict(self.sim.rows[(xa, "fee_ledger", day2)][0]) if self.sim.rows[(xa, "fee_ledger", day2)] else None

        def bad(
            city: str,
            kind: str,
            day: dt.date,
            row: dict[str, Any],
            case: str,
            rule: str,
            column: str | None,
            contains: str,
        ) -> None:
            row = dict(row)
            row["_bad"] = case
            self.add(city, kind, day, row)
            self.bad_data.append(
                {
                    "case": case,
                    "city_code": city,
                    "kind": kind,
                    "business_date": day.isoformat(),
                    "outcome": "quarantined",
                    "rule": rule,
                    "column": column,
                    "message_contains": contains,
                    "key": row.get(SPECS[kind].key[0]),
                }
            )

        inst_rows = self.sim.rows
        if template:
            bad(
                xa,
                "fee_ledger",
                day2,
                {**template, "movement_id": self.movement_id(xa), "amount_yuan": "-30.00"},
                "negative_amount",
                "positive",
                "amount_yuan",
                "must be > 0",
            )
            bad(
                xy,
                "fee_ledger",
                day2,
                {
                    **template,
                    "movement_id": self.movement_id(xy),
                    "amount_yuan": "12.3.4",
                    "institution_id": template["institution_id"],
                },
                "unparseable_amount",
                "amount",
                "amount_yuan",
                "is not an amount in yuan",
            )
            dup_id = self.movement_id(yl)
            for _ in range(2):
                bad(
                    yl,
                    "fee_ledger",
                    day2,
                    {**template, "movement_id": dup_id},
                    "duplicate_key_in_file",
                    "duplicate_key",
                    "movement_id",
                    "keys must be unique",
                )
            if len(d) >= 3:
                reused = inst_rows[(xa, "fee_ledger", day2)][0]["movement_id"]
                bad(
                    xa,
                    "fee_ledger",
                    day3,
                    {**template, "movement_id": reused, "occurred_at": self.ts(day3, 11)},
                    "movement_id_reused",
                    "movement_id_reused",
                    "movement_id",
                    "already delivered for",
                )
        src = self.sim.institutions[0]
        wrong = src.institution_id[:-1] + ("0" if src.institution_id[-1] != "0" else "1")
        unit_inst = next(i for i in self.sim.institutions if i.city_code == xa)
        bad(
            xa,
            "institutions",
            d[0],
            {**unit_inst.row(), "institution_id": wrong, "institution_name": "校验位错误机构"},
            "invalid_check_character",
            "check_character",
            "institution_id",
            "not a valid unified social credit code",
        )
        who = ("测试", "13000000000")
        inst = next(i for i in self.sim.institutions if i.city_code == wn)
        bad(
            wn,
            "refunds",
            day2,
            {**self.refund_row(inst, day2, 10_000, "requested", day2, who), "requested_date": "2026-13-45"},
            "unparseable_date",
            "date",
            "requested_date",
            "is not a date",
        )
        inst = next(i for i in self.sim.institutions if i.city_code == xa)
        bad(
            xa,
            "refunds",
            day3,
            self.refund_row(inst, day3, 10_000, "completed", day3, who, "cash", day3, 20_000),
            "refund_exceeds_request",
            "refund_exceeds_request",
            "refunded_amount_yuan",
            "exceeds",
        )
        bad(
            xa,
            "complaints",
            day3,
            self.complaint_row(
                xa, day3, self.ts(day3 + dt.timedelta(days=1), 9), "out_of_school", "open", None, "fees"
            ),
            "date_after_business_date",
            "not_after_business_date",
            "received_at",
            "is after the business date",
        )
        bad(
            xy,
            "complaints",
            day2,
            self.complaint_row(xa, day2, self.ts(day2, 9), "out_of_school", "open", None, "fees"),
            "city_code_not_delivering_city",
            "city_code",
            "city_code",
            "is not the delivering city",
        )
        bad(
            xa,
            "complaints",
            d[min(3, len(d) - 1)],
            {
                **self.complaint_row(
                    xa, d[min(3, len(d) - 1)], self.ts(d[min(3, len(d) - 1)], 9), "out_of_school", "open", None, "fees"
                ),
                "scope": "校外培训",
            },
            "unknown_enumeration_label",
            "enumeration",
            "scope",
            "is not one of",
        )

    def file_level_plans(self) -> dict[tuple[str, str, dt.date], tuple[str, str]]:
        """(city, kind, day) -> (case, expected reason code) for whole-file rejections."""
        d = self.days
        plans = [
            ("610200", "institutions", 1, "wrong_encoding", "encoding"),
            ("610300", "fee_ledger", 1, "truncated_file", "checksum"),
            ("610700", "institutions", 2, "bad_xlsx", "bad_xlsx"),
            ("610400", "fee_ledger", 2, "not_json", "not_json"),
            ("610500", "institutions", 3, "empty_file", "empty_file"),
            ("610600", "fee_ledger", 3, "missing_required_column", "missing_column"),
            ("610800", "institutions", 4, "duplicate_column", "duplicate_column"),
        ]
        codes = {u.city_code for u in self.units}
        out = {}
        for city, kind, idx, case, code in plans:
            if city in codes and idx < len(d) - 1:  # never the last day: the final snapshot stays whole
                out[(city, kind, d[idx])] = (case, code)
        return out

    # -- rendering ----------------------------------------------------------------------
    def render_value(self, city: str, col_type: str, value: Any, enum: dict[str, str], zh: bool) -> Any:
        if value is None:
            return None
        if isinstance(value, str) and col_type not in ("enum",):
            return value
        if col_type == "enum":
            return enum.get(value, value) if zh else value
        if col_type == "bool":
            yes, no = BOOL_STYLE.get(city, ("true", "false"))
            return yes if value else no
        if col_type == "date":
            if city in SLASH_DATES:
                return value.strftime("%Y/%m/%d")
            if city in COMPACT_DATES:
                return value.strftime("%Y%m%d")
            return value.isoformat()
        if col_type == "timestamp":
            return value.strftime("%Y-%m-%dT%H:%M:%S" if city in T_SEPARATOR else "%Y-%m-%d %H:%M:%S")
        if col_type == "money":
            return f"{value:,.2f}" if city in THOUSANDS else f"{value:.2f}"
        if col_type == "decimal":
            return f"{value:g}"
        return str(value)

    def render(self, city: str, kind: str, rows: list[dict[str, Any]], fmt: tuple[str, str | None, str]) -> bytes:
        spec = SPECS[kind]
        kind_fmt, encoding, lang = fmt
        zh = lang == "zh"
        headers = [c.alias if zh else c.name for c in spec.columns]
        table = [[self.render_value(city, c.type, r.get(c.name), c.enum, zh) for c in spec.columns] for r in rows]
        if kind_fmt == "csv":
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\r\n")
            w.writerow(headers)
            w.writerows([["" if v is None else v for v in row] for row in table])
            assert encoding is not None
            return buf.getvalue().encode(encoding)
        if kind_fmt == "jsonl":
            lines = []
            for row in table:
                obj = {h: v for h, v in zip(headers, row, strict=True) if v is not None}
                lines.append(json.dumps(obj, ensure_ascii=False))
            return ("\n".join(lines) + "\n").encode("utf-8")
        import openpyxl

        book = openpyxl.Workbook(write_only=True)
        book.properties.created = book.properties.modified = dt.datetime(2020, 1, 1)
        sheet = book.create_sheet(kind)
        sheet.append(headers)
        for row in table:
            sheet.append(row)
        out = io.BytesIO()
        book.save(out)
        return deterministic_zip(out.getvalue())

    def snapshot(self, city: str, day: dt.date) -> list[dict[str, Any]]:
        rows = []
        for inst in self.sim.institutions:
            if inst.city_code == city and inst.approved_date <= day:
                rows.append(inst.row())
        return rows

    def spoil(self, data: bytes, case: str, kind: str, fmt: tuple[str, str | None, str]) -> tuple[bytes, str | None]:
        """Break a rendered delivery as ``case`` says; returns (bytes, .ok marker digest or None)."""
        if case == "wrong_encoding":
            text = data.decode(fmt[1] or "utf-8")
            return text.encode("utf-16"), None
        if case == "truncated_file":
            return data[: len(data) // 2], hashlib.sha256(data).hexdigest()
        if case == "bad_xlsx":
            return b"PK\x03\x04 this is not really a workbook", None
        if case == "not_json":
            return data + b'{"movement_id": "broken\n', None
        if case == "empty_file":
            return b"", None
        spec = SPECS[kind]
        zh = fmt[2] == "zh"
        if case == "missing_required_column":
            amount = spec.column("amount_yuan")
            label = amount.alias if zh else amount.name
            text = data.decode(fmt[1] or "utf-8")
            lines = text.splitlines()
            header = next(csv.reader([lines[0]]))
            idx = header.index(label)
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\r\n")
            for record in csv.reader(io.StringIO(text)):
                w.writerow(record[:idx] + record[idx + 1 :])
            return buf.getvalue().encode(fmt[1] or "utf-8"), None
        if case == "duplicate_column":
            name = spec.column("institution_name")
            label = name.alias if zh else name.name
            if fmt[0] == "csv":
                text = data.decode(fmt[1] or "utf-8")
                first, rest = text.split("\r\n", 1)
                return (
                    first.replace(label, label + ",  " + label, 1) + "\r\n" + rest.replace("\r\n", ",x\r\n")
                ).encode(fmt[1] or "utf-8"), None
        return data, None

    # -- run --------------------------------------------------------------------------------
    def build(self) -> Simulation:
        self.build_registry()
        self.plant_breaches()
        self.build_ledger()
        self.build_refunds()
        self.build_complaints()
        self.plant_bad_rows()
        return self.sim

    def write(self, out: Path) -> dict[str, Any]:
        self.build()
        out.mkdir(parents=True, exist_ok=True)
        spoil = self.file_level_plans()
        delivered: list[dict[str, Any]] = []
        missing = getattr(self, "missing_delivery", None)
        late = getattr(self, "late_delivery", None)
        for idx, unit in enumerate(self.units):
            city = unit.city_code
            fmt = FORMATS.get(city, FORMAT_CYCLE[idx % len(FORMAT_CYCLE)])
            for day in self.days:
                for kind in SPECS:
                    if missing and (city, kind, day) == missing:
                        continue
                    rows = (
                        self.snapshot(city, day) if kind == "institutions" else self.sim.rows.get((city, kind, day), [])
                    )
                    if kind == "institutions":
                        rows += [r for r in self.sim.rows.get((city, kind, day), []) if "_bad" in r]
                    data = self.render(city, kind, rows, fmt)
                    marker: str | None = ""
                    case = spoil.get((city, kind, day))
                    if case:
                        data, digest = self.spoil(data, case[0], kind, fmt)
                        marker = digest or ""
                        self.bad_data.append(
                            {
                                "case": case[0],
                                "city_code": city,
                                "kind": kind,
                                "business_date": day.isoformat(),
                                "outcome": "rejected",
                                "reason_code": case[1],
                            }
                        )
                    target = out / city / kind / f"{city}_{kind}_{day:%Y%m%d}.{fmt[0]}"
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(data)
                    ok = target.with_name(target.name + ".ok")
                    ok.write_text(marker if marker else (hashlib.sha256(data).hexdigest() if idx % 2 else ""))
                    # arrival times are Shanghai wall-clock times (not the host's local time)
                    arrival = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(7, 30 + idx), tzinfo=SHANGHAI)
                    if late and (city, kind, day) == late:
                        arrival = dt.datetime.combine(day + dt.timedelta(days=2), dt.time(11, 0), tzinfo=SHANGHAI)
                    stamp = arrival.timestamp()
                    os.utime(target, (stamp, stamp))
                    os.utime(ok, (stamp, stamp))
                    n_rows = len(rows)
                    delivered.append(
                        {
                            "city_code": city,
                            "kind": kind,
                            "business_date": day.isoformat(),
                            "format": fmt[0],
                            "encoding": fmt[1],
                            "rows": n_rows,
                            "bad_rows": sum(1 for r in rows if "_bad" in r),
                            "file_case": case[0] if case else None,
                        }
                    )
        manifest = {
            "province": self.province,
            "calibrated": self.calibrated,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "seed": self.seed,
            "scale": self.scale,
            "units": [u.city_code for u in self.units],
            "expected_report": self.expected_report(),
            "expected_alerts": self.expected_alerts,
            "controls": self.controls(),
            "bad_data": self.bad_data,
            "deliveries": delivered,
            "identities": self.identities,
        }
        meta = out / "_simulation"
        meta.mkdir(exist_ok=True)
        (meta / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        return manifest

    def controls(self) -> list[str]:
        clean = [
            i
            for i in self.sim.institutions
            if i.role == "clean" and i.status == "active" and self.orders.get(i.institution_id)
        ]
        chosen = []
        for unit in self.units:
            chosen += [i.institution_id for i in clean if i.city_code == unit.city_code][:2]
        return chosen

    def expected_report(self) -> dict[str, Any]:
        insts = self.sim.institutions
        base = [i for i in insts if i.baseline_category == "subject" and i.stage == "compulsory"]
        dereg = sum(1 for i in base if i.status == "cancelled")
        conv = sum(1 for i in base if i.status != "cancelled" and i.category == "non_subject")
        remaining = [i for i in base if not (i.status == "cancelled" or i.category == "non_subject")]
        ns_active = [i for i in insts if i.category == "non_subject" and i.status == "active"]
        return {
            "subject_baseline": len(base),
            "deregistered": dereg,
            "converted": conv,
            "reduced": dereg + conv,
            "remaining_subject": len(remaining),
            "remaining_supervised": sum(1 for i in remaining if i.fund_supervision_mode != "none"),
            "remaining_model_contract": sum(1 for i in remaining if i.uses_model_contract),
            "remaining_nonprofit": sum(1 for i in remaining if i.nonprofit),
            "non_subject_active": len(ns_active),
            "non_subject_supervised": sum(1 for i in ns_active if i.fund_supervision_mode != "none"),
            "refund_students": self.manifest_refunds["students"],
            "refund_amount_yuan": f"{self.manifest_refunds['fen'] / 100:.2f}",
            "complaints_in_school": self.manifest_complaints["in_school"],
            "complaints_out_of_school": self.manifest_complaints["out_of_school"],
            "complaints_received": self.manifest_complaints["in_school"] + self.manifest_complaints["out_of_school"],
        }


def simulate(
    out: Path,
    start: dt.date,
    end: dt.date,
    province: str = "61",
    seed: int = 20221,
    scale: float = 1.0,
    cities: Iterable[str] | None = None,
) -> dict[str, Any]:
    return Simulator(province, start, end, seed, scale, cities).write(out)
