"""Warehouse build time of day N+1 after N days of history, for N = 1, 30, 90.

A script, not a test: prints figures. One fresh warehouse database; simulated
deliveries (``oversight.devkit.simulator``, a few cities) are ingested day by day through the
real pipeline (validation, load, ``audit.rebuild_dates``). At each N the history is
built once (untimed), then day N+1 is delivered and its incremental build is timed:
the same ``dbt build`` (models, seeds, snapshot, data and unit tests) the warehouse
DAG's producer runs, with ``build_dates`` = the pending dates. Goal: flat (day 91 at
most 1.3 x day 2).

    .venv/bin/python bench/warehouse_bench.py [--cities 610100,610200] [--scale 1.0]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("OVERSIGHT_LOCAL_DIR", str(ROOT / ".local" / "bench-warehouse"))
os.environ.pop("WAREHOUSE_URL", None)
os.environ["OVERSIGHT_EMBEDDED_WAREHOUSE"] = "1"  # a development tool: the embedded server

from oversight.config import apply_telemetry_off  # noqa: E402

apply_telemetry_off()

START = dt.date(2026, 8, 3)
POINTS = (1, 30, 90)
# the warehouse proper; the alert rules are timed by their own benchmark
WAREHOUSE_ONLY = ["path:seeds", "path:models", "path:snapshots"]
EXCLUDE = ["path:models/intermediate/alerts", "path:models/marts/alerts", "path:seeds/alert_rules.csv"]


def ingest_day(landing: Path, day: dt.date) -> int:
    from oversight.ingest import tasks as pipeline

    rows = 0
    for city_dir in sorted(p for p in landing.iterdir() if p.is_dir() and not p.name.startswith("_")):
        for kind_dir in sorted(city_dir.iterdir()):
            for f in sorted(kind_dir.glob(f"*_{day:%Y%m%d}.*")):
                if f.name.endswith(".ok"):
                    continue
                result = pipeline.ingest_payload(city_dir.name, kind_dir.name, day, "file", f.name, f.read_bytes())
                rows += int(result.get("rows_published") or 0)
    return rows


def build(dates: list[dt.date] | None = None) -> float:
    from oversight.warehouse import dbt as dbt_build
    from oversight.warehouse import rebuilds

    args = ["build"]
    for s in WAREHOUSE_ONLY:
        args += ["--select", s]
    for e in EXCLUDE:
        args += ["--exclude", e]
    pending, cutoff = rebuilds.pending_dates()
    wanted = dates if dates is not None else pending
    t0 = time.perf_counter()
    dbt_build.run_dbt(args, build_dates=wanted)
    elapsed = time.perf_counter() - t0
    if cutoff is not None:
        rebuilds.mark_built(wanted, cutoff)
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cities", default="610100,610200")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=1, help="timed builds per point (the minimum is kept)")
    args = parser.parse_args()

    import psycopg

    from oversight.db.connection import sibling_database_url, warehouse_url
    from oversight.db.migrate import migrate
    from oversight.devkit.simulator import simulate
    from oversight.warehouse import dbt as dbt_build

    admin = sibling_database_url(warehouse_url(), "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("drop database if exists oversight_bench with (force)")
        conn.execute("create database oversight_bench")
    os.environ["WAREHOUSE_URL"] = sibling_database_url(warehouse_url(), "oversight_bench")
    migrate()
    dbt_build.prepare()

    days = [START + dt.timedelta(days=i) for i in range(max(POINTS) + 1)]
    with tempfile.TemporaryDirectory() as tmp:
        landing = Path(tmp) / "landing"
        print(f"simulating {len(days)} days for cities {args.cities} (scale {args.scale}) ...", flush=True)
        simulate(landing, days[0], days[-1], province="61", scale=args.scale, cities=args.cities.split(","))
        results: dict[int, float] = {}
        ingested = 0
        for n in POINTS:
            t0 = time.perf_counter()
            rows = 0
            for day in days[ingested:n]:
                rows += ingest_day(landing, day)
            ingested = n
            history = build()  # days 1..N, untimed as a figure of interest
            print(f"N={n}: history of {n} days built in {history:.1f}s (ingest {time.perf_counter() - t0:.1f}s)")
            next_day = days[n]
            rows = ingest_day(landing, next_day)
            ingested = n + 1
            timings = []
            for _ in range(args.repeat):
                # a re-run of the same date is idempotent: delete + insert of that date only
                timings.append(build([next_day]))
            results[n] = min(timings)
            print(f"N={n}: day {n + 1} ({next_day}, {rows} rows) built in {results[n]:.2f}s", flush=True)
    base = results[POINTS[0]]
    print()
    print("| history N (days) | build of day N+1 (s) | ratio to day 2 |")
    print("|---:|---:|---:|")
    for n in POINTS:
        print(f"| {n} | {results[n]:.2f} | {results[n] / base:.2f} |")
    ratio = results[POINTS[-1]] / base
    verdict = "flat" if ratio <= 1.3 else "NOT flat"
    print(f"\nday {POINTS[-1] + 1} / day 2 = {ratio:.2f} (goal <= 1.30): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
