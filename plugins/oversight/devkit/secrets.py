"""Locally generated secrets (embedded default only), kept under ``.local/secrets``.

Nothing secret is committed: deployments pass their own values in the
environment; a fresh checkout generates its own on first use.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Callable

from oversight.config import paths


def _fernet_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def _token() -> str:
    return secrets.token_urlsafe(32)


GENERATORS: dict[str, Callable[[], str]] = {
    "fernet_key": _fernet_key,
    "jwt_secret": _token,
    "pseudonym_key": _token,
    "airflow_admin_password": lambda: secrets.token_urlsafe(12),
}


def local_secret(name: str) -> str:
    """Read (creating on first use, mode 0600) the local secret ``name``."""
    folder = paths().secrets
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = folder / name
    if not target.exists():
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process won the race; read its value
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(GENERATORS[name]())
    return target.read_text().strip()
