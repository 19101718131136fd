"""Where things live and which knobs the environment turns.

The one place that reads environment variables, paths and the time zone: every
other module asks here. Nothing in this module does I/O at import time.

| variable | meaning | default |
|---|---|---|
| `WAREHOUSE_URL` | libpq URL of the warehouse | none: required in production |
| `OVERSIGHT_EMBEDDED_WAREHOUSE` | `1`: the devkit's embedded PostgreSQL stands in (make demo/test) | off |
| `OVERSIGHT_HOME` | install root (dags, dbt_project, expectations) | found from the package |
| `OVERSIGHT_LOCAL_DIR` | local state (embedded server, Airflow home, reports) | `<root>/.local` |
| `OVERSIGHT_LANDING_ROOT` | file-drop landing root | `<local>/landing` |
| `OVERSIGHT_STORE_DIR` | content-addressed payload store | `<local>/store` |
| `OVERSIGHT_SOURCES` | sources configuration (which city delivers how) | packaged `reference/sources.yml` |
| `OVERSIGHT_ALERT_ROUTING` | alert routing configuration | packaged `reference/alert_routing.yml` |
| `OVERSIGHT_PSEUDONYM_KEY` | HMAC key of the pseudonyms | `<local>/secrets` (devkit only) |
| `OVERSIGHT_DEBUG` | `1`: the CLI shows tracebacks | off |
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

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

WAREHOUSE_URL_ENV = "WAREHOUSE_URL"
EMBEDDED_OPT_IN_ENV = "OVERSIGHT_EMBEDDED_WAREHOUSE"
PSEUDONYM_KEY_ENV = "OVERSIGHT_PSEUDONYM_KEY"


class ConfigError(RuntimeError):
    """The configuration cannot work (e.g. no warehouse URL in production)."""


def setting(name: str) -> str | None:
    """An environment variable, None when unset or empty."""
    return os.environ.get(name) or None


def flag(name: str) -> bool:
    return (setting(name) or "").strip().lower() in {"1", "true", "yes", "on"}


def configured_warehouse_url() -> str | None:
    return setting(WAREHOUSE_URL_ENV)


def embedded_opted_in() -> bool:
    """The devkit's embedded PostgreSQL may stand in for ``WAREHOUSE_URL`` (make demo, make test)."""
    return flag(EMBEDDED_OPT_IN_ENV)


def debug() -> bool:
    return flag("OVERSIGHT_DEBUG")


def development_kit(module: str, *, needed_for: str) -> Any:
    """``oversight.devkit.<module>``, only where the embedded default is opted in and the kit installed."""
    if not embedded_opted_in():
        raise ConfigError(
            f"{needed_for}, or set {EMBEDDED_OPT_IN_ENV}=1 to use the development kit's local default "
            "(make demo and make test do)"
        )
    try:
        return importlib.import_module(f"oversight.devkit.{module}")
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"{EMBEDDED_OPT_IN_ENV}=1 but the development kit is not installed here (production images "
            f"leave it out): {needed_for}"
        ) from exc


def pseudonym_key() -> str:
    """The HMAC key of the pseudonyms: configured in production, a local secret in the development kit."""
    key = setting(PSEUDONYM_KEY_ENV)
    if key is None:
        secrets = development_kit("secrets", needed_for=f"{PSEUDONYM_KEY_ENV} is not set: give the pseudonym key")
        key = str(secrets.local_secret("pseudonym_key"))
    if not key.strip():
        raise ConfigError(f"the pseudonymisation key is empty: set {PSEUDONYM_KEY_ENV}")
    return key


def _find_root() -> Path:
    env = setting("OVERSIGHT_HOME")
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
        return Path(setting("OVERSIGHT_LOCAL_DIR") or self.root / ".local").resolve()

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
        return Path(setting("AIRFLOW_HOME") or self.local / "airflow").resolve()

    @property
    def secrets(self) -> Path:
        return self.local / "secrets"

    @property
    def reports(self) -> Path:
        return self.local / "reports"

    @property
    def landing(self) -> Path:
        return Path(setting("OVERSIGHT_LANDING_ROOT") or self.local / "landing").resolve()

    @property
    def store(self) -> Path:
        return Path(setting("OVERSIGHT_STORE_DIR") or self.local / "store").resolve()

    @property
    def sources_file(self) -> Path | None:
        configured = setting("OVERSIGHT_SOURCES")
        return Path(configured) if configured else None

    @property
    def alert_routing_file(self) -> Path | None:
        configured = setting("OVERSIGHT_ALERT_ROUTING")
        return Path(configured) if configured else None


@cache
def paths() -> Paths:
    return Paths(_find_root())


def apply_telemetry_off(env: dict[str, str] | None = None) -> dict[str, str]:
    """Force every telemetry switch off in ``env`` (default: this process)."""
    target = os.environ if env is None else env
    for key, value in TELEMETRY_OFF_ENV.items():
        target[key] = value
    return dict(target)
