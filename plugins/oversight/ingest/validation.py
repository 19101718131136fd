"""Row-level validation of a delivery against the contract, vectorised with pandas.

Each rule of ``oversight.contract.spec`` is evaluated on whole columns at once; only
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
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from stdnum.cn import uscc

from oversight.contract.spec import Column, ExtractSpec, When
from oversight.ingest.parsing import RawTable, RejectedDelivery

BOOLEANS = {"true": "t", "false": "f", "1": "t", "0": "f", "y": "t", "n": "f", "是": "t", "否": "f"}
# RE2 patterns (pyarrow), anchored
DATE_RE = r"^(?:\d{4}-\d{2}-\d{2}|\d{4}/\d{2}/\d{2}|\d{8})$"
TIMESTAMP_RE = r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}$"
MONEY_RE = r"^-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d{1,2})?$"
DECIMAL_RE = r"^-?\d+(?:\.\d+)?$"
EXCEL_SERIAL_RE = r"^\d{5}(?:\.0+)?$"
MAX_SHOWN = 80  # longest value quoted in a message


@dataclass(frozen=True)
class Reason:
    rule: str
    column: str | None
    message: str

    def as_dict(self) -> dict[str, str | None]:
        return {"rule": self.rule, "column": self.column, "message": self.message}


def _shown(value: object) -> str:
    text = str(value)
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "…"


def failure_key(rule: str, column: str | None) -> str:
    return f"{rule}:{column or ''}"


class UndeclaredRule(RuntimeError):
    """The suite declares a rule the vectorised engine does not evaluate (or the reverse)."""


class _Collector:
    def __init__(self, n: int, declared: frozenset[tuple[str, str | None]] | None) -> None:
        self.n = n
        self.declared = declared
        self.reasons: dict[int, list[Reason]] = {}
        self.failures: dict[str, int] = {}
        self.evaluated: list[str] = []

    def add(
        self,
        rule: str,
        column: str | None,
        mask: np.ndarray,
        message: Callable[[int], str],
    ) -> None:
        if self.declared is not None and (rule, column) not in self.declared:
            return  # the suite (GX, the declared source of the rules) does not ask for it
        key = failure_key(rule, column)
        self.evaluated.append(key)
        idx = np.flatnonzero(np.asarray(mask, dtype=bool))
        if len(idx) == 0:
            return
        self.failures[key] = self.failures.get(key, 0) + len(idx)
        for i in idx.tolist():
            self.reasons.setdefault(i, []).append(Reason(rule, column, message(i)))


def _enum_lookup(col: Column) -> dict[str, str]:
    lookup: dict[str, str] = {}
    for code, label in col.enum.items():
        lookup[code.casefold()] = code
        lookup[label.casefold()] = code
    return lookup


@dataclass
class CheckedColumn:
    present: np.ndarray  # bool: a non-blank value was delivered
    text: pa.Array  # stripped text (null when blank)
    copy: pa.Array  # value formatted for COPY (null when null or invalid)
    number: np.ndarray | None = None  # float (NaN when null), for money/decimal
    when: np.ndarray | None = None  # datetime64[s] (NaT when null), for dates/timestamps

    def shown(self, i: int) -> str:
        value = self.text[i].as_py()
        return "" if value is None else _shown(value)


@dataclass
class ValidationResult:
    spec: ExtractSpec
    rows_delivered: int
    valid: pa.Table  # row_number, canonical columns formatted for COPY, extra_columns
    quarantined: list[dict[str, Any]]  # row_number, delivered_values, reasons
    rule_failures: dict[str, int] = field(default_factory=dict)  # "rule:column" -> rows failing it
    rules_evaluated: list[str] = field(default_factory=list)
    checked: dict[str, CheckedColumn] = field(default_factory=dict)  # per column, for the GX frame
    reused_keys: dict[str, dt.date] = field(default_factory=dict)  # movement ids delivered on another day


@lru_cache(maxsize=1 << 18)
def canonical_uscc(value: str) -> str | None:
    """The code in canonical form when it is a valid unified social credit code (python-stdnum), else None.
    Cached: the same institutions appear in every delivery."""
    compact = value.replace(" ", "").upper()
    return compact if uscc.is_valid(compact) else None


def _mask(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Arrow booleans to a numpy mask, null meaning False."""
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


def _lookup(text: pa.Array, mapping: dict[str, str]) -> pa.Array:
    keys = pa.array(list(mapping), pa.string())
    values = pa.array(list(mapping.values()), pa.string())
    return pc.take(values, pc.index_in(text, value_set=keys))


def _only(values: pa.Array, keep: np.ndarray) -> pa.Array:
    return pc.if_else(pa.array(keep), values, pa.scalar(None, values.type))


def _parse_time(text: pa.Array, shape: np.ndarray, fmt: str) -> tuple[np.ndarray, pa.Array]:
    """(datetime64 values, ISO text for COPY); a value that does not round-trip (2026-02-30) is invalid."""
    candidate = _only(text, shape)
    if fmt == "%Y%m%d":
        candidate = pc.replace_substring_regex(candidate, "[-/]", "")
        parsed = pc.strptime(candidate, format=fmt, unit="s", error_is_null=True)
        iso = pc.cast(pc.cast(parsed, pa.date32()), pa.string())
        round_trip = _mask(pc.equal(pc.replace_substring(iso, "-", ""), candidate))
    else:
        candidate = pc.replace_substring(candidate, "T", " ")
        parsed = pc.strptime(candidate, format=fmt, unit="s", error_is_null=True)
        iso = pc.cast(parsed, pa.string())
        round_trip = _mask(pc.equal(iso, candidate))
    parsed = _only(parsed, round_trip)
    when = np.asarray(parsed.to_numpy(zero_copy_only=False), dtype="datetime64[s]")
    return when, _only(iso, round_trip)


def _check_column(col: Column, raw: pa.Array, label: str, errors: _Collector) -> CheckedColumn:
    trimmed = pc.utf8_trim_whitespace(raw)  # 全角 spaces too
    text = pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)
    present = _mask(pc.is_valid(text))
    checked = CheckedColumn(present=present, text=text, copy=text)

    def bad_value(rule: str, mask: np.ndarray, expectation: str) -> None:
        errors.add(rule, col.name, mask, lambda i: f"column {label} value '{checked.shown(i)}' {expectation}")

    t = col.type
    if t == "code6":
        bad_value(
            "format", present & ~_mask(pc.match_substring_regex(text, r"^\d{6}$")), "is not a 6-digit division code"
        )
    elif t == "uscc":
        canonical = {u: c for u in pc.unique(text).to_pylist() if u is not None and (c := canonical_uscc(u))}
        checked.copy = _lookup(text, canonical)
        bad_value(
            "check_character",
            present & ~_mask(pc.is_valid(checked.copy)),
            "is not a valid unified social credit code (length, characters or check character)",
        )
    elif t in ("enum", "bool"):
        mapping = _enum_lookup(col) if t == "enum" else BOOLEANS
        checked.copy = _lookup(pc.utf8_lower(text), mapping)
        ok = _mask(pc.is_valid(checked.copy))
        if t == "enum":
            allowed = ", ".join(f"{code}/{label_}" for code, label_ in col.enum.items())
            bad_value("enumeration", present & ~ok, f"is not one of {allowed}")
        else:
            bad_value("boolean", present & ~ok, "is not a boolean (true/false, 1/0, Y/N, 是/否)")
    elif t == "date":
        shape = _mask(pc.match_substring_regex(text, DATE_RE))
        checked.when, checked.copy = _parse_time(text, shape, "%Y%m%d")
        serial = _mask(pc.match_substring_regex(text, EXCEL_SERIAL_RE))
        errors.add(
            "date",
            col.name,
            present & np.isnat(checked.when),
            lambda i: (
                f"column {label} value '{checked.shown(i)}' is not a date (YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD)"
                + ("; it looks like an Excel serial number: format the cells as dates or text" if serial[i] else "")
            ),
        )
    elif t == "timestamp":
        shape = _mask(pc.match_substring_regex(text, TIMESTAMP_RE))
        checked.when, checked.copy = _parse_time(text, shape, "%Y-%m-%d %H:%M:%S")
        bad_value("timestamp", present & np.isnat(checked.when), "is not a timestamp YYYY-MM-DD HH:MM:SS")
    elif t in ("money", "decimal"):
        shape = _mask(pc.match_substring_regex(text, MONEY_RE if t == "money" else DECIMAL_RE))
        cleaned = pc.replace_substring(_only(text, shape), ",", "")
        checked.number = np.asarray(pc.cast(cleaned, pa.float64()).to_numpy(zero_copy_only=False), dtype=float)
        checked.copy = cleaned
        expectation = "is not an amount in yuan (at most 2 decimals)" if t == "money" else "is not a number"
        bad_value("amount" if t == "money" else "number", present & ~shape, expectation)
    return checked


def _condition(when: When, checked: dict[str, CheckedColumn]) -> np.ndarray:
    other = checked[when.column].copy
    hit = _mask(pc.is_in(other, value_set=pa.array(list(when.values), pa.string())))
    return ~hit & _mask(pc.is_valid(other)) if when.negate else hit


def validate(
    spec: ExtractSpec,
    table: RawTable,
    city_code: str,
    business_date: dt.date,
    *,
    reused_keys: Callable[[Iterable[str]], dict[str, dt.date]] | None = None,
    declared: frozenset[tuple[str, str | None]] | None = None,
) -> ValidationResult:
    """Validate ``table`` as ``spec`` delivered by ``city_code`` for ``business_date``.

    ``declared``: the (rule, column) pairs of the kind's GX suite; only those are
    evaluated, and a declared pair the engine cannot evaluate is an error. None
    evaluates every rule of the spec (the suite is generated from it)."""
    n = table.num_rows
    if spec.kind == "institutions" and n + len(table.misfits) == 0:
        raise RejectedDelivery(
            "empty_snapshot", "an institutions snapshot lists every supervised institution; it is empty"
        )
    arrays = table.data
    errors = _Collector(n, declared)
    labels = {c.name: table.delivered_headers.get(c.name, c.name) for c in spec.columns}
    numbers = (
        np.asarray(table.row_numbers.to_numpy(), dtype=np.int32)
        if table.row_numbers is not None
        else np.arange(1, n + 1, dtype=np.int32)
    )

    checked: dict[str, CheckedColumn] = {}
    nulls = pa.nulls(n, pa.string())
    for col in spec.columns:
        checked[col.name] = _check_column(col, arrays.get(col.name, nulls), labels[col.name], errors)

    day = np.datetime64(business_date, "s")
    next_day = day + np.timedelta64(1, "D")
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
        if c.number is not None and (col.positive or col.non_negative):
            with np.errstate(invalid="ignore"):
                wrong = c.number <= 0 if col.positive else c.number < 0
            bound = "> 0" if col.positive else ">= 0"
            errors.add(
                "positive" if col.positive else "non_negative",
                col.name,
                wrong,
                lambda i, c=c, label=label, bound=bound: f"column {label} value '{c.shown(i)}' must be {bound}",
            )
        if c.when is not None and col.not_after_d:
            late = c.when >= next_day if col.type == "timestamp" else c.when > day
            errors.add(
                "not_after_business_date",
                col.name,
                late,
                lambda i, c=c, label=label: (
                    f"column {label} value '{c.shown(i)}' is after the business date {business_date}"
                ),
            )
        if c.when is not None and col.on_d:
            valid = ~np.isnat(c.when)
            errors.add(
                "on_business_date",
                col.name,
                valid & ((c.when < day) | (c.when >= next_day)),
                lambda i, c=c, label=label: (
                    f"column {label} value '{c.shown(i)}' is not on the business date {business_date}"
                ),
            )
        if col.equals_city:
            errors.add(
                "city_code",
                col.name,
                c.present & ~_mask(pc.equal(c.text, city_code)),
                lambda i, c=c, label=label: (
                    f"column {label} value '{c.shown(i)}' is not the delivering city {city_code}"
                ),
            )
        if col.unique:
            key = pd.Series((c.copy if col.type == "uscc" else c.text).to_numpy(zero_copy_only=False), dtype="object")
            dup = (key.notna() & key.duplicated(keep=False)).to_numpy()
            positions: dict[str, list[int]] = {}
            for i in np.flatnonzero(dup).tolist():
                positions.setdefault(key.iat[i], []).append(i + 1)
            errors.add(
                "duplicate_key",
                col.name,
                dup,
                lambda i, key=key, label=label, positions=positions: (
                    f"column {label} value '{key.iat[i]}' appears in rows "
                    f"{', '.join(map(str, positions[key.iat[i]][:10]))} of this delivery; keys must be unique"
                ),
            )
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
                wrong,
                lambda i, c=c, o=o, label=label, other=labels[other_name], word=word: (
                    f"column {label} value '{c.shown(i)}' must be {word} {other} '{o.shown(i)}'"
                ),
            )

    if spec.kind == "refunds":
        req, done = checked["requested_amount_yuan"], checked["refunded_amount_yuan"]
        assert req.number is not None and done.number is not None
        with np.errstate(invalid="ignore"):
            exceeds = (done.number > req.number) & (req.number > 0)  # a non-positive request has its own reason
        errors.add(
            "refund_exceeds_request",
            "refunded_amount_yuan",
            exceeds,
            lambda i: (
                f"column {labels['refunded_amount_yuan']} value '{done.shown(i)}' exceeds "
                f"{labels['requested_amount_yuan']} '{req.shown(i)}'"
            ),
        )

    seen: dict[str, dt.date] = {}
    if spec.kind == "fee_ledger" and reused_keys is not None and n:
        ids = checked["movement_id"].text
        seen = reused_keys([v for v in pc.unique(ids).to_pylist() if v is not None])
        reused = _mask(pc.is_in(ids, value_set=pa.array(list(seen), pa.string())))
        errors.add(
            "movement_id_reused",
            "movement_id",
            reused,
            lambda i: (
                f"column {labels['movement_id']} value '{ids[i].as_py()}' was already delivered for "
                f"{seen[ids[i].as_py()]}; a movement_id is unique per city for ever"
            ),
        )

    bad_rows = sorted(errors.reasons)
    delivered_names = [table.delivered_headers.get(name, name) for name in table.columns]
    quarantined = [
        {
            "row_number": int(numbers[i]),
            "delivered_values": dict(zip(delivered_names, table.row(i), strict=False)),
            "reasons": [r.as_dict() for r in errors.reasons[i]],
        }
        for i in bad_rows
    ]
    width = len(table.columns)
    for number, values in table.misfits.items():
        quarantined.append(
            {
                "row_number": number,
                "delivered_values": dict(zip(delivered_names, values, strict=False)),
                "reasons": [
                    Reason(
                        "field_count",
                        None,
                        f"row has {len(values)} fields but the header has {width} (truncated or misquoted row)",
                    ).as_dict()
                ],
            }
        )
    if table.misfits:
        errors.failures[failure_key("field_count", None)] = len(table.misfits)
        quarantined.sort(key=lambda q: int(str(q["row_number"])))
    if declared is not None:
        unevaluated = {failure_key(r, c) for r, c in declared} - set(errors.evaluated)
        if spec.kind == "fee_ledger" and (reused_keys is None or not n):
            unevaluated.discard(failure_key("movement_id_reused", "movement_id"))
        if unevaluated:
            raise UndeclaredRule(
                f"the {spec.kind} suite declares {sorted(unevaluated)} but the engine has no evaluator for them"
            )
    keep = np.ones(n, dtype=bool)
    keep[bad_rows] = False
    keep_arrow = pa.array(keep)
    columns = {"row_number": pa.array(numbers).filter(keep_arrow)}
    for name in spec.names:
        columns[name] = checked[name].copy.filter(keep_arrow)
    kept = int(keep.sum())
    if table.extra_columns:
        values = [arrays[k].filter(keep_arrow).to_pylist() for k in table.extra_columns]
        columns["extra_columns"] = pa.array(
            [
                json.dumps(
                    {k: v for k, v in zip(table.extra_columns, row, strict=True) if v not in (None, "")},
                    ensure_ascii=False,
                )
                for row in zip(*values, strict=True)
            ],
            pa.string(),
        )
    else:
        columns["extra_columns"] = pa.nulls(kept, pa.string())
    return ValidationResult(
        spec=spec,
        rows_delivered=n + len(table.misfits),
        valid=pa.table(columns),
        quarantined=quarantined,
        rule_failures=errors.failures,
        rules_evaluated=errors.evaluated,
        checked=checked,
        reused_keys=seen,
    )
