"""What every part of the simulation shares: the records, the calendar, the seeded state."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import chinese_calendar

from oversight.contract.cities import City, province_units


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


class SimState:
    """The seeded generator's state: one random stream, counters, and what the plants record.

    Every part of the simulation draws from ``rng`` in a fixed order: that order is what makes
    a seed reproduce the same deliveries byte for byte.
    """

    # set while building (breaches.plant_breaches, activity.build_refunds / build_complaints)
    refund_overdue: Institution
    refund_surge: Institution
    complaint_spike: Institution
    manifest_refunds: dict[str, int]
    manifest_complaints: dict[str, int]

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
        # extract_late plants (breaches.plant_breaches): (city, kind, business date)
        self.late_delivery: tuple[str, str, dt.date] | None = None
        self.missing_delivery: tuple[str, str, dt.date] | None = None

    def next_id(self, prefix: str) -> int:
        self.counter[prefix] += 1
        return self.counter[prefix]

    def ts(self, day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(hour, minute))

    def add(self, city: str, kind: str, day: dt.date, row: dict[str, Any]) -> dict[str, Any]:
        self.sim.rows[(city, kind, day)].append(row)
        return row

    def unit(self, city: str) -> City:
        return next(u for u in self.units if u.city_code == city)
