"""The routing configuration: recipients per city and severity (YAML).

``reference/alert_routing.yml`` by default, or the file named by
``OVERSIGHT_ALERT_ROUTING``. Every error names the file and the key.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from oversight.config import paths
from oversight.contract.cities import is_known_city

SEVERITIES = ("critical", "high", "medium", "low")
SEVERITY_RANK = {name: rank for rank, name in enumerate(reversed(SEVERITIES), 1)}  # low 1 .. critical 4
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CONN_ID = re.compile(r"^[A-Za-z0-9_.-]+$")


class RoutingConfigError(ValueError):
    """The routing configuration is invalid; the message names the file and key."""


@dataclass(frozen=True)
class Recipients:
    emails: tuple[str, ...] = ()
    webhooks: tuple[str, ...] = ()

    def routes(self) -> list[tuple[str, str]]:
        """(channel, recipient) pairs: an address for email, a connection id for webhook."""
        return [("email", e) for e in self.emails] + [("webhook", w) for w in self.webhooks]

    def __or__(self, other: Recipients) -> Recipients:
        return Recipients(
            tuple(dict.fromkeys(self.emails + other.emails)), tuple(dict.fromkeys(self.webhooks + other.webhooks))
        )


@dataclass(frozen=True)
class Routing:
    origin: str
    email_conn_id: str = "oversight_smtp"
    webhook_format: str = "dingtalk"
    magnitude_factor: float = 2.0
    chain_deadline: dt.time = dt.time(12, 0)
    chain_recipients: Recipients = Recipients()
    defaults: dict[str, Recipients] = field(default_factory=dict)
    cities: dict[str, dict[str, Recipients]] = field(default_factory=dict)

    def recipients(self, city_code: str, severity: str) -> Recipients:
        if severity not in SEVERITIES:
            raise RoutingConfigError(f"{self.origin}: unknown severity {severity!r} (one of {', '.join(SEVERITIES)})")
        own = self.cities.get(city_code, {}).get(severity, Recipients())
        return self.defaults.get(severity, Recipients()) | own


def routing_path() -> Path:
    return paths().alert_routing_file or Path(str(resources.files("oversight.reference").joinpath("alert_routing.yml")))


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RoutingConfigError(f"{where}: expected a mapping, found {type(value).__name__}")
    return value


def _recipients(value: Any, where: str) -> Recipients:
    data = _mapping(value, where)
    unknown = set(data) - {"emails", "webhooks"}
    if unknown:
        raise RoutingConfigError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))} (emails, webhooks)")
    out: dict[str, tuple[str, ...]] = {}
    for key, pattern, what in (("emails", _EMAIL, "an e-mail address"), ("webhooks", _CONN_ID, "a connection id")):
        items = data.get(key) or []
        if not isinstance(items, list):
            raise RoutingConfigError(f"{where}.{key}: expected a list")
        for i, item in enumerate(items):
            if not isinstance(item, str) or not pattern.match(item):
                raise RoutingConfigError(f"{where}.{key}[{i}]: {item!r} is not {what}")
        out[key] = tuple(items)
    return Recipients(out.get("emails", ()), out.get("webhooks", ()))


def _by_severity(value: Any, where: str) -> dict[str, Recipients]:
    data = _mapping(value, where)
    out: dict[str, Recipients] = {}
    for severity, entry in data.items():
        if severity not in SEVERITIES:
            raise RoutingConfigError(f"{where}.{severity}: unknown severity (one of {', '.join(SEVERITIES)})")
        out[severity] = _recipients(entry, f"{where}.{severity}")
    return out


def parse_routing(text: str, origin: str = "alert_routing.yml") -> Routing:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RoutingConfigError(f"{origin}: not valid YAML: {exc}") from exc
    data = _mapping(data, origin)
    unknown = set(data) - {"channels", "escalation", "chain", "defaults", "cities"}
    if unknown:
        raise RoutingConfigError(f"{origin}: unknown top-level key(s) {', '.join(sorted(map(str, unknown)))}")
    channels = _mapping(data.get("channels"), f"{origin}: channels")
    email = _mapping(channels.get("email"), f"{origin}: channels.email")
    conn_id = str(email.get("conn_id", "oversight_smtp"))
    if not _CONN_ID.match(conn_id):
        raise RoutingConfigError(f"{origin}: channels.email.conn_id: {conn_id!r} is not a connection id")
    webhook = _mapping(channels.get("webhook"), f"{origin}: channels.webhook")
    fmt = str(webhook.get("format", "dingtalk"))
    if fmt != "dingtalk":
        raise RoutingConfigError(f"{origin}: channels.webhook.format: {fmt!r} is not supported (dingtalk)")
    escalation = _mapping(data.get("escalation"), f"{origin}: escalation")
    factor = escalation.get("magnitude_factor", 2.0)
    if not isinstance(factor, (int, float)) or isinstance(factor, bool) or factor <= 1:
        raise RoutingConfigError(f"{origin}: escalation.magnitude_factor: {factor!r} is not a number above 1")
    chain = _mapping(data.get("chain"), f"{origin}: chain")
    deadline_text = str(chain.get("deadline", "12:00"))
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", deadline_text):
        raise RoutingConfigError(f"{origin}: chain.deadline: {deadline_text!r} is not HH:MM")
    cities: dict[str, dict[str, Recipients]] = {}
    for code, entry in _mapping(data.get("cities"), f"{origin}: cities").items():
        key = str(code)
        if not is_known_city(key):
            raise RoutingConfigError(f"{origin}: cities.{key}: not a known city code")
        cities[key] = _by_severity(entry, f"{origin}: cities.{key}")
    return Routing(
        origin=origin,
        email_conn_id=conn_id,
        webhook_format=fmt,
        magnitude_factor=float(factor),
        chain_deadline=dt.time.fromisoformat(deadline_text),
        chain_recipients=_recipients(chain.get("recipients"), f"{origin}: chain.recipients"),
        defaults=_by_severity(data.get("defaults"), f"{origin}: defaults"),
        cities=cities,
    )


def load_routing(path: Path | None = None) -> Routing:
    target = path or routing_path()
    try:
        text = target.read_text(encoding="utf-8")
    except OSError as exc:
        raise RoutingConfigError(f"{target}: cannot read the alert routing configuration: {exc}") from exc
    return parse_routing(text, str(target))
