"""Row-level validation of a delivery against the contract, vectorised with pandas.

Each rule of ``oversight.spec`` is evaluated on whole columns at once; only
failing rows produce Python objects (their reasons). A row with any failure is
quarantined with every reason found, verbatim values and its row number; the
other rows come out typed and formatted for COPY into the raw table.

Reasons are machine-readable (``rule``, ``column``) and human-readable
(``message``, naming the column as the city delivered it).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from stdnum.cn import uscc

from oversight.parsing import RawTable, RejectedDelivery
from oversight.spec import Column, ExtractSpec, When

BOOLEANS = {"true": "t", "false": "f", "1": "t", "0": "f", "y": "t", "n": "f", "是": "t", "否": "f"}
DATE_RE = r"\d{4}([-/]?)\d{2}\1\d{2}"
TIMESTAMP_RE = r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}"
MONEY_RE = r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d{1,2})?"
DECIMAL_RE = r"-?\d+(?:\.\d+)?"
EXCEL_SERIAL_RE = r"\d{5}(?:\.0+)?"
MAX_SHOWN = 80  # longest value quoted in a message


@dataclass(frozen=True)
class Reason:
    rule: str
    column: str | None
    message: str

    def as_dict(self) -> dict[str, str | None]:
        return {"rule": self.rule, "column": self.column, "message": self.message}


@dataclass
class CheckedColumn:
    present: pd.Series  # bool: a non-blank value was delivered
    text: pd.Series  # stripped text or None
    copy: pd.Series  # value formatted for COPY (None for null)
    number: pd.Series | None = None  # float, for money/decimal
    when: pd.Series | None = None  # datetime64, for dates/timestamps
    parsed_ok: pd.Series | None = None


@dataclass
class ValidationResult:
    spec: ExtractSpec
    rows_delivered: int
    valid: pd.DataFrame  # canonical columns formatted for COPY, plus row_number and extra_columns
    quarantined: list[dict[str, Any]]  # row_number, delivered_values, reasons
    rule_failures: dict[str, int] = field(default_factory=dict)  # rule -> rows failing it
    rules_evaluated: list[str] = field(default_factory=list)


def _shown(value: object) -> str:
    text = str(value)
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "…"


class _Collector:
    def __init__(self, n: int) -> None:
        self.n = n
        self.reasons: dict[int, list[Reason]] = {}
        self.failures: dict[str, int] = {}
        self.evaluated: list[str] = []

    def add(
        self,
        rule: str,
        column: str | None,
        mask: pd.Series | np.ndarray,
        message: Callable[[int], str],
    ) -> None:
        self.evaluated.append(f"{rule}:{column}" if column else rule)
        idx = np.flatnonzero(np.asarray(mask, dtype=bool))
        if len(idx) == 0:
            return
        self.failures[rule] = self.failures.get(rule, 0) + len(idx)
        for i in idx.tolist():
            self.reasons.setdefault(i, []).append(Reason(rule, column, message(i)))


def _enum_lookup(col: Column) -> dict[str, str]:
    lookup: dict[str, str] = {}
    for code, label in col.enum.items():
        lookup[code.casefold()] = code
        lookup[label.casefold()] = code
    return lookup


def _check_column(col: Column, raw: pd.Series, label: str, errors: _Collector) -> CheckedColumn:
    text = raw.astype("object").where(raw.notna(), None)
    text = text.map(lambda v: v.strip() if isinstance(v, str) else v)
    text = text.where(text.notna() & (text != ""), None)
    present = text.notna()
    shown = text.where(present, "")

    def bad_value(rule: str, mask: pd.Series, expectation: str) -> None:
        errors.add(rule, col.name, mask, lambda i: f"column {label} value '{_shown(shown.iat[i])}' {expectation}")

    checked = CheckedColumn(present=present, text=text, copy=text)
    t = col.type
    if t == "code6":
        bad_value("format", present & ~text.fillna("").str.fullmatch(r"\d{6}"), "is not a 6-digit division code")
    elif t == "uscc":
        uniques = pd.unique(text.dropna())
        canonical = {}
        for u in uniques:
            compact = u.replace(" ", "").upper()
            if uscc.is_valid(compact):
                canonical[u] = compact
        copy = text.map(canonical)
        bad_value(
            "check_character",
            present & copy.isna(),
            "is not a valid unified social credit code (length, characters or check character)",
        )
        checked.copy = copy
    elif t == "enum":
        lookup = _enum_lookup(col)
        copy = text.fillna("").str.casefold().map(lookup)
        allowed = ", ".join(f"{code}/{label_}" for code, label_ in col.enum.items())
        bad_value("enumeration", present & copy.isna(), f"is not one of {allowed}")
        checked.copy = copy.where(present, None)
    elif t == "bool":
        copy = text.fillna("").str.casefold().map(BOOLEANS)
        bad_value("boolean", present & copy.isna(), "is not a boolean (true/false, 1/0, Y/N, 是/否)")
        checked.copy = copy.where(present, None)
    elif t == "date":
        s = text.fillna("")
        shape = s.str.fullmatch(DATE_RE)
        when = pd.to_datetime(
            s.str.replace(r"[-/]", "", regex=True).where(shape, None), format="%Y%m%d", errors="coerce"
        )
        ok = shape & when.notna()
        serial = s.str.fullmatch(EXCEL_SERIAL_RE)
        bad = present & ~ok
        errors.add(
            "date",
            col.name,
            bad,
            lambda i: (
                f"column {label} value '{_shown(shown.iat[i])}' is not a date (YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD)"
                + ("; it looks like an Excel serial number: format the cells as dates or text" if serial.iat[i] else "")
            ),
        )
        checked.when = when.where(ok)
        checked.parsed_ok = ok
        checked.copy = when.dt.strftime("%Y-%m-%d").where(ok, None)
    elif t == "timestamp":
        s = text.fillna("")
        shape = s.str.fullmatch(TIMESTAMP_RE)
        when = pd.to_datetime(s.str.replace("T", " ").where(shape, None), format="%Y-%m-%d %H:%M:%S", errors="coerce")
        ok = shape & when.notna()
        bad_value("timestamp", present & ~ok, "is not a timestamp YYYY-MM-DD HH:MM:SS")
        checked.when = when.where(ok)
        checked.parsed_ok = ok
        checked.copy = when.dt.strftime("%Y-%m-%d %H:%M:%S").where(ok, None)
    elif t in ("money", "decimal"):
        s = text.fillna("")
        pattern = MONEY_RE if t == "money" else DECIMAL_RE
        shape = s.str.fullmatch(pattern)
        cleaned = s.str.replace(",", "", regex=False).where(shape, None)
        number = pd.to_numeric(cleaned, errors="coerce")
        expectation = "is not an amount in yuan (at most 2 decimals)" if t == "money" else "is not a number"
        bad_value("amount" if t == "money" else "number", present & ~shape, expectation)
        checked.number = number
        checked.parsed_ok = shape
        checked.copy = cleaned
    return checked


def _condition(when: When, checked: dict[str, CheckedColumn]) -> pd.Series:
    other = checked[when.column].copy
    hit = other.isin(list(when.values))
    return ~hit & other.notna() if when.negate else hit


def validate(
    spec: ExtractSpec,
    table: RawTable,
    city_code: str,
    business_date: dt.date,
    *,
    reused_keys: Callable[[Iterable[str]], dict[str, dt.date]] | None = None,
) -> ValidationResult:
    """Validate ``table`` as ``spec`` delivered by ``city_code`` for ``business_date``."""
    n = len(table.rows)
    if spec.kind == "institutions" and n == 0:
        raise RejectedDelivery(
            "empty_snapshot", "an institutions snapshot lists every supervised institution; it is empty"
        )
    frame = (
        pd.DataFrame(table.rows, columns=table.columns, dtype="object") if n else pd.DataFrame(columns=table.columns)
    )
    errors = _Collector(n)
    labels = {c.name: table.delivered_headers.get(c.name, c.name) for c in spec.columns}

    if table.short_rows:
        width = len(table.columns)
        mask = np.zeros(n, dtype=bool)
        mask[list(table.short_rows)] = True
        errors.add(
            "field_count",
            None,
            mask,
            lambda i: f"row has {table.short_rows[i]} fields but the header has {width} (truncated or misquoted row)",
        )

    checked: dict[str, CheckedColumn] = {}
    for col in spec.columns:
        raw = frame[col.name] if col.name in frame.columns else pd.Series([None] * n, dtype="object")
        checked[col.name] = _check_column(col, raw, labels[col.name], errors)

    day = pd.Timestamp(business_date)
    next_day = day + pd.Timedelta(days=1)
    for col in spec.columns:
        c = checked[col.name]
        label = labels[col.name]
        if col.required is True:
            errors.add("required", col.name, ~c.present, lambda i, label=label: f"column {label} is required but empty")
        elif isinstance(col.required, When):
            cond = _condition(col.required, checked)
            why = col.required.describe()
            errors.add(
                "required_when",
                col.name,
                cond & ~c.present,
                lambda i, label=label, why=why: f"column {label} is required when {why}",
            )
        if col.positive and c.number is not None:
            errors.add(
                "positive",
                col.name,
                c.number.notna() & (c.number <= 0),
                lambda i, c=c, label=label: f"column {label} value '{c.text.iat[i]}' must be > 0",
            )
        if col.non_negative and c.number is not None:
            errors.add(
                "non_negative",
                col.name,
                c.number.notna() & (c.number < 0),
                lambda i, c=c, label=label: f"column {label} value '{c.text.iat[i]}' must be >= 0",
            )
        if col.not_after_d and c.when is not None:
            limit = next_day if col.type == "timestamp" else day
            late = c.when >= limit if col.type == "timestamp" else c.when > limit
            errors.add(
                "not_after_business_date",
                col.name,
                c.when.notna() & late,
                lambda i, c=c, label=label: (
                    f"column {label} value '{c.text.iat[i]}' is after the business date {business_date}"
                ),
            )
        if col.on_d and c.when is not None:
            errors.add(
                "on_business_date",
                col.name,
                c.when.notna() & ((c.when < day) | (c.when >= next_day)),
                lambda i, c=c, label=label: (
                    f"column {label} value '{c.text.iat[i]}' is not on the business date {business_date}"
                ),
            )
        if col.equals_city:
            errors.add(
                "city_code",
                col.name,
                c.present & (c.text != city_code),
                lambda i, c=c, label=label: (
                    f"column {label} value '{c.text.iat[i]}' is not the delivering city {city_code}"
                ),
            )
        if col.unique:
            key = c.copy if col.type == "uscc" else c.text
            dup = key.notna() & key.duplicated(keep=False)
            if dup.any():
                positions = pd.Series(np.arange(1, n + 1), index=key.index)[dup].groupby(key[dup]).apply(list)
                errors.add(
                    "duplicate_key",
                    col.name,
                    dup,
                    lambda i, key=key, label=label, positions=positions: (
                        f"column {label} value '{key.iat[i]}' appears in rows "
                        f"{', '.join(map(str, positions[key.iat[i]][:10]))} of this delivery; keys must be unique"
                    ),
                )
            else:
                errors.evaluated.append(f"duplicate_key:{col.name}")
        for other_name, strict in ((col.not_before, False), (col.after, True)):
            if other_name is None or c.when is None:
                continue
            o = checked[other_name]
            assert o.when is not None
            wrong = c.when <= o.when if strict else c.when < o.when
            word = "after" if strict else "on or after"
            errors.add(
                "order",
                col.name,
                c.when.notna() & o.when.notna() & wrong,
                lambda i, c=c, o=o, label=label, other=labels[other_name], word=word: (
                    f"column {label} value '{c.text.iat[i]}' must be {word} {other} '{o.text.iat[i]}'"
                ),
            )

    if spec.kind == "refunds":
        req, done = checked["requested_amount_yuan"], checked["refunded_amount_yuan"]
        assert req.number is not None and done.number is not None
        errors.add(
            "refund_exceeds_request",
            "refunded_amount_yuan",
            req.number.notna() & done.number.notna() & (done.number > req.number),
            lambda i: (
                f"column {labels['refunded_amount_yuan']} value '{done.text.iat[i]}' exceeds "
                f"{labels['requested_amount_yuan']} '{req.text.iat[i]}'"
            ),
        )

    if spec.kind == "fee_ledger" and reused_keys is not None and n:
        ids = checked["movement_id"].text
        seen = reused_keys(ids.dropna().unique().tolist())
        reused = ids.isin(list(seen))
        errors.add(
            "movement_id_reused",
            "movement_id",
            reused,
            lambda i: (
                f"column {labels['movement_id']} value '{ids.iat[i]}' was already delivered for "
                f"{seen[ids.iat[i]]}; a movement_id is unique per city for ever"
            ),
        )

    bad_rows = sorted(errors.reasons)
    quarantined = []
    delivered_names = [table.delivered_headers.get(name, name) for name in table.columns]
    for i in bad_rows:
        quarantined.append(
            {
                "row_number": i + 1,
                "delivered_values": dict(zip(delivered_names, table.rows[i], strict=False)),
                "reasons": [r.as_dict() for r in errors.reasons[i]],
            }
        )
    keep = np.ones(n, dtype=bool)
    keep[bad_rows] = False
    valid = pd.DataFrame({name: checked[name].copy[keep] for name in spec.names})
    valid.insert(0, "row_number", np.arange(1, n + 1)[keep])
    if table.extra_columns:
        extras = frame.loc[keep, table.extra_columns]
        valid["extra_columns"] = [
            json.dumps(
                {k: v for k, v in zip(table.extra_columns, row, strict=True) if v not in (None, "")}, ensure_ascii=False
            )
            for row in extras.itertuples(index=False, name=None)
        ]
    else:
        valid["extra_columns"] = None
    return ValidationResult(
        spec=spec,
        rows_delivered=n,
        valid=valid.reset_index(drop=True),
        quarantined=quarantined,
        rule_failures=errors.failures,
        rules_evaluated=errors.evaluated,
    )
