"""Apply the warehouse migrations in order, each once, each in one transaction.

Files ``migrations/NNNN_<name>.sql`` are applied in version order and recorded
in ``migrations.applied`` with their SHA-256. Re-running applies nothing new;
an already-applied file whose content changed is an error (write a new
migration instead of editing history). An advisory lock serialises concurrent
runners (several Airflow tasks may start at once).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

import psycopg

from oversight.db.connection import connect

_LOCK_KEY = 0x0E5C_0001
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(RuntimeError):
    """A migration is missing, altered after it was applied, or failed."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available() -> list[Migration]:
    found: list[Migration] = []
    for entry in resources.files("oversight.db.migrations").iterdir():
        m = _NAME.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda mig: mig.version)
    versions = [mig.version for mig in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a version: {versions}")
    return found


def migrate() -> list[str]:
    """Apply pending migrations; return the names applied now."""
    applied_now: list[str] = []
    with connect(autocommit=True) as conn:
        conn.execute("select pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.execute("create schema if not exists migrations")
            conn.execute(
                "create table if not exists migrations.applied ("
                " version integer primary key, name text not null,"
                " checksum text not null, applied_at timestamptz not null default now())"
            )
            done = {v: c for v, c in conn.execute("select version, checksum from migrations.applied")}
            for mig in available():
                if mig.version in done:
                    if done[mig.version] != mig.checksum:
                        raise MigrationError(
                            f"migration {mig.version:04d}_{mig.name} was edited after it was applied; "
                            "add a new migration instead"
                        )
                    continue
                try:
                    with conn.transaction():
                        conn.execute(mig.sql.encode())
                        conn.execute(
                            "insert into migrations.applied (version, name, checksum) values (%s, %s, %s)",
                            (mig.version, mig.name, mig.checksum),
                        )
                except psycopg.Error as exc:
                    raise MigrationError(f"migration {mig.version:04d}_{mig.name} failed: {exc}") from exc
                applied_now.append(f"{mig.version:04d}_{mig.name}")
        finally:
            conn.execute("select pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now
