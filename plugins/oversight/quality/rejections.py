"""Rejection report per city and business date, for the city's data team.

What was rejected (whole deliveries and single rows), where (file, row,
column, value as delivered), why (the rule and its message) and how to fix it,
as CSV (UTF-8 with BOM, opens in Excel) and Markdown. Every cell that a
spreadsheet would read as a formula (= + - @, tab, carriage return) is
neutralised with a leading apostrophe.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

from oversight.contract.rules import RULES
from oversight.contract.spec import SPECS
from oversight.db.connection import connect
from oversight.ingest.parsing import normalise_header

# what the parser and the checksum reject; each rule of the contract declares its own hint
HOW_TO_FIX = {
    "encoding": "导出为 UTF-8 或 GB18030 编码 / export the file as UTF-8 or GB18030",
    "truncated": "文件不完整，请重新生成并重新投递 / the file is incomplete: regenerate and deliver it again",
    "checksum": "文件与 .ok 中的 SHA-256 不符，请在写完文件后再写 .ok / write the .ok marker only after the file",
    "bad_xlsx": "请用标准 XLSX 格式另存 / save as a standard .xlsx workbook",
    "xlsx_bomb": "请用标准 XLSX 格式另存 / save as a standard .xlsx workbook",
    "not_json": "每行一个 JSON 对象 / one JSON object per line",
    "empty_file": "至少包含表头行 / deliver at least the header row",
    "duplicate_column": "删除重复列 / remove the duplicated column",
    "empty_header": "为每列填写列名 / give every column a header",
    "field_count": "该行列数与表头不符 / the row has a different number of fields than the header",
    **{rule.reason: rule.how_to_fix for rule in RULES},
}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
COLUMNS = [
    "business_date",
    "city_code",
    "kind",
    "file",
    "row_number",
    "column",
    "value",
    "rule",
    "message",
    "how_to_fix",
]


def safe_cell(value: object) -> str:
    """Text a spreadsheet shows as text, never evaluates."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def delivered_value(kind: str, column: str | None, values: dict[str, str | None]) -> str | None:
    """The value of canonical ``column`` as delivered (under its English or Chinese header)."""
    if column is None:
        return None
    wanted = {normalise_header(column), normalise_header(SPECS[kind].column(column).alias)}
    return next((v for k, v in values.items() if normalise_header(k) in wanted), None)


def collect(city_code: str, business_date: dt.date) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    with connect("loader") as conn:
        for kind, name, reason in conn.execute(
            "select kind, original_name, status_reason from landing.deliveries"
            " where city_code = %s and business_date = %s and status = 'rejected' order by kind, delivery_id",
            (city_code, business_date),
        ):
            code, _, message = (reason or "").partition(": ")
            entries.append(
                {
                    "kind": kind,
                    "file": name,
                    "row_number": None,
                    "column": None,
                    "value": None,
                    "rule": code,
                    "message": message,
                    "how_to_fix": HOW_TO_FIX.get(code, ""),
                }
            )
        for kind, name, row_number, values, reasons in conn.execute(
            """
            select q.kind, d.original_name, q.row_number, q.delivered_values, q.reasons
            from quarantine.rows q join landing.deliveries d using (delivery_id)
            where q.source_city_code = %s and q.business_date = %s and d.status = 'published'
            order by q.kind, q.row_number
            """,
            (city_code, business_date),
        ):
            for r in reasons:
                column = r.get("column")
                entries.append(
                    {
                        "kind": kind,
                        "file": name,
                        "row_number": row_number,
                        "column": column,
                        "value": delivered_value(kind, column, values),
                        "rule": r["rule"],
                        "message": r["message"],
                        "how_to_fix": HOW_TO_FIX.get(r["rule"], ""),
                    }
                )
    for e in entries:
        e["business_date"] = business_date.isoformat()
        e["city_code"] = city_code
    return entries


def write_report(city_code: str, business_date: dt.date, out_dir: Path) -> tuple[Path, Path, int]:
    entries = collect(city_code, business_date)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"rejections_{city_code}_{business_date:%Y%m%d}"
    csv_path = out_dir / f"{stem}.csv"
    with csv_path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for e in entries:
            writer.writerow([safe_cell(e.get(c)) for c in COLUMNS])
    md_path = out_dir / f"{stem}.md"
    lines = [f"# 退回与隔离报告 Rejections: {city_code}, {business_date}", ""]
    if not entries:
        lines.append("Nothing was rejected. 无退回数据。")
    else:
        lines += [
            "| kind | file | row | column | value | rule | message | how to fix |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for e in entries:
            cells = [
                e["kind"],
                e["file"],
                e["row_number"],
                e["column"],
                e["value"],
                e["rule"],
                e["message"],
                e["how_to_fix"],
            ]
            lines.append("| " + " | ".join(_md("" if c is None else str(c)) for c in cells) + " |")
    md_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return csv_path, md_path, len(entries)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def cities_with_rejections(business_date: dt.date) -> list[str]:
    """Cities that had a delivery rejected or a row quarantined for ``business_date``."""
    with connect("loader") as conn:
        rows = conn.execute(
            """
            select distinct d.city_code
            from landing.deliveries d
            left join audit.loads l using (delivery_id)
            where d.business_date = %s
              and (d.status = 'rejected' or (d.status = 'published' and l.rows_quarantined > 0))
            order by 1
            """,
            (business_date,),
        ).fetchall()
    return [r[0] for r in rows]


def write_reports_for_date(business_date: dt.date, out_root: Path) -> list[Path]:
    """One report (CSV + Markdown) per city with rejections on the date, under ``out_root/<date>/``."""
    written: list[Path] = []
    for city in cities_with_rejections(business_date):
        csv_path, md_path, _ = write_report(city, business_date, out_root / business_date.isoformat())
        written += [csv_path, md_path]
    return written
