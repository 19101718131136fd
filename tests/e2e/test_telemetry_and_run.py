"""Telemetry is off everywhere, and a real DAG run reaches no non-loopback
address; `oversight run` on an empty landing exits 0 and says so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.runtime import ROOT, run_cli

TELEMETRY = {
    "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
    "DO_NOT_TRACK": "1",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    "GX_ANALYTICS_ENABLED": "False",
    "SCARF_NO_ANALYTICS": "true",
}


def test_runtime_environment_turns_telemetry_off(airflow_ready: dict[str, str]) -> None:
    for key, value in TELEMETRY.items():
        assert airflow_ready[key] == value, key


def test_telemetry_wins_over_the_callers_environment(warehouse_url: str) -> None:
    from oversight.devkit.airflow_runtime import airflow_env

    before = os.environ.get("GX_ANALYTICS_ENABLED")
    os.environ["GX_ANALYTICS_ENABLED"] = "True"
    try:
        assert airflow_env()["GX_ANALYTICS_ENABLED"] == "False"
    finally:
        if before is None:
            os.environ.pop("GX_ANALYTICS_ENABLED")
        else:
            os.environ["GX_ANALYTICS_ENABLED"] = before


def test_libraries_read_the_switches_as_off(airflow_ready: dict[str, str]) -> None:
    code = """
import importlib.util, json
import cosmos.settings as cs
import great_expectations as gx
from dbt.cli.main import cli
from dbt.cli.flags import Flags
ctx = gx.get_context(mode="ephemeral")
parent = cli.make_context("dbt", ["debug"])
dbt_flags = Flags(cli.commands["debug"].make_context("debug", [], parent=parent))
print(json.dumps({
    "cosmos": cs.enable_telemetry,
    "cosmos_do_not_track": cs.do_not_track,
    "dbt_send_anonymous_usage_stats": dbt_flags.SEND_ANONYMOUS_USAGE_STATS,
    "gx_context_analytics": bool(ctx.config.analytics_enabled),
    "gx_analytics_client_installed": importlib.util.find_spec("posthog") is not None,
}))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **airflow_ready}, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen == {
        "cosmos": False,
        "cosmos_do_not_track": True,
        "dbt_send_anonymous_usage_stats": False,
        "gx_context_analytics": False,
        "gx_analytics_client_installed": False,
    }


def test_makefile_exports_telemetry_off() -> None:
    text = (ROOT / "Makefile").read_text()
    for key in ("DO_NOT_TRACK := 1", "GX_ANALYTICS_ENABLED := False", "AIRFLOW__COSMOS__ENABLE_TELEMETRY := False"):
        assert f"export {key}" in text


def test_run_on_empty_landing_reaches_no_outside_address(airflow_ready: dict[str, str], tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    log = tmp_path / "netguard.jsonl"
    guard = ROOT / "tests" / "support" / "netguard"
    result = run_cli(
        "run",
        "--landing",
        str(landing),
        "--start",
        "2026-11-02",
        "--end",
        "2026-11-02",
        env={"PYTHONPATH": str(guard), "NETGUARD_LOG": str(log)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2026-11-02 ingest" in result.stdout and "nothing was delivered" in result.stdout
    # the warehouse and alerts ran because the ingest run's Assets triggered them
    assert "2026-11-02 warehouse success" in result.stdout and "(asset-triggered; dates 2026-11-02)" in result.stdout
    attempts = log.read_text().splitlines() if log.exists() else []
    assert attempts == []


def test_netguard_does_record_an_outside_connection(tmp_path: Path) -> None:
    """The guard itself can fail: an attempt to reach a documentation address is logged and blocked."""
    log = tmp_path / "netguard.jsonl"
    code = "import socket\ntry:\n    socket.create_connection(('192.0.2.1', 80), timeout=1)\nexcept OSError:\n    pass"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "tests" / "support" / "netguard"),
        "NETGUARD_LOG": str(log),
        "NETGUARD_BLOCK": "1",
    }
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    assert "192.0.2.1" in log.read_text()


def test_run_rejects_a_missing_landing_with_one_line(tmp_path: Path) -> None:
    result = run_cli("run", "--landing", str(tmp_path / "nope"), "--start", "2026-11-02", "--end", "2026-11-02")
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "does not exist" in result.stderr
