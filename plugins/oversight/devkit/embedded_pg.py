"""An embedded PostgreSQL 16 for a machine that has no database to offer.

Runs the real server binaries shipped by the ``pgserver`` wheel, with its data
under ``.local/pg``. It listens on 127.0.0.1 only, on a free port it picks and
records (so an existing server on 5432 never matters), with password
(SCRAM) authentication; the generated password lives in ``.local/secrets``.
As root, the server runs as the unprivileged system user ``pgserver`` (the
convention of the pgserver package), because PostgreSQL refuses to run as root.

Starting is idempotent and safe to call concurrently: a file lock serialises
start and stop, and a running server is reused.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import importlib.util
import os
import pwd
import secrets
import shlex
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from oversight.config import TIMEZONE, paths
from oversight.db.connection import WarehouseUnavailable

SERVICE_USER = "pgserver"
SUPERUSER = "postgres"
DATABASES = ("oversight", "airflow")


class EmbeddedPostgresError(WarehouseUnavailable):
    """The embedded server could not be initialised, started or stopped."""


def pg_bin_dir() -> Path:
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError("the pgserver package is not installed: run `make venv`, or set WAREHOUSE_URL")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Whether PostgreSQL could listen on ``port`` (it binds with SO_REUSEADDR, so TIME_WAIT is no obstacle)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _is_root() -> bool:
    return os.geteuid() == 0


def _ensure_service_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVICE_USER],
            check=True,
            capture_output=True,
            text=True,
        )
        return pwd.getpwnam(SERVICE_USER)


def _open_traversal(path: Path) -> None:
    """Let the service user reach ``path``: add o+x (traverse) to every parent."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


def _open_binaries(bin_dir: Path) -> None:
    """The wheel's binaries and libraries must be readable/executable by the service user."""
    install = bin_dir.parent
    _open_traversal(install)
    for dirpath, _dirnames, filenames in os.walk(install):
        d = Path(dirpath)
        d.chmod(d.stat().st_mode | stat.S_IROTH | stat.S_IXOTH)
        for name in filenames:
            f = d / name
            mode = f.stat().st_mode
            extra = stat.S_IROTH | (stat.S_IXOTH if mode & stat.S_IXUSR else 0)
            if mode & extra != extra:
                f.chmod(mode | extra)


@dataclass
class EmbeddedPostgres:
    base: Path  # .local/pg
    secrets_dir: Path  # .local/secrets

    @property
    def data_dir(self) -> Path:
        return self.base / "data"

    @property
    def run_dir(self) -> Path:
        return self.base / "run"

    @property
    def log_file(self) -> Path:
        return self.base / "log" / "postgres.log"

    @property
    def port_file(self) -> Path:
        return self.base / "port"

    @property
    def password_file(self) -> Path:
        return self.secrets_dir / "pg_superuser_password"

    # -- helpers -----------------------------------------------------------
    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        self.base.mkdir(parents=True, exist_ok=True)
        with open(self.base / ".lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _run(self, args: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, object] = {}
        if _is_root():
            user = _ensure_service_user()
            kwargs = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        proc: subprocess.CompletedProcess[str] = subprocess.run(  # noqa: PLW1510 - checked below, clearer message
            args,
            cwd=self.base,
            env=env,
            capture_output=True,
            text=True,
            start_new_session=True,
            **kwargs,  # type: ignore[call-overload]
        )
        if check and proc.returncode != 0:
            raise EmbeddedPostgresError(
                f"{Path(args[0]).name} failed (exit {proc.returncode}): "
                f"{(proc.stderr or proc.stdout).strip()[-2000:]}\n{self._log_tail()}"
            )
        return proc

    def _log_tail(self) -> str:
        try:
            lines = self.log_file.read_text(errors="replace").splitlines()[-15:]
        except OSError:
            return ""
        return "server log (last lines):\n" + "\n".join(lines)

    def password(self) -> str:
        if not self.password_file.exists():
            self.secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.secrets_dir.chmod(0o700)
            fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(24))
        return self.password_file.read_text().strip()

    def _prepare_dirs(self) -> None:
        bin_dir = pg_bin_dir()
        for d in (self.data_dir, self.run_dir, self.log_file.parent):
            d.mkdir(parents=True, exist_ok=True)
        if _is_root():
            user = _ensure_service_user()
            _open_binaries(bin_dir)
            _open_traversal(self.base)
            for d in (self.data_dir, self.run_dir, self.log_file.parent):
                os.chown(d, user.pw_uid, user.pw_gid)
        self.data_dir.chmod(0o700)
        self.run_dir.chmod(0o700)

    def _initdb(self) -> None:
        pwfile = self.base / ".pwfile"
        pwfile.write_text(self.password() + "\n")
        try:
            if _is_root():
                user = _ensure_service_user()
                os.chown(pwfile, user.pw_uid, user.pw_gid)
            pwfile.chmod(0o600)
            self._run(
                [
                    str(pg_bin_dir() / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    SUPERUSER,
                    "--pwfile",
                    str(pwfile),
                    "--auth-local=scram-sha-256",
                    "--auth-host=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--no-locale",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write(
                "\n# oversight embedded defaults\n"
                "max_connections = 200\n"
                "shared_buffers = 256MB\n"
                f"timezone = '{TIMEZONE}'\n"
                f"log_timezone = '{TIMEZONE}'\n"
            )

    def running_port(self) -> int | None:
        """Port of the server running on our data directory, or None."""
        pidfile = self.data_dir / "postmaster.pid"
        if not pidfile.exists():
            return None
        status = self._run([str(pg_bin_dir() / "pg_ctl"), "status", "-D", str(self.data_dir)], check=False)
        if status.returncode != 0:
            return None
        try:
            lines = pidfile.read_text().splitlines()
            return int(lines[3])
        except (OSError, IndexError, ValueError):
            return None

    def _choose_port(self) -> int:
        if self.port_file.exists():
            with contextlib.suppress(ValueError):
                recorded = int(self.port_file.read_text().strip())
                if port_is_free(recorded):
                    return recorded
        return free_port()

    # -- public API --------------------------------------------------------
    def ensure_running(self) -> int:
        """Initialise (first time) and start the server if needed; return its port."""
        with self._lock():
            port = self.running_port()
            if port is not None:
                return port
            self._prepare_dirs()
            if not (self.data_dir / "PG_VERSION").exists():
                self._initdb()
            port = self._choose_port()
            opts = (
                f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={shlex.quote(str(self.run_dir))}"
            )
            self._run(
                [
                    str(pg_bin_dir() / "pg_ctl"),
                    "start",
                    "-w",
                    "-t",
                    "60",
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_file),
                    "-o",
                    opts,
                ]
            )
            self.port_file.write_text(f"{port}\n")
            self._ensure_databases(port)
            return port

    def _ensure_databases(self, port: int) -> None:
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                conn = psycopg.connect(self.url("postgres", port), autocommit=True)
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        with conn:
            existing = {r[0] for r in conn.execute("select datname from pg_database")}
            for name in DATABASES:
                if name not in existing:
                    conn.execute(f'create database "{name}"')

    def stop(self) -> bool:
        """Stop the server if it runs. Returns True when a server was stopped."""
        with self._lock():
            if self.running_port() is None:
                return False
            self._run([str(pg_bin_dir() / "pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(self.data_dir)])
            return True

    def url(self, database: str = "oversight", port: int | None = None) -> str:
        if port is None:
            port = self.ensure_running()
        return f"postgresql://{SUPERUSER}:{quote(self.password(), safe='')}@127.0.0.1:{port}/{database}"


@functools.cache
def warehouse() -> EmbeddedPostgres:
    """The embedded server under ``.local/pg`` (the warehouse when ``OVERSIGHT_EMBEDDED_WAREHOUSE=1``)."""
    p = paths()
    return EmbeddedPostgres(base=p.pg, secrets_dir=p.secrets)
