"""The institution registry: its population by group, calibrated to Shaanxi's 2022 report."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from oversight.contract.cities import City
from oversight.devkit.simulator.identities import uscc_for
from oversight.devkit.simulator.state import Institution, SimState

BANKS = ["中国银行", "中国建设银行", "中国工商银行", "中国农业银行", "交通银行", "西安银行", "长安银行"]
POLICY_DATE = dt.date(2021, 7, 24)
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


def institution(s: SimState, unit: City, group: str, **kw: Any) -> Institution:
    """Register one institution of ``group`` in ``unit``; ``kw`` overrides drawn attributes."""
    nonprofit = kw.pop("nonprofit", s.rng.random() < 0.2)
    mode = kw.pop("fund_supervision_mode", s.rng.choice(("escrow", "escrow", "escrow", "reserve")))
    city = unit.city_code
    n = s.next_id("inst")
    inst = Institution(
        institution_id=uscc_for(s, city, nonprofit),
        institution_name=f"{unit.city_name}{s.rng.choice(['启明', '博学', '星辰', '育才', '青禾', '知行'])}"
        f"{s.rng.choice(['教育', '培训', '艺术', '体育', '科技'])}{n}号学校",
        city_code=city,
        district=f"{unit.city_name}第{n % 7 + 1}区",
        category=kw.pop("category"),
        non_subject_field=kw.pop("non_subject_field", None),
        stage=kw.pop("stage"),
        delivery_mode=kw.pop("delivery_mode", "online" if s.rng.random() < 0.02 else "offline"),
        baseline_category=kw.pop("baseline_category", None),
        status=kw.pop("status", "active"),
        nonprofit=nonprofit,
        approved_date=kw.pop("approved_date", dt.date(2015, 1, 1) + dt.timedelta(days=n % 2200)),
        status_changed_date=kw.pop("status_changed_date", None),
        license_no=f"教民{city}{n:07d}",
        address=f"{unit.city_name}某路{n % 300 + 1}号",
        residential_premises=False,
        fund_supervision_mode=mode,
        custodian_bank=s.rng.choice(BANKS) if mode == "escrow" else None,
        on_platform=kw.pop("on_platform", mode != "none"),
        uses_model_contract=kw.pop("uses_model_contract", True),
        group=group,
    )
    assert not kw, kw
    s.sim.institutions.append(inst)
    return inst


def build_registry(s: SimState) -> None:
    weights = [SHAANXI_WEIGHTS.get(u.city_code, 1.0) for u in s.units]
    if s.calibrated:
        t = SHAANXI
        groups = {
            "deregistered": t["deregistered"],
            "converted": t["converted"],
            "remaining": t["remaining"],
            "non_subject_new": t["non_subject_active"] - t["converted"],
        }
    else:
        per = max(1, len(s.units))
        groups = {
            "deregistered": 300 * per,
            "converted": 60 * per,
            "remaining": 15 * per,
            "non_subject_new": 250 * per,
        }
    groups |= {"non_subject_cancelled": 120, "non_subject_suspended": 30, "high_school_subject": 150}
    allocation = {g: allocate(n, weights) for g, n in groups.items()}
    for i, unit in enumerate(s.units):
        for group, counts in allocation.items():
            for _ in range(counts[i]):
                institution(s, unit, group, **group_attributes(s, group))


def group_attributes(s: SimState, group: str) -> dict[str, Any]:
    """Registry attributes of a simulated institution of ``group``."""
    r = s.rng

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


def snapshot(s: SimState, city: str, day: dt.date) -> list[dict[str, Any]]:
    """The registry rows ``city`` delivers for ``day``: its institutions approved by then."""
    rows = []
    for inst in s.sim.institutions:
        if inst.city_code == city and inst.approved_date <= day:
            rows.append(inst.row())
    return rows
