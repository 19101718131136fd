"""What the simulation plants: one regulatory breach per alert rule, and bad data (rows and files).

The breaches are valid data (they must reach raw and raise their alert); the bad rows must be
quarantined and the bad files rejected, with the reasons recorded in the manifest.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from typing import Any, NamedTuple

from oversight.contract.spec import SPECS
from oversight.devkit.simulator.activity import (
    complaint_row,
    movement_id,
    prepaid,
    refund_row,
    release,
    reserve_deposit,
)
from oversight.devkit.simulator.registry import institution
from oversight.devkit.simulator.state import Institution, SimState, is_rest_day, working_days_before

LEDGER_REJECTING_CITIES = {"610300", "610400", "610600"}  # file-level bad ledger plants live there


def pick(
    s: SimState, group: str, city: str | None = None, mode: str | None = None, fund: str | None = None
) -> Institution:
    for inst in s.sim.institutions:
        if (
            inst.group == group
            and inst.role == "clean"
            and (city is None or inst.city_code == city)
            and (mode is None or inst.delivery_mode == mode)
            and (fund is None or inst.fund_supervision_mode == fund)
        ):
            return inst
    inst = next(i for i in s.sim.institutions if i.group == group and i.role == "clean")
    return inst


def plant_city(s: SimState, preferred: str) -> str:
    codes = [u.city_code for u in s.units]
    if preferred in codes:
        return preferred
    safe = [c for c in codes if c not in LEDGER_REJECTING_CITIES]
    return (safe or codes)[0]


def expect(s: SimState, rule: str, inst: Institution | None, city: str | None = None, **detail: Any) -> None:
    if inst is not None:
        inst.role = f"plant:{rule}"
    s.expected_alerts.append(
        {
            "rule_id": rule,
            "institution_id": inst.institution_id if inst else None,
            "city_code": inst.city_code if inst else city,
            **{k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in detail.items()},
        }
    )


class Sites(NamedTuple):
    """When and where plants go: days of the window, and the two main plant cities.

    ``xa`` is 610100 (Xi'an) and ``xy`` 610900 (Ankang), or a stand-in where the simulated
    units do not include them (see ``plant_city``).
    """

    first: dt.date
    second: dt.date  # the first day when the window has one day only
    third: dt.date  # the last day when the window is shorter
    last: dt.date
    xa: str
    xy: str


def sites(s: SimState) -> Sites:
    d = s.days
    return Sites(
        d[0], d[min(1, len(d) - 1)], d[min(2, len(d) - 1)], d[-1], plant_city(s, "610100"), plant_city(s, "610900")
    )


# -- plants: regulatory breaches (valid data) ------------------------------
def plant_breaches(s: SimState) -> None:
    """One breach per alert rule, in a fixed order (the order draws from the seeded stream)."""
    at = sites(s)
    _plant_collection_breaches(s, at)
    _plant_account_breaches(s, at)
    _plant_class_breaches(s, at)
    _plant_supervision_and_case_breaches(s, at)
    _plant_late_deliveries(s, at)


def _plant_collection_breaches(s: SimState, at: Sites) -> None:
    """What is collected: too many hours, too long a term, too much, too dear, off the platform."""
    first, second, xa, xy = at.first, at.second, at.xa, at.xy
    inst = pick(s, "non_subject_new", xa, fund="escrow", mode="offline")
    expect(s, "prepaid_over_60_hours", inst, class_hours=120)
    o = prepaid(s, inst, second, 120, 40)
    release(s, o, second)

    inst = pick(s, "non_subject_new", xa, fund="escrow", mode="offline")
    expect(s, "prepaid_over_3_months", inst, months=6)
    o = prepaid(s, inst, second, 40, 40, months=6)
    release(s, o, second)

    inst = pick(s, "non_subject_new", xy, fund="escrow", mode="offline")
    expect(s, "non_subject_over_5000", inst, amount_yuan=6000)
    o = prepaid(s, inst, second, 50, 120)
    release(s, o, second)

    inst = pick(s, "remaining", xa, mode="offline")
    expect(s, "price_above_cap", inst, unit_price_yuan=300)
    workday = next((x for x in s.days if not is_rest_day(x)), first)
    o = prepaid(s, inst, workday, 10, 300)
    release(s, o, workday)

    inst = pick(s, "non_subject_new", xy, fund="reserve", mode="offline")
    expect(s, "off_platform_collection", inst, channel="cash")
    reserve_deposit(s, inst, first, 200_000.0)
    o = prepaid(s, inst, second, 20, 50, channel="cash")
    release(s, o, second)


def _plant_account_breaches(s: SimState, at: Sites) -> None:
    """Supervised accounts run short; sales after deregistration; a subject institution after the baseline."""
    d, first, second = s.days, at.first, at.second
    inst = pick(s, "non_subject_new", at.xa, fund="escrow", mode="offline")
    expect(s, "escrow_shortfall", inst)
    o = prepaid(s, inst, first, 40, 50)
    for day in d[1:] or d:
        release(s, o, day, hours=1, amount=1500.0)

    inst = pick(s, "non_subject_new", at.xy, fund="reserve", mode="offline")
    expect(s, "reserve_below_3_months", inst, reserve_yuan=500)
    reserve_deposit(s, inst, first, 500.0)
    for day in d:
        o = prepaid(s, inst, day, 20, 50)
        release(s, o, day)

    inst = pick(s, "deregistered", plant_city(s, "610403"))
    expect(s, "sales_after_deregistration", inst)
    prepaid(s, inst, second, 20, 40)

    unit = s.unit(plant_city(s, "610500"))
    inst = institution(
        s,
        unit,
        "new_subject",
        category="subject",
        stage="compulsory",
        baseline_category=None,
        approved_date=dt.date(2023, 3, 15),
        nonprofit=True,
    )
    expect(s, "new_subject_after_baseline", inst)


def _plant_class_breaches(s: SimState, at: Sites) -> None:
    """Classes: a subject class on a rest day, too late, an online session too long, none at all."""
    d, first, second, xa, xy = s.days, at.first, at.second, at.xa, at.xy
    rest_days = [x for x in d if is_rest_day(x)]
    rest = rest_days[0] if rest_days else first - dt.timedelta(days=(first.weekday() + 2) % 7)
    inst = pick(s, "remaining", xy, mode="offline")
    expect(s, "subject_class_on_rest_day", inst, class_date=rest)
    pay_day = rest if rest_days else first
    o = prepaid(s, inst, working_days_before(pay_day, 1) if rest_days and rest > first else pay_day, 20, 35)
    release(s, o, pay_day, class_day=rest, start=(10, 0))

    inst = pick(s, "non_subject_new", xa, fund="escrow", mode="offline")
    expect(s, "class_ends_too_late", inst, class_ended_at="21:15")
    o = prepaid(s, inst, second, 20, 50)
    release(s, o, second, hours=2, start=(19, 45), minutes=90)

    inst = pick(s, "non_subject_new", xy, fund="escrow", mode="online")
    if inst.delivery_mode != "online":
        inst.delivery_mode = "online"
    expect(s, "online_session_too_long", inst, minutes=60)
    o = prepaid(s, inst, second, 20, 30)
    release(s, o, second, hours=2, start=(19, 0), minutes=60)

    inst = pick(s, "non_subject_new", xa, fund="escrow", mode="offline")
    expect(s, "consumption_stall", inst, days_without_release=len(d))
    for day in d:
        prepaid(s, inst, day, 10, 50)


def _plant_supervision_and_case_breaches(s: SimState, at: Sites) -> None:
    """An unsupervised institution; the institutions the refund and complaint plants are about."""
    inst = pick(s, "high_school_subject", plant_city(s, "610200"))
    inst.fund_supervision_mode, inst.custodian_bank, inst.on_platform = "none", None, False
    expect(s, "unsupervised_institution", inst)

    # refund and complaint plants are written by build_refunds / build_complaints
    s.refund_overdue = pick(s, "non_subject_new", at.xa, fund="escrow")
    expect(s, "refund_overdue", s.refund_overdue, requested_date=working_days_before(at.first, 8))
    s.refund_surge = pick(s, "non_subject_new", at.xy, fund="escrow")
    expect(s, "refund_surge", s.refund_surge, requests=25, date=at.third)
    s.complaint_spike = pick(s, "non_subject_new", at.xa, fund="escrow")
    expect(s, "complaint_spike", s.complaint_spike, complaints=12, date=at.second)


def _plant_late_deliveries(s: SimState, at: Sites) -> None:
    """extract_late: one kind arriving after its deadline, one never arriving."""
    d = s.days
    s.late_delivery = None
    if len(d) >= 3:
        s.late_delivery = (plant_city(s, "611000"), "complaints", d[2])
        expect(
            s,
            "extract_late",
            None,
            city=s.late_delivery[0],
            kind="complaints",
            business_date=d[2],
            delivered="late",
        )
    s.missing_delivery = (plant_city(s, "610403"), "refunds", at.last)
    expect(
        s, "extract_late", None, city=s.missing_delivery[0], kind="refunds", business_date=at.last, delivered="never"
    )


# -- plants: bad data ------------------------------------------------------------
def plant_bad_rows(s: SimState) -> None:
    """Every kind of bad row of the contract's section 4, each recorded with the rule that must catch it."""
    if len(s.days) < 2:
        return
    at = sites(s)
    ledger = s.sim.rows[(at.xa, "fee_ledger", at.second)]
    template = dict(ledger[0]) if ledger else None
    if template:
        _bad_ledger_rows(s, at, template)
    _bad_registry_and_refund_rows(s, at)
    _bad_complaint_rows(s, at)


def bad(
    s: SimState,
    city: str,
    kind: str,
    day: dt.date,
    row: dict[str, Any],
    case: str,
    rule: str,
    column: str | None,
    contains: str,
) -> None:
    """Deliver ``row`` marked bad, and record the quarantine it must meet."""
    row = dict(row)
    row["_bad"] = case
    s.add(city, kind, day, row)
    s.bad_data.append(
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


def _bad_ledger_rows(s: SimState, at: Sites, template: dict[str, Any]) -> None:
    """Fee ledger rows made from a real one: bad amounts, a key twice in a file, a reused movement id."""
    day2, day3, xa, xy = at.second, at.third, at.xa, at.xy
    yl = plant_city(s, "610403")
    bad(
        s,
        xa,
        "fee_ledger",
        day2,
        {**template, "movement_id": movement_id(s, xa), "amount_yuan": "-30.00"},
        "negative_amount",
        "positive",
        "amount_yuan",
        "must be > 0",
    )
    bad(
        s,
        xy,
        "fee_ledger",
        day2,
        {
            **template,
            "movement_id": movement_id(s, xy),
            "amount_yuan": "12.3.4",
            "institution_id": template["institution_id"],
        },
        "unparseable_amount",
        "amount",
        "amount_yuan",
        "is not an amount in yuan",
    )
    dup_id = movement_id(s, yl)
    for _ in range(2):
        bad(
            s,
            yl,
            "fee_ledger",
            day2,
            {**template, "movement_id": dup_id},
            "duplicate_key_in_file",
            "duplicate_key",
            "movement_id",
            "keys must be unique",
        )
    if len(s.days) >= 3:
        reused = s.sim.rows[(xa, "fee_ledger", day2)][0]["movement_id"]
        bad(
            s,
            xa,
            "fee_ledger",
            day3,
            {**template, "movement_id": reused, "occurred_at": s.ts(day3, 11)},
            "movement_id_reused",
            "movement_id_reused",
            "movement_id",
            "already delivered for",
        )


def _bad_registry_and_refund_rows(s: SimState, at: Sites) -> None:
    """A credit code with a wrong check character; a refund with no date, one refunding too much."""
    day2, day3, xa = at.second, at.third, at.xa
    wn = plant_city(s, "610500")
    src = s.sim.institutions[0]
    wrong = src.institution_id[:-1] + ("0" if src.institution_id[-1] != "0" else "1")
    unit_inst = next(i for i in s.sim.institutions if i.city_code == xa)
    bad(
        s,
        xa,
        "institutions",
        at.first,
        {**unit_inst.row(), "institution_id": wrong, "institution_name": "校验位错误机构"},
        "invalid_check_character",
        "check_character",
        "institution_id",
        "not a valid unified social credit code",
    )
    who = ("测试", "13000000000")
    inst = next(i for i in s.sim.institutions if i.city_code == wn)
    bad(
        s,
        wn,
        "refunds",
        day2,
        {**refund_row(s, inst, day2, 10_000, "requested", day2, who), "requested_date": "2026-13-45"},
        "unparseable_date",
        "date",
        "requested_date",
        "is not a date",
    )
    inst = next(i for i in s.sim.institutions if i.city_code == xa)
    bad(
        s,
        xa,
        "refunds",
        day3,
        refund_row(s, inst, day3, 10_000, "completed", day3, who, "cash", day3, 20_000),
        "refund_exceeds_request",
        "refund_exceeds_request",
        "refunded_amount_yuan",
        "exceeds",
    )


def _bad_complaint_rows(s: SimState, at: Sites) -> None:
    """Complaints received after their business date, from another city, with an unknown scope label."""
    day2, day3, xa = at.second, at.third, at.xa
    bad(
        s,
        xa,
        "complaints",
        day3,
        complaint_row(s, xa, day3, s.ts(day3 + dt.timedelta(days=1), 9), "out_of_school", "open", None, "fees"),
        "date_after_business_date",
        "not_after_business_date",
        "received_at",
        "is after the business date",
    )
    bad(
        s,
        at.xy,
        "complaints",
        day2,
        complaint_row(s, xa, day2, s.ts(day2, 9), "out_of_school", "open", None, "fees"),
        "city_code_not_delivering_city",
        "city_code",
        "city_code",
        "is not the delivering city",
    )
    day4 = s.days[min(3, len(s.days) - 1)]
    bad(
        s,
        xa,
        "complaints",
        day4,
        {
            **complaint_row(s, xa, day4, s.ts(day4, 9), "out_of_school", "open", None, "fees"),
            "scope": "校外培训",
        },
        "unknown_enumeration_label",
        "enumeration",
        "scope",
        "is not one of",
    )


def file_level_plans(s: SimState) -> dict[tuple[str, str, dt.date], tuple[str, str]]:
    """(city, kind, day) -> (case, expected reason code) for whole-file rejections."""
    d = s.days
    plans = [
        ("610200", "institutions", 1, "wrong_encoding", "encoding"),
        ("610300", "fee_ledger", 1, "truncated_file", "checksum"),
        ("610700", "institutions", 2, "bad_xlsx", "bad_xlsx"),
        ("610400", "fee_ledger", 2, "not_json", "not_json"),
        ("610500", "institutions", 3, "empty_file", "empty_file"),
        ("610600", "fee_ledger", 3, "missing_required_column", "missing_column"),
        ("610800", "institutions", 4, "duplicate_column", "duplicate_column"),
    ]
    codes = {u.city_code for u in s.units}
    out = {}
    for city, kind, idx, case, code in plans:
        if city in codes and idx < len(d) - 1:  # never the last day: the final snapshot stays whole
            out[(city, kind, d[idx])] = (case, code)
    return out


def spoil(data: bytes, case: str, kind: str, fmt: tuple[str, str | None, str]) -> tuple[bytes, str | None]:
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
            return (first.replace(label, label + ",  " + label, 1) + "\r\n" + rest.replace("\r\n", ",x\r\n")).encode(
                fmt[1] or "utf-8"
            ), None
    return data, None
