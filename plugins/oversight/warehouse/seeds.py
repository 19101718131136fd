"""Generated dbt seeds: the city reference and the working-day calendar.

Each is derived from one source of truth (``plugins/oversight/reference/cities.csv``,
the installed ``chinesecalendar`` package) and rewritten only when its content changes.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from oversight.warehouse.dbt import project_dir

CALENDAR_FIRST = dt.date(2021, 1, 1)
CALENDAR_LAST = dt.date(2026, 12, 31)


def _write_csv(path: Path, header: list[str], rows: Iterable[Sequence[Any]]) -> None:
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow(r)
    text = buf.getvalue()
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def calendar_rows(first: dt.date = CALENDAR_FIRST, last: dt.date = CALENDAR_LAST) -> list[list[Any]]:
    """One row per day from ``chinesecalendar`` (the State Council's yearly notices)."""
    import importlib.metadata

    import chinese_calendar

    version = importlib.metadata.version("chinesecalendar")
    source = f"chinesecalendar {version} (State Council holiday notices)"
    rows: list[list[Any]] = []
    day = first
    while day <= last:
        is_workday = chinese_calendar.is_workday(day)
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
        is_weekend = day.weekday() >= 5
        rows.append(
            [
                day.isoformat(),
                str(is_workday).lower(),
                str(bool(on_holiday and name)).lower(),
                name or "",
                str(is_workday and is_weekend).lower(),
                source,
                dt.date(day.year, 1, 1).isoformat(),
            ]
        )
        day += dt.timedelta(days=1)
    return rows


def write_seeds() -> list[Path]:
    """Regenerate the seeds derived from package data (idempotent: unchanged files are not touched)."""
    from oversight.contract.cities import load_cities

    seeds = project_dir() / "seeds"
    cities_csv = seeds / "cities.csv"
    _write_csv(
        cities_csv,
        [
            "city_code",
            "city_name",
            "province_code",
            "province_name",
            "unit_type",
            "parent_city_code",
            "source",
            "effective_date",
        ],
        (
            [
                c.city_code,
                c.city_name,
                c.province_code,
                c.province_name,
                c.unit_type,
                c.parent_city_code or "",
                c.source,
                "2024-01-01",
            ]
            for c in sorted(load_cities().values(), key=lambda c: c.city_code)
        ),
    )
    calendar_csv = seeds / "working_calendar.csv"
    _write_csv(
        calendar_csv,
        [
            "calendar_date",
            "is_working_day",
            "is_holiday",
            "holiday_name",
            "is_swapped_working_day",
            "source",
            "effective_date",
        ],
        calendar_rows(),
    )
    return [cities_csv, calendar_csv]
