"""Landing zone: find complete file-drop deliveries and store payloads immutably.

Layout (contract 1a): ``<root>/<city>/<kind>/<city>_<kind>_<YYYYMMDD>.<ext>``,
complete once ``<same name>.ok`` exists. Only names matching the contract are
considered, and every path is resolved and checked to stay inside the landing
root, so a crafted name or symlink can never read or write elsewhere.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from oversight.config import paths
from oversight.contract.cities import is_known_city
from oversight.contract.files import CITY_CODE, FILE_NAME, KINDS, OK_SUFFIX


class LandingError(ValueError):
    """A delivery cannot be accepted as delivered (path, marker or checksum)."""


@dataclass(frozen=True)
class FileDelivery:
    city_code: str
    kind: str
    business_date: dt.date
    path: str  # absolute path inside the landing root
    original_name: str
    marker_sha256: str | None  # the SHA-256 the .ok marker declares, if any
    delivered_at: dt.datetime | None = None  # when the .ok marker was written

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["business_date"] = self.business_date.isoformat()
        d["delivered_at"] = self.delivered_at.isoformat() if self.delivered_at else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FileDelivery:
        at = d.get("delivered_at")
        return cls(
            **{
                **d,
                "business_date": dt.date.fromisoformat(d["business_date"]),
                "delivered_at": dt.datetime.fromisoformat(at) if at else None,
            }
        )


def inside(root: Path, candidate: Path) -> Path:
    """``candidate`` resolved, or LandingError when it leaves ``root``."""
    real_root = root.resolve()
    real = candidate.resolve()
    if real != real_root and real_root not in real.parents:
        raise LandingError(f"path {candidate} resolves outside the landing root {real_root}")
    return real


def _marker_digest(marker: Path) -> str | None:
    text = marker.read_text(encoding="ascii", errors="replace").strip().split()
    if not text:
        return None
    digest = text[0].lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise LandingError(f"marker {marker.name} holds {text[0]!r}, not a SHA-256 in hex")
    return digest


def discover_files(
    root: Path, business_date: dt.date, *, cities: set[str] | None = None, kinds: set[str] | None = None
) -> list[FileDelivery]:
    """Complete file-drop deliveries for ``business_date`` under ``root``.

    Any 6-digit city directory is scanned, configured or not. Files still being
    written (no ``.ok`` marker) are left for a later run.
    """
    if not root.is_dir():
        return []
    found: list[FileDelivery] = []
    stamp = business_date.strftime("%Y%m%d")
    for city_dir in sorted(root.iterdir()):
        if not (city_dir.is_dir() and CITY_CODE.match(city_dir.name) and is_known_city(city_dir.name)):
            continue  # kept on record by unrecognised_entries
        if cities is not None and city_dir.name not in cities:
            continue
        for kind in KINDS:
            if kinds is not None and kind not in kinds:
                continue
            kind_dir = city_dir / kind
            if not kind_dir.is_dir():
                continue
            for entry in sorted(kind_dir.iterdir()):
                m = FILE_NAME.match(entry.name)
                if not m or m["date"] != stamp or m["city"] != city_dir.name or m["kind"] != kind:
                    continue
                marker = entry.with_name(entry.name + OK_SUFFIX)
                if not marker.exists():
                    continue
                real = inside(root, entry)
                real_marker = inside(root, marker)
                found.append(
                    FileDelivery(
                        city_code=m["city"],
                        kind=kind,
                        business_date=business_date,
                        path=str(real),
                        original_name=entry.name,
                        marker_sha256=_marker_digest(real_marker),
                        delivered_at=dt.datetime.fromtimestamp(real_marker.stat().st_mtime, dt.UTC),
                    )
                )
    return found


def unrecognised_entries(root: Path) -> list[tuple[str, str]]:
    """Everything under the landing root that is not (part of) a delivery, with the reason.

    Names starting with "." or "_" are the platform's own (e.g. ``_simulation``) and skipped.
    """
    found: list[tuple[str, str]] = []
    if not root.is_dir():
        return found
    for entry in sorted(root.iterdir()):
        if entry.name.startswith((".", "_")):
            continue
        if not entry.is_dir():
            found.append((str(entry), "a file at the landing root: deliveries go to <city>/<kind>/"))
        elif not (CITY_CODE.match(entry.name) and is_known_city(entry.name)):
            found.append((str(entry), f"directory {entry.name!r} is not a known city code (GB/T 2260)"))
        else:
            for kind_dir in sorted(entry.iterdir()):
                if kind_dir.name not in KINDS or not kind_dir.is_dir():
                    found.append((str(kind_dir), f"{kind_dir.name!r} is not an extract kind ({', '.join(KINDS)})"))
                    continue
                for f in sorted(kind_dir.iterdir()):
                    name = f.name.removesuffix(OK_SUFFIX)
                    m = FILE_NAME.match(name)
                    if not m:
                        found.append((str(f), "name does not follow <city>_<kind>_<YYYYMMDD>.<csv|xlsx|jsonl>"))
                    elif m["city"] != entry.name or m["kind"] != kind_dir.name:
                        found.append(
                            (str(f), f"file of {m['city']}/{m['kind']} filed under {entry.name}/{kind_dir.name}")
                        )
    return found


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def store_dir() -> Path:
    return paths().store


@dataclass(frozen=True)
class StoredPayload:
    sha256: str
    bytes: int
    path: Path


def store_payload(data: bytes) -> StoredPayload:
    """Write ``data`` once under its SHA-256; the stored copy is read-only."""
    digest = hashlib.sha256(data).hexdigest()
    target = store_dir() / "sha256" / digest[:2] / digest
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o444)
        os.replace(tmp, target)
    return StoredPayload(sha256=digest, bytes=len(data), path=target)
