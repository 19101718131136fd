"""The warehouse connection: one place that says which PostgreSQL is in use.

``WAREHOUSE_URL`` (a libpq URL) is required. Only when the embedded server is
explicitly opted in (``OVERSIGHT_EMBEDDED_WAREHOUSE=1``: ``make demo`` and
``make test`` do) does the development kit's embedded PostgreSQL stand in; a
production configuration without a URL fails at once with a clear message.
Components connect with the URL and then ``SET ROLE`` to their least-privilege
role (loader, transformer, analyst), so the same code works against the embedded
server and a managed one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import psycopg

from oversight.config import TIMEZONE, WAREHOUSE_URL_ENV, configured_warehouse_url, development_kit

Role = Literal["loader", "transformer", "analyst"]
ROLE_NAMES: dict[str, str] = {
    "loader": "oversight_loader",
    "transformer": "oversight_transformer",
    "analyst": "oversight_analyst",
}


class WarehouseUnavailable(RuntimeError):
    """The warehouse server could not be reached or started (the embedded server's errors are these)."""


def warehouse_url() -> str:
    """libpq URL of the warehouse database (the embedded server's, started if needed, when opted in)."""
    configured = configured_warehouse_url()
    if configured:
        return configured
    provider = development_kit(
        "embedded_pg",
        needed_for=f"{WAREHOUSE_URL_ENV} is not set: give the warehouse's libpq URL "
        "(postgresql://user:password@host:5432/oversight)",
    )
    url: str = provider.warehouse().url("oversight")
    return url


def sibling_database_url(url: str, database: str) -> str:
    """The same server and credentials as ``url``, another database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def ensure_database(url: str) -> None:
    """Create the database named by ``url`` when it does not exist (needs CREATEDB)."""
    name = urlsplit(url).path.lstrip("/")
    admin = sibling_database_url(url, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        found = conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
        if not found:
            conn.execute(psycopg.sql.SQL("create database {}").format(psycopg.sql.Identifier(name)))


@contextmanager
def connect(role: Role | None = None, *, autocommit: bool = False) -> Iterator[psycopg.Connection]:
    """A connection to the warehouse, acting as ``role`` when given."""
    with psycopg.connect(warehouse_url(), autocommit=autocommit, application_name="oversight") as conn:
        conn.execute(psycopg.sql.SQL("set timezone = {}").format(psycopg.sql.Literal(TIMEZONE)))
        if role is not None:
            conn.execute(psycopg.sql.SQL("set role {}").format(psycopg.sql.Identifier(ROLE_NAMES[role])))
        if not autocommit:
            conn.commit()
        yield conn
