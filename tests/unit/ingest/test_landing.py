"""Landing zone: only complete, well-named deliveries inside the root; payloads immutable."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path

import pytest

from oversight.ingest.landing import LandingError, discover_files, inside, store_payload

D = dt.date(2026, 11, 2)


def drop(root: Path, city: str, kind: str, data: bytes, *, ok: str | None = "", ext: str = "csv") -> Path:
    folder = root / city / kind
    folder.mkdir(parents=True, exist_ok=True)
    f = folder / f"{city}_{kind}_{D:%Y%m%d}.{ext}"
    f.write_bytes(data)
    if ok is not None:
        f.with_name(f.name + ".ok").write_text(ok)
    return f


def test_only_files_with_ok_marker_are_complete(tmp_path: Path) -> None:
    drop(tmp_path, "610100", "institutions", b"a\n")
    drop(tmp_path, "610400", "refunds", b"b\n", ok=None)  # still being written
    found = discover_files(tmp_path, D)
    assert [(f.city_code, f.kind) for f in found] == [("610100", "institutions")]


def test_unconfigured_city_directory_is_found_and_others_ignored(tmp_path: Path) -> None:
    drop(tmp_path, "440300", "complaints", b"x\n")  # Shenzhen: not configured anywhere
    (tmp_path / "notacity" / "complaints").mkdir(parents=True)
    drop(tmp_path, "610100", "fee_ledger", b"y\n", ext="txt")  # extension outside the contract
    assert [f.city_code for f in discover_files(tmp_path, D)] == ["440300"]


def test_marker_checksum_is_read(tmp_path: Path) -> None:
    data = b"col\n1\n"
    drop(tmp_path, "610100", "refunds", data, ok=hashlib.sha256(data).hexdigest().upper() + "  file.csv\n")
    (found,) = discover_files(tmp_path, D)
    assert found.marker_sha256 == hashlib.sha256(data).hexdigest()


def test_marker_with_garbage_is_an_error(tmp_path: Path) -> None:
    drop(tmp_path, "610100", "refunds", b"x", ok="not-a-digest")
    with pytest.raises(LandingError, match="not a SHA-256"):
        discover_files(tmp_path, D)


def test_symlink_escaping_the_root_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.csv"
    outside.write_text("secret")
    root = tmp_path / "landing"
    folder = root / "610100" / "refunds"
    folder.mkdir(parents=True)
    link = folder / f"610100_refunds_{D:%Y%m%d}.csv"
    os.symlink(outside, link)
    link.with_name(link.name + ".ok").write_text("")
    with pytest.raises(LandingError, match="outside the landing root"):
        discover_files(root, D)


def test_dotdot_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LandingError):
        inside(tmp_path / "root", tmp_path / "root" / ".." / "etc" / "passwd")


def test_store_is_content_addressed_and_read_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OVERSIGHT_STORE_DIR", str(tmp_path / "store"))
    first = store_payload(b"payload")
    again = store_payload(b"payload")
    assert first == again
    assert first.sha256 == hashlib.sha256(b"payload").hexdigest()
    assert first.path.read_bytes() == b"payload"
    assert not os.access(first.path, os.W_OK) or os.geteuid() == 0
    assert oct(first.path.stat().st_mode & 0o777) == "0o444"


def test_city_directory_symlinked_outside_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere" / "refunds"
    outside.mkdir(parents=True)
    f = outside / f"610100_refunds_{D:%Y%m%d}.csv"
    f.write_text("x")
    f.with_name(f.name + ".ok").write_text("")
    root = tmp_path / "landing"
    root.mkdir()
    os.symlink(tmp_path / "elsewhere", root / "610100")
    with pytest.raises(LandingError, match="outside the landing root"):
        discover_files(root, D)


def test_names_with_path_tricks_are_never_matched(tmp_path: Path) -> None:
    folder = tmp_path / "610100" / "refunds"
    folder.mkdir(parents=True)
    for name in ("..610100_refunds_20261102.csv", "610100_refunds_20261102.csv.bak", "610100_refunds_2026110.csv"):
        (folder / name).write_text("x")
        (folder / (name + ".ok")).write_text("")
    assert discover_files(tmp_path, D) == []


def test_unknown_city_code_is_not_a_delivery(tmp_path: Path) -> None:
    drop(tmp_path, "999999", "refunds", b"x\n")
    assert discover_files(tmp_path, D) == []
