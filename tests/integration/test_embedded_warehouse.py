"""The embedded PostgreSQL: real server, own port, survives restarts."""

from __future__ import annotations

import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from oversight.devkit.embedded_pg import EmbeddedPostgres, pg_bin_dir
from tests.support.runtime import TEST_LOCAL, run_cli


def test_db_url_connects_with_psql(warehouse_url: str) -> None:
    result = run_cli("db-url")
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip()
    assert url.startswith("postgresql://") and "@127.0.0.1:" in url
    psql = subprocess.run(
        [str(pg_bin_dir() / "psql"), url, "-tAc", "select current_database(), version()"],
        capture_output=True,
        text=True,
        check=True,
    )
    database, version = psql.stdout.strip().split("|")
    assert database == "oversight"
    assert version.startswith("PostgreSQL 16")


def test_listens_on_loopback_only_with_password(warehouse_url: str) -> None:
    with psycopg.connect(warehouse_url) as conn:
        listen = conn.execute("show listen_addresses").fetchone()
        assert listen == ("127.0.0.1",)
        methods = {r[0] for r in conn.execute("select auth_method from pg_hba_file_rules where type = 'host'")}
    assert methods == {"scram-sha-256"}
    wrong = warehouse_url.replace(warehouse_url.split(":")[2].split("@", maxsplit=1)[0], "not-the-password")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong).close()


@pytest.fixture
def own_dir() -> Iterator[Path]:
    """A folder under .local/test (not pytest's tmp, whose parent pytest keeps at mode 0700: the
    unprivileged server user could not reach it)."""
    folder = TEST_LOCAL / f"own-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def own_server(own_dir: Path) -> Iterator[EmbeddedPostgres]:
    """A server of its own: stopping it must not pull the shared test server from under other tests."""
    server = EmbeddedPostgres(base=own_dir / "pg", secrets_dir=own_dir / "secrets")
    try:
        yield server
    finally:
        server.stop()


def test_restart_moves_off_a_taken_port_and_keeps_data(own_server: EmbeddedPostgres) -> None:
    server = own_server
    with psycopg.connect(server.url("oversight"), autocommit=True) as conn:
        conn.execute("create table if not exists public.restart_probe (v int)")
        conn.execute("truncate public.restart_probe")
        conn.execute("insert into public.restart_probe values (42)")
    old_port = server.ensure_running()
    assert server.stop() is True
    assert server.running_port() is None
    # someone else takes our recorded port while we are down (as a server on 5432 would)
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind(("127.0.0.1", old_port))
    squatter.listen()
    try:
        new_port = server.ensure_running()
    finally:
        squatter.close()
    assert new_port != old_port
    with psycopg.connect(server.url("oversight"), autocommit=True) as conn:
        assert conn.execute("select v from public.restart_probe").fetchone() == (42,)
        conn.execute("drop table public.restart_probe")
    # and a second start is a no-op returning the same server
    assert server.ensure_running() == new_port


def test_db_status_and_stop_via_cli(own_dir: Path) -> None:
    env = {"OVERSIGHT_LOCAL_DIR": str(own_dir / "local")}
    try:
        assert run_cli("db", "status", env=env).stdout.strip() == "not running"
        assert run_cli("db-url", env=env).returncode == 0  # started on demand by whatever needs it
        assert "running on 127.0.0.1:" in run_cli("db", "status", env=env).stdout
        assert run_cli("db", "stop", env=env).stdout.strip() == "stopped"
        assert run_cli("db", "status", env=env).stdout.strip() == "not running"
    finally:
        run_cli("db", "stop", env=env)
