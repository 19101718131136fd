"""A real Airflow on loopback: api-server, scheduler, dag-processor and triggerer.

``running()`` starts the four components as children of this process with the
project's runtime environment, waits until the api-server reports them healthy,
and stops them together when the block ends. ``make airflow`` (``serve``) keeps
them up until Ctrl-C; ``oversight run`` drives its business dates through them.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from oversight.devkit.airflow_runtime import ADMIN_USER, airflow_env, ensure_metadata_db
from oversight.devkit.secrets import local_secret

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
HEALTH_KEYS = {"metadatabase", "scheduler", "triggerer", "dag_processor"}


class ServicesError(RuntimeError):
    """An Airflow component did not start, or died."""


def health(base_url: str) -> dict[str, str]:
    """Component -> status, from the api-server's health endpoint ({} when unreachable)."""
    try:
        with urllib.request.urlopen(f"{base_url}/api/v2/monitor/health", timeout=5) as resp:  # noqa: S310 - loopback
            body = json.load(resp)
    except (urllib.error.URLError, OSError, ValueError):
        return {}
    return {name: str(part.get("status")) for name, part in body.items() if isinstance(part, dict)}


@dataclass
class Services:
    """The running components; ``check()`` raises when one of them has exited."""

    env: dict[str, str]
    log_dir: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return self.env["AIRFLOW__API__BASE_URL"]

    def dead(self) -> list[str]:
        return [name for name, p in self.procs.items() if p.poll() is not None]

    def check(self) -> None:
        dead = self.dead()
        if dead:
            raise ServicesError(f"Airflow {', '.join(dead)} exited; see {self.log_dir}")

    def healthy(self) -> dict[str, str]:
        status = health(self.base_url)
        if status.keys() >= HEALTH_KEYS and all(status[k] == "healthy" for k in HEALTH_KEYS):
            return status
        return {}


def _die_with_parent() -> None:
    """In each child, before exec: SIGTERM when the process that started it dies (Linux
    ``PR_SET_PDEATHSIG``), so that no scheduler outlives an ``oversight run`` that was killed
    (SIGKILL skips its ``finally``) and goes on running tasks with a stale environment."""
    import ctypes

    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


def _stop(procs: Mapping[str, subprocess.Popen[bytes]]) -> None:
    for p in procs.values():
        if p.poll() is None:
            p.terminate()
    for p in procs.values():
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)


@contextlib.contextmanager
def running(
    extra_env: Mapping[str, str] | None = None,
    components: tuple[str, ...] = COMPONENTS,
    timeout: float = 240.0,
) -> Iterator[Services]:
    """The components up and healthy for the duration of the block (then stopped, whatever happened)."""
    ensure_metadata_db()
    env = {**os.environ, **airflow_env(), **(extra_env or {})}
    exe = str(Path(sys.executable).with_name("airflow"))
    log_dir = Path(env["AIRFLOW_HOME"]) / "logs" / "services"
    log_dir.mkdir(parents=True, exist_ok=True)
    services = Services(env=env, log_dir=log_dir)
    try:
        for name in components:
            cmd = [exe, *name.split()]
            log = open(log_dir / f"{name.replace(' ', '-')}.log", "ab")  # noqa: SIM115 - lives as long as the child
            services.procs[name] = subprocess.Popen(
                cmd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,  # noqa: PLW1509
            )
        deadline = time.monotonic() + timeout
        while not services.healthy():
            services.check()
            if time.monotonic() > deadline:
                raise ServicesError(f"Airflow not healthy after {timeout:.0f}s: {health(services.base_url)}")
            time.sleep(1)
        yield services
    finally:
        _stop(services.procs)


def serve(until_healthy: bool = False, timeout: float = 180.0) -> int:
    """``make airflow``: run the four components until Ctrl-C (or, ``until_healthy``, until healthy)."""
    stopping = False

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        with running(timeout=timeout) as services:
            status = services.healthy()
            password = local_secret("airflow_admin_password")
            print(f"Airflow UI: {services.base_url}  (user {ADMIN_USER}, password {password})")
            print(f"logs: {services.log_dir}/   Ctrl-C stops everything")
            print("healthy: " + ", ".join(f"{k}={status[k]}" for k in sorted(HEALTH_KEYS)))
            while not stopping and not until_healthy:
                services.check()
                time.sleep(1)
    except ServicesError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    return 0
