"""The daily chain through the real scheduler: `oversight run` triggers the ingest runs, the
warehouse and alerts runs are started by Asset events, and a delivery of D-1 that arrives
during D is rebuilt with D, and nothing else is."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.runtime import ROOT, fresh_database, run_cli

D1, D2 = "2026-11-02", "2026-11-03"
CITIES = "610100,610400"


def _runs(env: dict[str, str]) -> list[dict[str, Any]]:
    """The chain's DAG runs as the scheduler recorded them (dag, type, state, dates of its events)."""
    code = """
import json
from oversight.devkit.airflow_runtime import configure_process
configure_process()
from oversight.devkit.runner import CHAIN, runs_since
import datetime as dt
runs = runs_since(CHAIN, dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
print(json.dumps([{"dag_id": r.dag_id, "run_type": r.run_type, "state": r.state, "dates": r.dates,
                   "run_id": r.run_id} for r in runs]))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    import json

    return list(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.slow
@pytest.mark.timeout(1800)  # two `oversight run`s of one date each; about 5 minutes on two idle cores
def test_late_delivery_of_yesterday_is_rebuilt_with_today_through_the_scheduler(
    template_url: str, airflow_ready: dict[str, str], tmp_path: Path
) -> None:
    landing = tmp_path / "landing"
    sim = run_cli("simulate", "--out", str(landing), "--start", D1, "--end", D2, "--cities", CITIES)
    assert sim.returncode == 0, sim.stderr[-2000:]
    url = fresh_database(template_url, "oversight_scheduler_chain")
    env = {"WAREHOUSE_URL": url}

    # Xi'an's refunds of D1 are not there when D1 is ingested ...
    (late,) = (landing / "610100" / "refunds").glob("610100_refunds_20261102.*[!k]")
    aside = tmp_path / "aside"
    aside.mkdir()
    for p in (late, late.with_name(late.name + ".ok")):
        shutil.move(p, aside / p.name)
    first = run_cli("run", "--landing", str(landing), "--start", D1, "--end", D1, env=env, timeout=900)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert f"{D1} ingest    success" in first.stdout
    with psycopg.connect(url) as conn:
        assert conn.execute(
            "select count(*) from landing.deliveries where city_code = '610100' and kind = 'refunds'"
        ).fetchone() == (0,)

    # ... they arrive during D2 (file first, then its marker), and D2's run picks them up
    shutil.move(aside / late.name, late)
    shutil.move(aside / (late.name + ".ok"), late.with_name(late.name + ".ok"))
    second_started = dt.datetime.now(dt.UTC)
    second = run_cli("run", "--landing", str(landing), "--start", D2, "--end", D2, env=env, timeout=900)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]

    with psycopg.connect(url) as conn:
        (status,) = conn.execute(
            "select status from landing.deliveries where city_code = '610100' and kind = 'refunds'"
            " and business_date = %s",
            (D1,),
        ).fetchone() or (None,)
        rebuilt = conn.execute(
            "select distinct business_date::text from audit.rebuild_dates where built_at >= %s order by 1",
            (second_started,),
        ).fetchall()
        pending = conn.execute("select count(*) from audit.rebuild_dates where built_at is null").fetchone()
        evaluated = conn.execute("select business_date::text from alerting.evaluations order by 1").fetchall()
    assert status == "published"
    assert rebuilt == [(D1,), (D2,)]  # D-1 rebuilt with D, nothing else
    assert pending == (0,)
    assert evaluated == [(D1,), (D2,)]

    # the scheduler started the warehouse and alerts runs from the ingest runs' Asset events,
    # and the events carried the business dates (D2's carried the late D1 too)
    runs = _runs({**os.environ, **airflow_ready, **env})
    chain = [r for r in runs if r["run_id"].startswith("oversight_run__") or "asset" in r["run_type"].lower()]
    ingest = [r for r in chain if r["dag_id"] == "oversight_ingest"]
    warehouse = [r for r in chain if r["dag_id"] == "oversight_warehouse"]
    alerts = [r for r in chain if r["dag_id"] == "oversight_alerts"]
    assert [r["dates"] for r in ingest][-2:] == [[D1], [D2]]
    assert all("asset" in r["run_type"].lower() and r["state"] == "success" for r in warehouse + alerts)
    assert [r["dates"] for r in warehouse][-2:] == [[D1], [D1, D2]]
    assert [r["dates"] for r in alerts][-2:] == [[D1], [D1, D2]]
    assert "warehouse success" in second.stdout and f"(asset-triggered; dates {D1}, {D2})" in second.stdout
