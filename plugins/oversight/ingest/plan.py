"""What the ingestion DAG expects for a business date: one typed work item per
city (its four kinds inside), from the sources configuration and the landing
root, with each city's deadline; recorded so a kind that never arrives is seen.

Work items travel through XCom as plain JSON objects: ``WorkItem`` and
``KindItem`` are ``TypedDict``s, typed for the code and plain dicts on the wire.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TypedDict

from oversight.config import paths
from oversight.contract.cities import is_known_city
from oversight.contract.files import CITY_CODE, KINDS
from oversight.contract.sources import default_source, load_sources
from oversight.dates import deadline as deadline_of
from oversight.db.connection import connect
from oversight.ingest.landing import unrecognised_entries


class _Item(TypedDict):
    city_code: str
    business_date: str  # ISO date D
    channel: str  # "file" or "http"
    landing: str  # file-drop root of the city
    base_url: str | None  # HTTP API of the city
    conn_id: str | None  # Airflow connection holding the city's bearer token
    deadline: str  # HH:MM on D+1, Asia/Shanghai
    configured: bool  # named in the sources configuration (else found under the landing root)


class WorkItem(_Item):
    """A city's work for one business date: one mapped sensor task."""

    kinds: list[str]


class KindItem(_Item):
    """One extract kind of a city's work item."""

    kind: str


class Plan(TypedDict):
    """What the ingest DAG's ``plan`` task returns."""

    business_date: str
    landing: str | None
    items: list[WorkItem]


def landing_root(configured: str | None = None) -> Path:
    return Path(configured).resolve() if configured else paths().landing


def plan(root: str | None, business_date: dt.date) -> list[WorkItem]:
    """Work items for a business date: one per city (its four kinds inside), for every
    configured source plus every city directory found under the landing root.

    One item per city, not per (city, kind): 340 cities x 4 kinds would exceed Airflow's
    ``max_map_length`` (1024), and a city's kinds share its channel and deadline."""
    root_path = landing_root(root)
    sources = dict(load_sources())
    if root_path.is_dir():
        for entry in sorted(root_path.iterdir()):
            if (
                entry.is_dir()
                and CITY_CODE.match(entry.name)
                and is_known_city(entry.name)
                and entry.name not in sources
            ):
                sources[entry.name] = default_source(entry.name)
    return [
        WorkItem(
            city_code=code,
            kinds=list(KINDS),
            business_date=business_date.isoformat(),
            channel=src.channel,
            landing=str(Path(src.landing).resolve()) if src.landing else str(root_path),
            base_url=src.base_url,
            conn_id=src.conn_id,
            deadline=src.deadline.strftime("%H:%M"),
            configured=src.configured,
        )
        for code, src in sorted(sources.items())
    ]


def planned_date(planned: Plan) -> dt.date:
    """The business date of the ingest DAG's plan."""
    return dt.date.fromisoformat(planned["business_date"])


def kind_items(item: WorkItem) -> list[KindItem]:
    """The (city, kind) items of a city's work item (one per kind it delivers)."""
    common = {k: v for k, v in item.items() if k != "kinds"}
    return [KindItem(**common, kind=kind) for kind in item["kinds"]]  # type: ignore[typeddict-item]


def deadline_at(item: WorkItem | KindItem) -> dt.datetime:
    """The city's deadline for the item's business date D: D+1 at HH:MM, Asia/Shanghai."""
    hours, minutes = map(int, item["deadline"].split(":"))
    return deadline_of(dt.date.fromisoformat(item["business_date"]), dt.time(hours, minutes))


def record_expected(items: list[WorkItem]) -> int:
    """Record what was expected of each city (extract_late needs the kinds that never arrived)."""
    rows = [
        (
            item["business_date"],
            item["city_code"],
            item["kind"],
            item["channel"],
            deadline_at(item),
            bool(item["configured"]),
        )
        for city in items
        for item in kind_items(city)
    ]
    with connect("loader") as conn, conn.transaction():
        conn.cursor().executemany(
            "insert into landing.expected_deliveries"
            " (business_date, source_city_code, kind, channel, deadline_at, is_configured)"
            " values (%s, %s, %s, %s, %s, %s)"
            " on conflict (business_date, source_city_code, kind) do update set"
            " channel = excluded.channel, deadline_at = excluded.deadline_at,"
            " is_configured = excluded.is_configured, planned_at = now()",
            rows,
        )
    return len(rows)


def record_unrecognised(root: str | None) -> int:
    """Keep on record whatever lies under the landing root that is not a delivery (never silently ignored)."""
    entries = unrecognised_entries(landing_root(root))
    if entries:
        with connect("loader") as conn, conn.transaction():
            conn.cursor().executemany(
                "insert into landing.unrecognised_files (path, reason) values (%s, %s)"
                " on conflict (path) do update set reason = excluded.reason, last_seen_at = now()",
                entries,
            )
    return len(entries)


def deadline_passed(item: WorkItem | KindItem, now: dt.datetime) -> bool:
    """Whether the city's deadline for this business date (D+1 at HH:MM local) is past."""
    return now >= deadline_at(item)
