"""``make airflow``: a real scheduler, dag-processor, triggerer and api-server.

All four run as children of this process on 127.0.0.1 with the project's
runtime environment, and stop together (Ctrl-C, or when one of them dies).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import FrameType

from oversight.airflow_runtime import ADMIN_USER, airflow_env, ensure_metadata_db
from oversight.secrets_store import local_secret

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


def health(base_url: str) -> dict[str, str]:
    """Component -> status, from the api-server's health endpoint ({} when unreachable)."""
    try:
        with urllib.request.urlopen(f"{base_url}/api/v2/monitor/health", timeout=5) as resp:  # noqa: S310 - loopback
            body = json.load(resp)
    except (urllib.error.URLError, OSError, ValueError):
        return {}
    return {name: str(part.get("status")) for name, part in body.items() if isinstance(part, dict)}


def serve(until_healthy: bool = False, timeout: float = 180.0) -> int:
    """Run the four components; with ``until_healthy``, stop once all report healthy."""
    ensure_metadata_db()
    env = airflow_env()
    exe = str(Path(sys.executable).with_name("airflow"))
    log_dir = Path(env["AIRFLOW_HOME"]) / "logs" / "services"
    log_dir.mkdir(parents=True, exist_ok=True)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    for name in COMPONENTS:
        log = open(log_dir / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the child
        procs[name] = subprocess.Popen([exe, name], env=env, stdout=log, stderr=subprocess.STDOUT)

    base = env["AIRFLOW__API__BASE_URL"]
    print(f"Airflow UI: {base}  (user {ADMIN_USER}, password {local_secret('airflow_admin_password')})")
    print(f"logs: {log_dir}/   Ctrl-C stops everything")

    stopping = False

    def _stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    rc = 0
    deadline = time.monotonic() + timeout
    try:
        while not stopping:
            dead = [n for n, p in procs.items() if p.poll() is not None]
            if dead:
                print(f"{', '.join(dead)} exited; see {log_dir}", file=sys.stderr)
                rc = 1
                break
            if until_healthy:
                status = health(base)
                wanted = {"metadatabase", "scheduler", "triggerer", "dag_processor"}
                if wanted <= status.keys() and all(status[k] == "healthy" for k in wanted):
                    print("healthy: " + ", ".join(f"{k}={status[k]}" for k in sorted(wanted)))
                    break
                if time.monotonic() > deadline:
                    print(f"not healthy after {timeout:.0f}s: {status}", file=sys.stderr)
                    rc = 1
                    break
            time.sleep(1)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.terminate()
        for p in procs.values():
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
    return rc
