"""Migrations: ordered, idempotent, tamper-evident; roles with least privilege."""

from __future__ import annotations

import psycopg
import pytest

from oversight.db import migrate as migrate_mod
from oversight.db.connection import connect
from oversight.db.migrate import Migration, MigrationError, available, migrate

SCHEMAS = {
    "landing",
    "audit",
    "raw",
    "quarantine",
    "restricted",
    "staging",
    "intermediate",
    "reference",
    "snapshots",
    "marts",
}


def test_rerun_applies_nothing(warehouse_url: str) -> None:
    assert migrate() == []
    with connect() as conn:
        versions = [r[0] for r in conn.execute("select version from migrations.applied order by version")]
    assert versions == [m.version for m in available()]
    assert versions == sorted(versions) and versions[0] == 1


def test_schemas_exist(warehouse_url: str) -> None:
    with connect() as conn:
        names = {r[0] for r in conn.execute("select nspname from pg_namespace")}
    assert names >= SCHEMAS


def test_edited_migration_is_refused(warehouse_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    original = available()
    tampered = [Migration(m.version, m.name, m.sql + "\n-- edited") if m.version == 1 else m for m in original]
    monkeypatch.setattr(migrate_mod, "available", lambda: tampered)
    with pytest.raises(MigrationError, match="edited after it was applied"):
        migrate()


@pytest.mark.parametrize(
    ("role", "statement", "allowed"),
    [
        ("loader", "select count(*) from landing.deliveries", True),
        ("loader", "create table marts.x (v int)", False),
        ("loader", "create table raw.x (v int)", False),  # tables come from migrations only
        ("transformer", "select count(*) from landing.deliveries", True),
        ("transformer", "insert into landing.deliveries (city_code) values ('610100')", False),
        ("transformer", "create table marts.probe (v int); drop table marts.probe", True),
        ("analyst", "select count(*) from landing.deliveries", False),
        ("analyst", "create table marts.x (v int)", False),
        ("analyst", "select 1", True),
    ],
)
def test_least_privilege(warehouse_url: str, role: str, statement: str, allowed: bool) -> None:
    with connect(role) as conn:  # type: ignore[arg-type]
        if allowed:
            conn.execute(statement)
        else:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)


def test_analyst_reads_what_transformer_builds_in_marts(warehouse_url: str) -> None:
    with connect("transformer") as conn:
        conn.execute("create table marts.grant_probe as select 1 as v")
        conn.execute("create table staging.grant_probe as select 1 as v")
        conn.commit()
    try:
        with connect("analyst") as conn:
            assert conn.execute("select v from marts.grant_probe").fetchone() == (1,)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("select v from staging.grant_probe")
    finally:
        with connect("transformer") as conn:
            conn.execute("drop table marts.grant_probe; drop table staging.grant_probe")
