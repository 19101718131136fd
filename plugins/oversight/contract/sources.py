"""Per-city source configuration (YAML): channel, location, credentials, deadline."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from oversight.config import paths
from oversight.contract.cities import is_known_city

CHANNELS = ("file", "http")


class SourceConfigError(ValueError):
    """The sources configuration is invalid; the message says where."""


@dataclass(frozen=True)
class Source:
    city_code: str
    channel: str = "file"
    landing: str | None = None
    base_url: str | None = None
    conn_id: str | None = None
    deadline: dt.time = dt.time(9, 0)
    configured: bool = True


def sources_path() -> Path:
    return paths().sources_file or Path(str(resources.files("oversight.reference").joinpath("sources.yml")))


def _deadline(value: Any, where: str) -> dt.time:
    text = str(value)
    if not re.fullmatch(r"\d{2}:\d{2}", text):
        raise SourceConfigError(f"{where}: deadline {text!r} is not HH:MM")
    hours, minutes = map(int, text.split(":"))
    return dt.time(hours, minutes)


def parse_sources(text: str, origin: str = "sources") -> dict[str, Source]:
    data = yaml.safe_load(text) or {}
    defaults = data.get("defaults") or {}
    out: dict[str, Source] = {}
    for key, entry in (data.get("cities") or {}).items():
        code = str(key)
        where = f"{origin}: city {code}"
        if not is_known_city(code):
            raise SourceConfigError(f"{where} is not a known prefecture-level division or reporting unit")
        merged = {**defaults, **(entry or {})}
        unknown = set(merged) - {"channel", "landing", "base_url", "conn_id", "deadline"}
        if unknown:
            raise SourceConfigError(f"{where}: unknown keys {sorted(unknown)}")
        channel = merged.get("channel", "file")
        if channel not in CHANNELS:
            raise SourceConfigError(f"{where}: channel {channel!r} is not one of {CHANNELS}")
        if channel == "http" and not merged.get("base_url"):
            raise SourceConfigError(f"{where}: channel http needs base_url")
        out[code] = Source(
            city_code=code,
            channel=channel,
            landing=merged.get("landing"),
            base_url=merged.get("base_url"),
            conn_id=merged.get("conn_id") or (f"city_{code}" if channel == "http" else None),
            deadline=_deadline(merged.get("deadline", "09:00"), where),
        )
    return out


def load_sources(path: Path | None = None) -> dict[str, Source]:
    path = path or sources_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SourceConfigError(f"cannot read sources configuration {path}: {exc}") from exc
    return parse_sources(text, str(path))


def default_source(city_code: str) -> Source:
    """Source for a city directory found under the landing root but not configured."""
    return Source(city_code=city_code, configured=False)
