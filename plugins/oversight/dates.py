"""Business dates: what date a DAG run is about, however the run was started.

A business date *D* is a calendar day in Asia/Shanghai. Airflow gives a run its
date in different ways:

- a scheduled or backfill run of a daily timetable: the data interval [D, D+1);
- a manual run: the ``business_date`` param when given, else the day before its
  logical date (the last complete business day when it was triggered);
- an Asset-triggered run: no data interval and no logical date at all. The
  dates travel in the extra of the Asset events that triggered it
  (``business_dates``: a list of ISO dates; ``business_date``: one).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from oversight.config import TIMEZONE

ZONE = ZoneInfo(TIMEZONE)
EXTRA_DATES = "business_dates"
EXTRA_DATE = "business_date"


class NoBusinessDate(ValueError):
    """A run that carries no business date (no param, interval, logical date or event extra)."""


def as_date(value: Any) -> dt.date | None:
    """A date from an ISO string, date or datetime (datetimes are read in Asia/Shanghai); None for empty."""
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return (value.astimezone(ZONE) if value.tzinfo else value).date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError as exc:
        raise NoBusinessDate(f"business date {text!r} is not YYYY-MM-DD") from exc


def local_date(instant: Any) -> dt.date:
    """The Asia/Shanghai calendar day of an instant (a timezone-aware datetime)."""
    if not isinstance(instant, dt.datetime):
        raise NoBusinessDate(f"expected a datetime, got {instant!r}")
    return instant.astimezone(ZONE).date()


def run_business_date(
    param: Any = None,
    data_interval_start: Any = None,
    data_interval_end: Any = None,
    logical_date: Any = None,
) -> dt.date:
    """The one business date of a run of a daily DAG (ingest): see the module doc."""
    given = as_date(param)
    if given:
        return given
    if data_interval_start is not None and data_interval_end is not None and data_interval_end > data_interval_start:
        return local_date(data_interval_start)
    if logical_date is not None:
        return local_date(logical_date) - dt.timedelta(days=1)
    raise NoBusinessDate(
        "this run has no business date: trigger it with conf {'business_date': 'YYYY-MM-DD'}"
        " or a logical date (the run then covers the day before it)"
    )


def dates_from_extras(extras: Iterable[Mapping[str, Any]]) -> list[dt.date]:
    """Every business date named in Asset event extras, sorted, once each."""
    found: set[dt.date] = set()
    for extra in extras:
        for value in extra.get(EXTRA_DATES) or ():
            day = as_date(value)
            if day:
                found.add(day)
        day = as_date(extra.get(EXTRA_DATE))
        if day:
            found.add(day)
    return sorted(found)


def event_extras(triggering_asset_events: Any) -> list[dict[str, Any]]:
    """The extras of every Asset event that triggered a run (Airflow's ``triggering_asset_events``)."""
    extras: list[dict[str, Any]] = []
    if triggering_asset_events:
        for events in triggering_asset_events.values():
            extras += [dict(e.extra or {}) for e in events]
    return extras


def extra_for(dates: Iterable[dt.date | str]) -> dict[str, Any]:
    """The Asset event extra that carries ``dates`` (the latest also as ``business_date``)."""
    ordered = sorted({d for d in (as_date(v) for v in dates) if d})
    extra: dict[str, Any] = {EXTRA_DATES: [d.isoformat() for d in ordered]}
    if ordered:
        extra[EXTRA_DATE] = ordered[-1].isoformat()
    return extra


def deadline(business_date: dt.date, at: dt.time) -> dt.datetime:
    """D+1 at ``at``, Asia/Shanghai: when a city's extracts of D are due."""
    return dt.datetime.combine(business_date + dt.timedelta(days=1), at, tzinfo=ZONE)


def date_argument(text: str) -> dt.date:
    """A command-line date YYYY-MM-DD (an ``argparse`` type)."""
    import argparse

    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from exc
