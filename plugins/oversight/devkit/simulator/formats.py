"""How cities deliver: formats (CSV in their encodings, XLSX, JSONL) and value styles."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import re
import zipfile
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from oversight.contract.spec import SPECS

SHANGHAI = ZoneInfo("Asia/Shanghai")

# Delivery format per unit: (format, encoding, header language, date style, money style)
FORMATS: dict[str, tuple[str, str | None, str]] = {
    "610100": ("csv", "utf-8-sig", "zh"),
    "610200": ("csv", "gb18030", "zh"),
    "610300": ("xlsx", None, "zh"),
    "610400": ("jsonl", "utf-8", "en"),
    "610403": ("csv", "utf-8-sig", "zh"),
    "610500": ("csv", "utf-8", "en"),
    "610600": ("csv", "gb18030", "zh"),
    "610700": ("xlsx", None, "en"),
    "610800": ("csv", "utf-8", "zh"),
    "610900": ("jsonl", "utf-8", "zh"),
    "611000": ("csv", "gb18030", "zh"),
}
FORMAT_CYCLE = list(FORMATS.values())
SLASH_DATES = {"610200", "611000"}  # YYYY/MM/DD
COMPACT_DATES = {"610600"}  # YYYYMMDD
THOUSANDS = {"610800", "610300"}  # money as "1,234.50"
T_SEPARATOR = {"610500"}  # 2026-11-02T10:00:00
BOOL_STYLE = {"610100": ("是", "否"), "610200": ("是", "否"), "610300": ("Y", "N"), "610403": ("1", "0")}


def deterministic_zip(data: bytes) -> bytes:
    """The same archive with fixed member timestamps: the same seed gives the same bytes."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(2020, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl stamps the save time here
                content = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2020-01-01T00:00:00Z", content)
            target.writestr(fixed, content)
    return out.getvalue()


def render_value(city: str, col_type: str, value: Any, enum: dict[str, str], zh: bool) -> Any:
    if value is None:
        return None
    if isinstance(value, str) and col_type not in ("enum",):
        return value
    if col_type == "enum":
        return enum.get(value, value) if zh else value
    if col_type == "bool":
        yes, no = BOOL_STYLE.get(city, ("true", "false"))
        return yes if value else no
    if col_type == "date":
        if city in SLASH_DATES:
            return value.strftime("%Y/%m/%d")
        if city in COMPACT_DATES:
            return value.strftime("%Y%m%d")
        return value.isoformat()
    if col_type == "timestamp":
        return value.strftime("%Y-%m-%dT%H:%M:%S" if city in T_SEPARATOR else "%Y-%m-%d %H:%M:%S")
    if col_type == "money":
        return f"{value:,.2f}" if city in THOUSANDS else f"{value:.2f}"
    if col_type == "decimal":
        return f"{value:g}"
    return str(value)


def render(city: str, kind: str, rows: list[dict[str, Any]], fmt: tuple[str, str | None, str]) -> bytes:
    spec = SPECS[kind]
    kind_fmt, encoding, lang = fmt
    zh = lang == "zh"
    headers = [c.alias if zh else c.name for c in spec.columns]
    table = [[render_value(city, c.type, r.get(c.name), c.enum, zh) for c in spec.columns] for r in rows]
    if kind_fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow(headers)
        w.writerows([["" if v is None else v for v in row] for row in table])
        assert encoding is not None
        return buf.getvalue().encode(encoding)
    if kind_fmt == "jsonl":
        lines = []
        for row in table:
            obj = {h: v for h, v in zip(headers, row, strict=True) if v is not None}
            lines.append(json.dumps(obj, ensure_ascii=False))
        return ("\n".join(lines) + "\n").encode("utf-8")
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    book.properties.created = book.properties.modified = dt.datetime(2020, 1, 1)
    sheet = book.create_sheet(kind)
    sheet.append(headers)
    for row in table:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return deterministic_zip(out.getvalue())


def delivery_format(city: str, idx: int) -> tuple[str, str | None, str]:
    """``city``'s format; units without one of their own (outside Shaanxi) take the cycle by position."""
    return FORMATS.get(city, FORMAT_CYCLE[idx % len(FORMAT_CYCLE)])


def delivery_path(out: Path, city: str, kind: str, day: dt.date, fmt: tuple[str, str | None, str]) -> Path:
    return out / city / kind / f"{city}_{kind}_{day:%Y%m%d}.{fmt[0]}"


def ok_marker(data: bytes, idx: int, digest: str | None) -> str:
    """The .ok marker's content: ``digest`` when given (a spoiled file's).

    Otherwise the delivery's own sha256 for units at odd positions, and nothing for the others.
    """
    return digest if digest else (hashlib.sha256(data).hexdigest() if idx % 2 else "")


def arrival(day: dt.date, idx: int, late: bool) -> dt.datetime:
    """When the delivery lands, a Shanghai wall-clock time (not the host's local time).

    The next morning (a minute later per unit's position), or two days later when planted late.
    """
    arrived = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(7, 30 + idx), tzinfo=SHANGHAI)
    if late:
        arrived = dt.datetime.combine(day + dt.timedelta(days=2), dt.time(11, 0), tzinfo=SHANGHAI)
    return arrived


def write_delivery(target: Path, data: bytes, marker: str, arrived: dt.datetime) -> None:
    """The file, its .ok marker, both stamped with the arrival time."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    ok = target.with_name(target.name + ".ok")
    ok.write_text(marker)
    stamp = arrived.timestamp()
    os.utime(target, (stamp, stamp))
    os.utime(ok, (stamp, stamp))
