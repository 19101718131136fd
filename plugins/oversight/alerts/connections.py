"""Channel endpoints from Airflow connections (never from code or the repository)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class ChannelNotConfigured(RuntimeError):
    """The Airflow connection a channel needs is not defined."""


@dataclass(frozen=True)
class Endpoint:
    conn_id: str
    host: str
    port: int | None = None
    login: str | None = None
    password: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


ConnectionGetter = Callable[[str], Endpoint]


def airflow_connection(conn_id: str) -> Endpoint:
    """The connection ``conn_id`` through Airflow (environment, secrets backend or metadata DB)."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException as exc:
        raise ChannelNotConfigured(f"Airflow connection {conn_id!r} is not defined") from exc
    if not conn.host:
        raise ChannelNotConfigured(f"Airflow connection {conn_id!r} has no host")
    return Endpoint(
        conn_id=conn_id,
        host=str(conn.host),
        port=int(conn.port) if conn.port else None,
        login=conn.login or None,
        password=conn.password or None,
        extra=dict(conn.extra_dejson or {}),
    )
