"""Production code never needs the development kit, and a production configuration
without a warehouse URL fails at once with a clear message."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from oversight.config import ConfigError
from tests.support.runtime import ROOT


def _production_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("WAREHOUSE_URL", "OVERSIGHT_EMBEDDED_WAREHOUSE")}
    env["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "ERROR"
    return env


def test_every_production_module_and_dag_imports_without_the_devkit(tmp_path: Path) -> None:
    """A copy of the package without ``devkit/`` (as the image has it) comes first on the path."""
    shutil.copytree(
        ROOT / "plugins" / "oversight", tmp_path / "oversight", ignore=shutil.ignore_patterns("devkit", "__pycache__")
    )
    env = {**_production_env(), "PYTHONPATH": str(tmp_path), "OVERSIGHT_HOME": str(ROOT)}
    probe = ROOT / "tests" / "support" / "without_devkit.py"
    out = subprocess.run(
        [sys.executable, str(probe), str(ROOT / "dags")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=True,
        cwd=tmp_path,
    )
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["package"] == str(tmp_path / "oversight" / "__init__.py")
    assert seen["failed"] == {}
    assert seen["devkit_loaded"] == []
    assert {"oversight.ingest.tasks", "oversight.quality.suites", "oversight.alerts.notify"} <= set(seen["modules"])
    # the CLI keeps its production commands and offers no development ones
    assert {"db", "db-url", "alerts", "gx", "rejections"} <= set(seen["commands"])
    assert not {"demo", "run", "simulate", "serve-city", "airflow-up"} & set(seen["commands"])


def test_no_warehouse_url_in_production_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from oversight.db.connection import connect, warehouse_url

    monkeypatch.delenv("WAREHOUSE_URL", raising=False)
    monkeypatch.delenv("OVERSIGHT_EMBEDDED_WAREHOUSE", raising=False)
    with pytest.raises(ConfigError, match=r"WAREHOUSE_URL is not set.*OVERSIGHT_EMBEDDED_WAREHOUSE=1"):
        warehouse_url()
    with pytest.raises(ConfigError), connect():
        pass


def test_the_cli_reports_the_missing_url_in_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "oversight.cli", "db-url"],
        capture_output=True,
        text=True,
        timeout=120,
        env=_production_env(),
        cwd=ROOT,
    )
    assert done.returncode == 1
    assert done.stderr.strip().startswith("oversight db-url: ConfigError: WAREHOUSE_URL is not set")
    assert done.stdout == ""


def test_the_image_leaves_the_devkit_out() -> None:
    assert "plugins/oversight/devkit" in (ROOT / ".dockerignore").read_text().split()
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "test ! -e plugins/oversight/devkit" in dockerfile


def test_no_pseudonym_key_in_production_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A production key is configuration: a generated local key would change every pseudonym."""
    from oversight.config import pseudonym_key

    monkeypatch.delenv("OVERSIGHT_PSEUDONYM_KEY", raising=False)
    monkeypatch.delenv("OVERSIGHT_EMBEDDED_WAREHOUSE", raising=False)
    with pytest.raises(ConfigError, match="OVERSIGHT_PSEUDONYM_KEY is not set"):
        pseudonym_key()
    monkeypatch.setenv("OVERSIGHT_PSEUDONYM_KEY", "k" * 32)
    assert pseudonym_key() == "k" * 32
