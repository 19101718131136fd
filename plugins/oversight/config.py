"""Where things live and which knobs the environment turns.

One place for paths and environment variables, so every other module asks here.
Nothing in this module does I/O at import time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

# Telemetry is off for every component: a regulator's data never calls home.
TELEMETRY_OFF_ENV: dict[str, str] = {
    "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
    "DO_NOT_TRACK": "1",
    "SCARF_NO_ANALYTICS": "true",
    "SCARF_ANALYTICS": "false",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    "GX_ANALYTICS_ENABLED": "False",
}

TIMEZONE = "Asia/Shanghai"


def _find_root() -> Path:
    env = os.environ.get("OVERSIGHT_HOME")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve()
    # plugins/oversight/config.py -> repository root holds pyproject.toml and dags/
    for candidate in here.parents:
        if (candidate / "pyproject.toml").is_file() and (candidate / "dags").is_dir():
            return candidate
    return Path.cwd().resolve()


@dataclass(frozen=True)
class Paths:
    root: Path

    @property
    def local(self) -> Path:
        return Path(os.environ.get("OVERSIGHT_LOCAL_DIR", self.root / ".local")).resolve()

    @property
    def dags(self) -> Path:
        return self.root / "dags"

    @property
    def plugins(self) -> Path:
        return self.root / "plugins"

    @property
    def dbt_project(self) -> Path:
        return self.root / "dbt_project"

    @property
    def expectations(self) -> Path:
        return self.root / "expectations"

    @property
    def pg(self) -> Path:
        return self.local / "pg"

    @property
    def airflow_home(self) -> Path:
        return Path(os.environ.get("AIRFLOW_HOME", self.local / "airflow")).resolve()

    @property
    def secrets(self) -> Path:
        return self.local / "secrets"

    @property
    def reports(self) -> Path:
        return self.local / "reports"


@cache
def paths() -> Paths:
    return Paths(_find_root())


def apply_telemetry_off(env: dict[str, str] | None = None) -> dict[str, str]:
    """Force every telemetry switch off in ``env`` (default: this process)."""
    target = os.environ if env is None else env
    for key, value in TELEMETRY_OFF_ENV.items():
        target[key] = value
    return dict(target)
