"""The run report: what the warehouse holds, as Markdown for people."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from oversight.warehouse import connect


def _table(headers: list[str], rows: list[tuple[object, ...]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in rows]
    return "\n".join(out)


def deliveries_section(start: dt.date, end: dt.date) -> str:
    with connect("loader") as conn:
        rows = conn.execute(
            """
            select business_date, city_code, count(*) filter (where status = 'published') as published,
                   count(*) filter (where status = 'rejected') as rejected,
                   count(*) filter (where status = 'landed') as landed,
                   count(*) as deliveries, sum(bytes) as bytes
            from landing.deliveries
            where business_date between %s and %s
            group by 1, 2 order by 1, 2
            """,
            (start, end),
        ).fetchall()
    if not rows:
        return f"## Deliveries\n\nNothing was delivered between {start} and {end}.\n"
    return (
        "## Deliveries\n\n"
        + _table(["business date", "city", "published", "rejected", "landed", "deliveries", "bytes"], rows)
        + "\n"
    )


def write_report(path: Path, start: dt.date, end: dt.date, landing: Path) -> Path:
    text = (
        f"# Oversight run report, {start} to {end}\n\n"
        f"Landing root: `{landing}`. Generated {dt.datetime.now().isoformat(timespec='seconds')}.\n\n"
        + deliveries_section(start, end)
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
