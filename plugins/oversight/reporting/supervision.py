"""Read ``marts.supervision_report`` (as the analyst role) and print it as a table.

``oversight run`` ends with the province's table for the last date; the demo report
includes the same figures. Chinese names are aligned by display width (a CJK
character takes two columns in a terminal).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from oversight.reporting.tables import markdown as markdown_table
from oversight.reporting.tables import pad, width

COLUMNS = (
    "as_of_date, scope_level, scope_code, scope_name, subject_baseline, deregistered, converted, reduced,"
    " reduction_rate, remaining_subject, remaining_nonprofit, remaining_supervised, remaining_model_contract,"
    " non_subject_active, non_subject_supervised, non_subject_supervision_rate, refund_students,"
    " refund_amount_yuan, refund_amount_cash_yuan, refund_amount_course_exchange_yuan,"
    " refund_amount_judicial_yuan, complaints_received, complaints_in_school, complaints_out_of_school,"
    " complaints_closed, complaint_closure_rate"
)


@dataclass(frozen=True)
class ReportTable:
    province_code: str
    as_of_date: dt.date
    rows: list[dict[str, Any]]  # the cities, then the province


def load(province_code: str | None = None, as_of: dt.date | None = None) -> list[ReportTable]:
    """The report of each province (or of ``province_code``) on ``as_of`` (default: its latest date)."""
    from oversight.db.connection import connect

    with connect("analyst") as conn:
        exists = conn.execute("select to_regclass('marts.supervision_report') is not null").fetchone()
        if not exists or not exists[0]:
            return []
        provinces = conn.execute(
            "select scope_code, max(as_of_date) from marts.supervision_report"
            " where scope_level = 'province' and (%s::text is null or scope_code = %s)"
            " and (%s::date is null or as_of_date <= %s) group by scope_code order by scope_code",
            (province_code, province_code, as_of, as_of),
        ).fetchall()
        tables = []
        for code, day in provinces:
            cur = conn.execute(
                f"select {COLUMNS} from marts.supervision_report where as_of_date = %s"
                " and ((scope_level = 'province' and scope_code = %s)"
                " or (scope_level = 'city' and left(scope_code, 2) = %s))"
                " order by scope_level, scope_code",
                (day, code, code),
            )
            names = [d.name for d in cur.description or []]
            rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
            tables.append(ReportTable(code, day, rows))
    return tables


def _pct(value: Decimal | None) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"


def _int(value: Any) -> str:
    return f"{int(value):,}"


def _yuan_million(value: Decimal) -> str:
    return f"{value / Decimal(1_000_000):,.2f}"


HEADERS = (
    ("地区", "scope"),
    ("基数", "baseline"),
    ("注销", "deregistered"),
    ("转非", "converted"),
    ("已压减", "reduced"),
    ("压减率", "rate"),
    ("剩余", "remaining"),
    ("剩余监管", "supervised"),
    ("示范合同", "contract"),
    ("非学科", "non-subject"),
    ("非学科监管", "supervised"),
    ("退费学生", "students"),
    ("退费(百万元)", "refunded M"),
    ("投诉线索", "complaints"),
    ("校内", "in-school"),
    ("校外", "out"),
    ("办结", "closed"),
)


def _figures(r: dict[str, Any]) -> list[str]:
    """One scope's figures, formatted, in the order of HEADERS (after the scope column)."""
    return [
        _int(r["subject_baseline"]),
        _int(r["deregistered"]),
        _int(r["converted"]),
        _int(r["reduced"]),
        _pct(r["reduction_rate"]),
        _int(r["remaining_subject"]),
        _int(r["remaining_supervised"]),
        _int(r["remaining_model_contract"]),
        _int(r["non_subject_active"]),
        _int(r["non_subject_supervised"]),
        _int(r["refund_students"]),
        _yuan_million(r["refund_amount_yuan"]),
        _int(r["complaints_received"]),
        _int(r["complaints_in_school"]),
        _int(r["complaints_out_of_school"]),
        _int(r["complaints_closed"]),
    ]


def render(table: ReportTable) -> str:
    """A fixed-width table: one line per city, then the province total."""
    lines: list[list[str]] = []
    for r in table.rows:
        lines.append([f"{r['scope_name']} {r['scope_code']}", *_figures(r)])
    heads = [zh for zh, _en in HEADERS]
    subheads = [en for _zh, en in HEADERS]
    sizes = [max(width(x) for x in col) for col in zip(heads, subheads, *lines, strict=True)]

    def fmt(cells: list[str]) -> str:
        return "  ".join(pad(c, sizes[i], right=i > 0) for i, c in enumerate(cells))

    rule = "-" * width(fmt(heads))
    out = [
        f"Supervision report, province {table.province_code}, as of {table.as_of_date}"
        " (marts.supervision_report; counts cumulative; rate = reduced / baseline)",
        fmt(heads),
        fmt(subheads),
        rule,
    ]
    for i, cells in enumerate(lines):
        if i == len(lines) - 1 and table.rows[-1]["scope_level"] == "province":
            out.append(rule)
        out.append(fmt(cells))
    return "\n".join(out)


def render_all(province_code: str | None = None, as_of: dt.date | None = None) -> str:
    tables = load(province_code, as_of)
    if not tables:
        return "Supervision report: marts.supervision_report is empty (the warehouse has not been built)."
    return "\n\n".join(render(t) for t in tables)


def markdown(province_code: str | None = None, as_of: dt.date | None = None) -> str:
    """The same figures as a Markdown table (demo report)."""
    tables = load(province_code, as_of)
    if not tables:
        return "_marts.supervision_report is empty._\n"
    parts = []
    for t in tables:
        parts.append(f"### Province {t.province_code}, as of {t.as_of_date}\n")
        rows = []
        for r in t.rows:
            bold = "**" if r["scope_level"] == "province" else ""
            rows.append([f"{bold}{r['scope_name']} {r['scope_code']}{bold}", *_figures(r)])
        parts.append(markdown_table([f"{zh} {en}" for zh, en in HEADERS], rows))
        parts.append("")
    return "\n".join(parts) + "\n"
