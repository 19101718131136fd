"""Ingestion benchmark (not a test): prints figures and ratios.

Loads one simulated business day of a province (every format the cities use)
through the real ingestion code (store, parse, validate, publish with COPY),
then loads the very same typed rows again with a plain binary COPY into the
same tables, and prints both throughputs and their ratio, plus the share of
the time spent validating, validation time per million rows and peak memory.

    .venv/bin/python bench/ingest_bench.py [--scale 1] [--cities 610100,610300]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from oversight.contract.spec import SPECS
from oversight.db.connection import sibling_database_url, warehouse_url
from oversight.db.migrate import migrate
from oversight.devkit.simulator import simulate
from oversight.ingest import tasks as pipeline
from oversight.ingest.landing import discover_files
from oversight.ingest.parsing import read_payload
from oversight.ingest.validation import canonical_uscc, validate
from oversight.quality import suites as gx_project

DAY = dt.date(2026, 11, 2)
META = ["delivery_id", "source_city_code", "business_date", "row_number"]


def fresh_database(name: str) -> str:
    base = warehouse_url()
    with psycopg.connect(sibling_database_url(base, "postgres"), autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')
        conn.execute(f'create database "{name}"')
    return sibling_database_url(base, name)


def time_parse_validate_gx(deliveries: list[Any]) -> dict[str, float]:
    """Where the time goes: parse and validate alone (no database), cold cache."""
    canonical_uscc.cache_clear()
    parse_s = engine_s = gx_s = 0.0
    rows = 0
    gx_project.context()  # load the GX file context once, as a worker process does
    for d in deliveries:
        data = Path(d.path).read_bytes()
        t0 = time.perf_counter()
        table = read_payload(SPECS[d.kind], data, d.path.rsplit(".", 1)[1])
        t1 = time.perf_counter()
        result = validate(
            SPECS[d.kind], table, d.city_code, d.business_date, declared=gx_project.declared_rules(d.kind)
        )
        t2 = time.perf_counter()
        gx_project.run_checkpoint(result, gx_project.parameters(d.city_code, d.business_date, {}))
        t3 = time.perf_counter()
        parse_s += t1 - t0
        engine_s += t2 - t1
        gx_s += t3 - t2
        rows += table.num_rows + len(table.misfits)
    return {"parse_s": parse_s, "engine_s": engine_s, "gx_s": gx_s, "rows": rows}


def time_plain_copy(url: str) -> tuple[float, int]:
    """Baseline: the same typed rows, plain binary COPY into the same (emptied) tables."""
    copy_s = 0.0
    copied = 0
    with psycopg.connect(url) as conn:
        for kind, spec in SPECS.items():
            columns = [*META, *spec.names, "extra_columns"]
            col_list = ", ".join(columns)
            data = conn.execute(f"select {col_list} from raw.{kind}").fetchall()
            types = [
                r[0]
                for r in conn.execute(
                    "select a.atttypid::int from pg_attribute a"
                    " join unnest(%s::text[]) with ordinality c(name, n) on a.attname = c.name"
                    " where a.attrelid = %s::regclass order by c.n",
                    (columns, f"raw.{kind}"),
                )
            ]
            types = [25 if oid == 1042 else oid for oid in types]  # char(n): binary text is the same wire format
            conn.execute(f"truncate raw.{kind}")
            conn.commit()
            t = time.perf_counter()
            with conn.cursor().copy(f"copy raw.{kind} ({col_list}) from stdin (format binary)") as copy:
                copy.set_types(types)
                for row in data:
                    copy.write_row(row)
            conn.commit()
            copy_s += time.perf_counter() - t
            copied += len(data)
    return copy_s, copied


def report(figures: dict[str, float], deliveries: int) -> None:
    f = figures
    ours = f["published"] / f["ingest_s"]
    plain = f["copied"] / f["copy_s"]
    validate_s = f["engine_s"]  # on the load path; GX runs after the day's loads
    print(f"deliveries            {deliveries}")
    print(f"rows delivered        {f['rows']:.0f}")
    print(f"rows published        {f['published']:.0f}")
    print(f"ingestion (parse..load) {f['ingest_s']:8.2f} s  {ours:10.0f} rows/s")
    print(f"plain binary COPY       {f['copy_s']:8.2f} s  {plain:10.0f} rows/s")
    print(f"ratio ingestion / COPY  {ours / plain:8.2f}   (goal >= 0.5)")
    print(f"parse                   {f['parse_s']:8.2f} s")
    print("validation on the load path (vectorised engine, the suites' rules)")
    print(f"                        {validate_s:8.2f} s  = {validate_s / f['rows'] * 1e6:.2f} s per million rows")
    print(f"validation / ingestion  {validate_s / f['ingest_s']:8.2%}")
    print(f"validation adds         {validate_s / (f['ingest_s'] - validate_s):8.2%}   (goal <= 50%)")
    print(f"GX checkpoint audit     {f['gx_s']:8.2f} s  = {f['gx_s'] / f['rows'] * 1e6:.2f} s per million rows,")
    print(
        f"                        {f['gx_s'] / deliveries:8.2f} s per delivery"
        " (after the day's loads, off the load path)"
    )
    print(f"peak memory (RSS)       {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:8.0f} MiB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--cities", default=None)
    args = parser.parse_args()

    os.environ.setdefault("OVERSIGHT_EMBEDDED_WAREHOUSE", "1")  # a development tool: the embedded server
    url = fresh_database("oversight_bench")
    os.environ["WAREHOUSE_URL"] = url
    migrate()
    with tempfile.TemporaryDirectory() as tmp:
        landing = Path(tmp) / "landing"
        os.environ["OVERSIGHT_STORE_DIR"] = str(Path(tmp) / "store")
        t = time.perf_counter()
        simulate(landing, DAY, DAY, scale=args.scale, cities=args.cities.split(",") if args.cities else None)
        print(f"simulated {DAY}: {time.perf_counter() - t:.1f} s")
        deliveries = discover_files(landing, DAY)
        figures = time_parse_validate_gx(deliveries)
        # the real thing: store + parse + validate + publish (COPY), per delivery; a cold
        # validation cache, as in a fresh Airflow task process
        canonical_uscc.cache_clear()
        t = time.perf_counter()
        results = [pipeline.ingest_file(d.to_dict()) for d in deliveries]
        figures["ingest_s"] = time.perf_counter() - t
        figures["published"] = sum(r.get("rows_published", 0) for r in results)
    figures["copy_s"], figures["copied"] = time_plain_copy(url)
    report(figures, len(deliveries))
    return 0


if __name__ == "__main__":
    sys.exit(main())
