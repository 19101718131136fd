"""Rebuild bookkeeping: which business dates a warehouse build covers.

Every published delivery records its business date in ``audit.rebuild_dates``
(a late or corrected delivery of D-3 records D-3). A build covers the rows not yet
built (``pending_dates()``) and records them built afterwards (``mark_built()``), up
to the cutoff it read them at, so a delivery published during the build is built
by the next one. The warehouse DAG plans its dates (``plan_build()``) and records
them built once both task groups have succeeded (``publish_build()``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any


def pending_dates() -> tuple[list[dt.date], dt.datetime | None]:
    """Business dates published but not yet built, and the time they were read (the cutoff)."""
    from oversight.db.connection import connect

    with connect("transformer") as conn:
        row = conn.execute("select now()").fetchone()
        assert row is not None
        cutoff: dt.datetime = row[0]
        dates = [
            d
            for (d,) in conn.execute(
                "select distinct business_date from audit.rebuild_dates"
                " where built_at is null and recorded_at <= %s order by 1",
                (cutoff,),
            )
        ]
    return dates, cutoff


def mark_built(dates: Iterable[dt.date], cutoff: dt.datetime) -> int:
    """Record the pending rows of ``dates`` recorded up to ``cutoff`` as built."""
    from oversight.db.connection import connect

    wanted = sorted(set(dates))
    if not wanted:
        return 0
    with connect("transformer") as conn:
        cur = conn.execute(
            "update audit.rebuild_dates set built_at = now()"
            " where built_at is null and business_date = any(%s) and recorded_at <= %s",
            (wanted, cutoff),
        )
        conn.commit()
        return cur.rowcount


def plan_build(requested: Iterable[dt.date]) -> dict[str, Any]:
    """The dates a warehouse run builds: the dates it was asked for (the business dates in the
    extras of the Asset events that triggered it, or its param), and every pending rebuild date
    (a late or corrected delivery of D-3 rebuilds D-3 too), each once."""
    pending, cutoff = pending_dates()
    wanted = sorted({*pending, *requested})
    return {
        "build_dates": ",".join(d.isoformat() for d in wanted),
        "cutoff": cutoff.isoformat() if cutoff else None,
    }


def publish_build(planned: dict[str, Any]) -> list[dt.date]:
    """Record the planned dates built; returns them (the mart Asset events carry them)."""
    dates = [dt.date.fromisoformat(d) for d in planned["build_dates"].split(",") if d]
    if planned.get("cutoff"):
        mark_built(dates, dt.datetime.fromisoformat(planned["cutoff"]))
    return dates
