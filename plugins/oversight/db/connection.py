"""The warehouse connection: one place that says which PostgreSQL is in use.

``WAREHOUSE_URL`` (a libpq URL) wins when set; otherwise the embedded server
under ``.local/pg`` is started on demand. Components connect with the URL and
then ``SET ROLE`` to their least-privilege role (loader, transformer, analyst),
so the same code works against the embedded server and a managed one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import psycopg

from oversight.config import paths
from oversight.devkit.embedded_pg import EmbeddedPostgres

Role = Literal["loader", "transformer", "analyst"]
ROLE_NAMES: dict[str, str] = {
    "loader": "oversight_loader",
    "transformer": "oversight_transformer",
    "analyst": "oversight_analyst",
}


@cache
def embedded() -> EmbeddedPostgres:
    p = paths()
    return EmbeddedPostgres(base=p.pg, secrets_dir=p.secrets)


def is_embedded() -> bool:
    return not os.environ.get("WAREHOUSE_URL")


def warehouse_url() -> str:
    """libpq URL of the warehouse database, starting the embedded server if needed."""
    configured = os.environ.get("WAREHOUSE_URL")
    if configured:
        return configured
    return embedded().url("oversight")


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
        conn.execute("set timezone = 'Asia/Shanghai'")
        if role is not None:
            conn.execute(psycopg.sql.SQL("set role {}").format(psycopg.sql.Identifier(ROLE_NAMES[role])))
        if not autocommit:
            conn.commit()
        yield conn
