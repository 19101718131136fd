"""The run report: what the warehouse holds, as Markdown for people."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from oversight.db.connection import connect
from oversight.reporting.tables import markdown


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
        + markdown(["business date", "city", "published", "rejected", "landed", "deliveries", "bytes"], rows)
        + "\n"
    )


def rejections_section(start: dt.date, end: dt.date) -> str:
    with connect("loader") as conn:
        rejected = conn.execute(
            "select business_date, city_code, kind, original_name, status_reason from landing.deliveries"
            " where status = 'rejected' and business_date between %s and %s order by 1, 2, 3",
            (start, end),
        ).fetchall()
        quarantined = conn.execute(
            """
            select q.source_city_code, q.kind, r ->> 'rule' as rule, count(*) as rows,
                   min(r ->> 'message') as example
            from quarantine.rows q
            join landing.deliveries d using (delivery_id)
            cross join lateral jsonb_array_elements(q.reasons) r
            where d.status = 'published' and q.business_date between %s and %s
            group by 1, 2, 3 order by 1, 2, 3
            """,
            (start, end),
        ).fetchall()
    out = "## Rejected deliveries\n\n"
    out += markdown(["business date", "city", "kind", "file", "reason"], rejected) if rejected else "None."
    out += "\n\n## Quarantined rows (by rule)\n\n"
    out += markdown(["city", "kind", "rule", "rows", "example"], quarantined) if quarantined else "None."
    return out + "\n"


def raw_section(start: dt.date, end: dt.date) -> str:
    with connect("loader") as conn:
        rows = conn.execute(
            """
            select kind, count(*) filter (where status = 'published') as deliveries, sum(l.rows_published)
            from landing.deliveries d left join audit.loads l using (delivery_id)
            where business_date between %s and %s group by 1 order by 1
            """,
            (start, end),
        ).fetchall()
    return "## Rows published to raw\n\n" + markdown(["kind", "published deliveries", "rows"], rows) + "\n"


def warehouse_section(end: dt.date) -> str:
    """The supervision report figures (marts.supervision_report) as of the last date."""
    from oversight.reporting.supervision import markdown

    return (
        "## Supervision report (warehouse)\n\n"
        "From `marts.supervision_report`, read as the analyst role: cumulative figures per city and"
        " province as of the last business date (rate = reduced / baseline; refunds in million yuan).\n\n"
        + markdown(as_of=end)
    )


def _alerts_section() -> str:
    from oversight.reporting.alerts_section import alerts_section

    return alerts_section()


def write_report(path: Path, start: dt.date, end: dt.date, landing: Path) -> Path:
    text = (
        f"# Oversight run report, {start} to {end}\n\n"
        f"Landing root: `{landing}`. Generated {dt.datetime.now().isoformat(timespec='seconds')}.\n\n"
        + raw_section(start, end)
        + "\n"
        + deliveries_section(start, end)
        + "\n"
        + rejections_section(start, end)
        + "\n"
        + warehouse_section(end)
        + "\n"
        + _alerts_section()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
