"""The rules of the city extract contract (version 1), each declared once.

A rule is one entry of ``RULES``: where it applies (extract kind, column, and a
condition on the row, if any), its vectorised check (numpy/pyarrow on whole
columns), the Great Expectations expectation that declares it, its machine
reason (the code stored with every quarantined row and every GX audit row), its
message (naming the column as the city delivered it) and a bilingual hint on
how to fix it.

Both engines are generated from this registry, and neither knows the other:

* the load path (``oversight.ingest.validation``) types each column, then
  evaluates the kind's rules and quarantines every failing row with its reasons;
* the GX suites (``oversight.quality.suites``, written by ``oversight gx
  generate``) hold one expectation per rule, tagged with its reason and column,
  so that GX's count of failing rows is set against the engine's per delivery.

Where the entries come from:

* a column's type and requiredness (``oversight.contract.spec``) imply its
  presence and format rules (``column_rules``);
* the "rule" column of section 3 (and the cases of section 4 it does not name)
  are listed in ``DECLARED``, one entry each.

Adding a rule is adding one entry (and its test): the engine evaluates it at
once, and ``oversight gx generate`` writes it into the kind's committed suite.

This package knows no stage: nothing here imports ingestion, quality, GX or the database.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from stdnum.cn import uscc

from oversight.contract.spec import SPECS, Column, ColumnType, ExtractSpec, When

# -- values (contract section 2) ------------------------------------------------------------

BOOLEANS: Final = {"true": "t", "false": "f", "1": "t", "0": "f", "y": "t", "n": "f", "是": "t", "否": "f"}
# RE2 patterns (pyarrow), anchored; Python's re reads them the same way (GX's custom expectations)
CODE6_RE: Final = r"^\d{6}$"
DATE_RE: Final = r"^(?:\d{4}-\d{2}-\d{2}|\d{4}/\d{2}/\d{2}|\d{8})$"
TIMESTAMP_RE: Final = r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}$"
MONEY_RE: Final = r"^-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d{1,2})?$"
DECIMAL_RE: Final = r"^-?\d+(?:\.\d+)?$"
EXCEL_SERIAL_RE: Final = r"^\d{5}(?:\.0+)?$"
MAX_SHOWN: Final = 80  # longest value quoted in a message
CONTRACT: Final = "city-extracts v1"


@lru_cache(maxsize=1 << 18)
def canonical_uscc(value: str) -> str | None:
    """The code in canonical form when it is a valid unified social credit code (python-stdnum), else None.
    Cached: the same institutions appear in every delivery."""
    compact = value.replace(" ", "").upper()
    return compact if uscc.is_valid(compact) else None


def failure_key(rule: str, column: str | None) -> str:
    """How a rule is counted, in the engine's failures and next to GX's results: ``reason:column``."""
    return f"{rule}:{column or ''}"


def value_column(name: str) -> str:
    """The typed view of a column (numbers, times) that GX's comparisons run on."""
    return f"{name}__value"


def as_mask(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Arrow booleans to a numpy mask, null meaning False."""
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


def _shown(value: object) -> str:
    text = str(value)
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "…"


@dataclass
class CheckedColumn:
    """One column of a delivery, typed: what the rules' checks read."""

    present: np.ndarray  # bool: a non-blank value was delivered
    text: pa.Array  # stripped text (null when blank)
    copy: pa.Array  # value formatted for COPY (null when null or invalid)
    number: np.ndarray | None = None  # float (NaN when null), for money/decimal
    when: np.ndarray | None = None  # datetime64[s] (NaT when null), for dates/timestamps

    def shown(self, i: int) -> str:
        value = self.text[i].as_py()
        return "" if value is None else _shown(value)

    def times(self) -> np.ndarray:
        """The datetime64 view of a date or timestamp column."""
        assert self.when is not None, "not a date or timestamp column"
        return self.when

    def numbers(self) -> np.ndarray:
        """The float view of a money or decimal column."""
        assert self.number is not None, "not a money or decimal column"
        return self.number


@dataclass
class Delivery:
    """What a rule's check sees: one delivery of one city for one business date, every column typed."""

    kind: str
    columns: Mapping[str, CheckedColumn]
    labels: Mapping[str, str]  # canonical column -> its header as delivered
    city_code: str
    business_date: dt.date
    rows: int  # rows delivered, those the parser set aside included
    history: Mapping[str, dt.date] = field(default_factory=dict)  # keys delivered for another day
    memo: dict[str, Any] = field(default_factory=dict)  # what a check computed that its message reads

    @property
    def day(self) -> np.datetime64:
        return np.datetime64(self.business_date, "s")

    @property
    def next_day(self) -> np.datetime64:
        return self.day + np.timedelta64(1, "D")


Stage = Literal["presence", "format", "value", "across"]
STAGES: Final[tuple[Stage, ...]] = ("presence", "format", "value", "across")
Severity = Literal["row", "delivery"]
Check = Callable[[Delivery], np.ndarray]  # True where a row fails
Message = Callable[[Delivery, int], str]  # the reason of failing row i


@dataclass(frozen=True)
class Expectation:
    """A GX expectation as data: its type and arguments. ``{"$PARAMETER": name}`` values are bound
    per delivery: ``delivering_city``, ``business_date``, ``business_day_last_second`` and
    ``movement_ids_delivered_before``."""

    type: str
    kwargs: Mapping[str, Any]
    description: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Rule:
    """One rule of the contract. ``severity`` ``row`` quarantines the failing rows; ``delivery`` rejects
    the whole delivery. ``check`` None: the parser enforces it (a missing required column)."""

    reason: str  # machine reason: quarantine.rows.reasons, audit.validation_results, the GX meta
    kind: str
    column: str | None
    stage: Stage  # orders the rules: column by column (presence, format, value), then across
    expectation: Expectation | None  # None: GX cannot see it (it only audits published deliveries)
    check: Check | None
    message: Message | None
    how_to_fix: str  # 中文 / English, for the city's data team
    when: When | None = None  # the rule applies to the rows where this holds
    severity: Severity = "row"
    history: bool = False  # checks ``Delivery.history``: the keys of ``column`` delivered for another day

    @property
    def key(self) -> str:
        return failure_key(self.reason, self.column)


def _column(kind: str, name: str, *types: ColumnType) -> Column:
    """The declared column, refusing a rule on a column of a type it cannot judge."""
    col = SPECS[kind].column(name)
    if types and col.type not in types:
        raise TypeError(f"{kind}.{name} is {col.type}; the rule needs {' or '.join(types)}")
    return col


def _says(column: str, tail: Callable[[Delivery], str] | str) -> Message:
    """``column <label> value '<value>' <tail>``: a value rule's message."""

    def message(d: Delivery, i: int) -> str:
        end = tail if isinstance(tail, str) else tail(d)
        return f"column {d.labels[column]} value '{d.columns[column].shown(i)}' {end}"

    return message


# -- presence (the "req" column of section 3) -----------------------------------------------


def missing_column(kind: str, name: str) -> Rule:
    return Rule(
        "missing_column",
        kind,
        name,
        "presence",
        Expectation("expect_column_to_exist", {"column": name}),
        check=None,  # the parser rejects the delivery: ``read_payload`` reads the required columns
        message=None,
        how_to_fix="补齐必填列 / add the required column",
        severity="delivery",
    )


def required(kind: str, name: str) -> Rule:
    return Rule(
        "required",
        kind,
        name,
        "presence",
        Expectation(
            "expect_column_values_to_not_be_null",
            {"column": name},
            description=f"{name} ({_column(kind, name).alias}) is required",
        ),
        check=lambda d: ~d.columns[name].present,
        message=lambda d, i: f"column {d.labels[name]} is required but empty",
        how_to_fix="必填 / the value is required",
    )


def required_when(kind: str, name: str, when: When) -> Rule:
    why = when.describe()
    return Rule(
        "required_when",
        kind,
        name,
        "presence",
        Expectation(
            "expect_column_values_to_not_be_null",
            {"column": name},
            description=f"{name} ({_column(kind, name).alias}) is required when {why}",
        ),
        check=lambda d: ~d.columns[name].present,
        message=lambda d, i: f"column {d.labels[name]} is required when {why}",
        how_to_fix="按条件必填 / required in this case",
        when=when,
    )


# -- format (the "type" column of section 3, and section 2) ---------------------------------


def _unparsed(name: str) -> Check:
    """Delivered, but its typed view is null: the value is not of the column's type."""
    return lambda d: d.columns[name].present & ~as_mask(pc.is_valid(d.columns[name].copy))


def _untimed(name: str) -> Check:
    return lambda d: d.columns[name].present & np.isnat(d.columns[name].times())


def _unnumbered(name: str) -> Check:
    return lambda d: d.columns[name].present & np.isnan(d.columns[name].numbers())


def _format_rule(col: Column, kind: str, reason: str, check: Check, tail: str, exp: Expectation, fix: str) -> Rule:
    return Rule(reason, kind, col.name, "format", exp, check, _says(col.name, tail), fix)


def division_code(kind: str, col: Column) -> Rule:
    name = col.name
    return _format_rule(
        col,
        kind,
        "format",
        lambda d: d.columns[name].present & ~as_mask(pc.match_substring_regex(d.columns[name].text, CODE6_RE)),
        "is not a 6-digit division code",
        Expectation("expect_column_values_to_match_regex", {"column": name, "regex": CODE6_RE}),
        "填写6位行政区划代码 / a 6-digit division code",
    )


def credit_code(kind: str, col: Column) -> Rule:
    return _format_rule(
        col,
        kind,
        "check_character",
        _unparsed(col.name),
        "is not a valid unified social credit code (length, characters or check character)",
        Expectation("expect_column_values_to_be_valid_uscc", {"column": col.name}),
        "核对统一社会信用代码 / check the unified social credit code (18 characters, check character)",
    )


def enumeration(kind: str, col: Column) -> Rule:
    allowed = ", ".join(f"{code}/{label}" for code, label in col.enum.items())
    return _format_rule(
        col,
        kind,
        "enumeration",
        _unparsed(col.name),
        f"is not one of {allowed}",
        Expectation(
            "expect_column_values_to_be_in_set",
            {"column": col.name, "value_set": list(col.enum)},
            description=f"{col.name} ({col.alias}) is one of the codes or their Chinese labels (labels map to codes)",
            meta={"labels": col.enum},
        ),
        "使用规定的代码或中文名称 / use one of the listed codes or Chinese labels",
    )


def boolean(kind: str, col: Column) -> Rule:
    return _format_rule(
        col,
        kind,
        "boolean",
        _unparsed(col.name),
        "is not a boolean (true/false, 1/0, Y/N, 是/否)",
        Expectation("expect_column_values_to_be_in_set", {"column": col.name, "value_set": ["t", "f"]}),
        "填写 是/否、Y/N、1/0 或 true/false / use 是/否, Y/N, 1/0 or true/false",
    )


def _excel_serial(value: str | None) -> bool:
    return value is not None and re.fullmatch(EXCEL_SERIAL_RE.strip("^$"), value, re.ASCII) is not None


def calendar_date(kind: str, col: Column) -> Rule:
    name = col.name

    def message(d: Delivery, i: int) -> str:
        c = d.columns[name]
        return f"column {d.labels[name]} value '{c.shown(i)}' is not a date (YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD)" + (
            "; it looks like an Excel serial number: format the cells as dates or text"
            if _excel_serial(c.text[i].as_py())
            else ""
        )

    return Rule(
        "date",
        kind,
        name,
        "format",
        Expectation("expect_column_values_to_be_contract_dates", {"column": name}),
        _untimed(name),
        message,
        "日期格式 YYYY-MM-DD / dates as YYYY-MM-DD (cells formatted as text or date)",
    )


def timestamp(kind: str, col: Column) -> Rule:
    return _format_rule(
        col,
        kind,
        "timestamp",
        _untimed(col.name),
        "is not a timestamp YYYY-MM-DD HH:MM:SS",
        Expectation("expect_column_values_to_be_contract_timestamps", {"column": col.name}),
        "时间格式 YYYY-MM-DD HH:MM:SS / timestamps as YYYY-MM-DD HH:MM:SS",
    )


def amount(kind: str, col: Column) -> Rule:
    return _format_rule(
        col,
        kind,
        "amount",
        _unnumbered(col.name),
        "is not an amount in yuan (at most 2 decimals)",
        Expectation("expect_column_values_to_match_regex", {"column": col.name, "regex": MONEY_RE}),
        "金额以元为单位，最多两位小数 / yuan with at most 2 decimals",
    )


def number(kind: str, col: Column) -> Rule:
    return _format_rule(
        col,
        kind,
        "number",
        _unnumbered(col.name),
        "is not a number",
        Expectation("expect_column_values_to_match_regex", {"column": col.name, "regex": DECIMAL_RE}),
        "填写数字 / a number",
    )


FORMATS: Final[dict[ColumnType, Callable[[str, Column], Rule]]] = {
    "code6": division_code,
    "uscc": credit_code,
    "enum": enumeration,
    "bool": boolean,
    "date": calendar_date,
    "timestamp": timestamp,
    "money": amount,
    "decimal": number,
}  # "text": any text


def column_rules(spec: ExtractSpec) -> Iterator[Rule]:
    """What each column's declaration implies: its presence (a required column missing rejects the
    delivery; a required value missing quarantines the row) and the format of its type."""
    for col in spec.columns:
        if col.required is True:
            yield missing_column(spec.kind, col.name)
            yield required(spec.kind, col.name)
        elif isinstance(col.required, When):
            yield required_when(spec.kind, col.name, col.required)
        if col.type in FORMATS:
            yield FORMATS[col.type](spec.kind, col)


# -- values (the "rule" column of section 3) ------------------------------------------------


def positive(kind: str, name: str) -> Rule:
    _column(kind, name, "money", "decimal")

    def check(d: Delivery) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return np.asarray(d.columns[name].numbers() <= 0)

    return Rule(
        "positive",
        kind,
        name,
        "value",
        Expectation(
            "expect_column_values_to_be_between", {"column": value_column(name), "min_value": 0, "strict_min": True}
        ),
        check,
        _says(name, "must be > 0"),
        "须大于0 / must be greater than 0",
    )


def non_negative(kind: str, name: str) -> Rule:
    _column(kind, name, "money", "decimal")

    def check(d: Delivery) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return np.asarray(d.columns[name].numbers() < 0)

    return Rule(
        "non_negative",
        kind,
        name,
        "value",
        Expectation("expect_column_values_to_be_between", {"column": value_column(name), "min_value": 0}),
        check,
        _says(name, "must be >= 0"),
        "不得为负 / must not be negative",
    )


def not_after_business_date(kind: str, name: str) -> Rule:
    is_date = _column(kind, name, "date", "timestamp").type == "date"

    def check(d: Delivery) -> np.ndarray:
        when = d.columns[name].times()
        return np.asarray(when > d.day if is_date else when >= d.next_day)

    bound = "business_date" if is_date else "business_day_last_second"
    return Rule(
        "not_after_business_date",
        kind,
        name,
        "value",
        Expectation(
            "expect_column_values_to_be_between", {"column": value_column(name), "max_value": {"$PARAMETER": bound}}
        ),
        check,
        _says(name, lambda d: f"is after the business date {d.business_date}"),
        "不得晚于业务日期 / must not be after the business date",
    )


def on_business_date(kind: str, name: str) -> Rule:
    _column(kind, name, "timestamp")

    def check(d: Delivery) -> np.ndarray:
        when = d.columns[name].times()
        return np.asarray(~np.isnat(when) & ((when < d.day) | (when >= d.next_day)))

    return Rule(
        "on_business_date",
        kind,
        name,
        "value",
        Expectation(
            "expect_column_values_to_be_between",
            {
                "column": value_column(name),
                "min_value": {"$PARAMETER": "business_date"},
                "max_value": {"$PARAMETER": "business_day_last_second"},
            },
        ),
        check,
        _says(name, lambda d: f"is not on the business date {d.business_date}"),
        "须为业务日期当天 / must fall on the business date",
    )


def delivering_city(kind: str, name: str) -> Rule:
    _column(kind, name, "code6")
    return Rule(
        "city_code",
        kind,
        name,
        "value",
        Expectation(
            "expect_column_values_to_be_in_set", {"column": name, "value_set": {"$PARAMETER": "delivering_city"}}
        ),
        lambda d: d.columns[name].present & ~as_mask(pc.equal(d.columns[name].text, d.city_code)),
        _says(name, lambda d: f"is not the delivering city {d.city_code}"),
        "填写本市代码 / your own city code",
    )


def unique_key(kind: str, name: str) -> Rule:
    canonical = _column(kind, name).type == "uscc"  # two spellings of one credit code are one key

    def duplicates(d: Delivery) -> tuple[np.ndarray, pd.Series, dict[str, list[int]]]:
        found = d.memo.get(f"duplicates:{name}")
        if found is None:
            c = d.columns[name]
            key = pd.Series((c.copy if canonical else c.text).to_numpy(zero_copy_only=False), dtype="object")
            dup = (key.notna() & key.duplicated(keep=False)).to_numpy()
            positions: dict[str, list[int]] = {}
            for i in np.flatnonzero(dup).tolist():
                positions.setdefault(key.iat[i], []).append(i + 1)
            found = d.memo[f"duplicates:{name}"] = (dup, key, positions)
        return found

    def message(d: Delivery, i: int) -> str:
        _, key, positions = duplicates(d)
        rows = ", ".join(map(str, positions[key.iat[i]][:10]))
        return (
            f"column {d.labels[name]} value '{key.iat[i]}' appears in rows {rows} of this delivery; keys must be unique"
        )

    return Rule(
        "duplicate_key",
        kind,
        name,
        "value",
        Expectation("expect_column_values_to_be_unique", {"column": name}),
        lambda d: duplicates(d)[0],
        message,
        "同一文件内编号不得重复 / keys must be unique within the file",
    )


def _order(kind: str, name: str, other: str, strict: bool) -> Rule:
    _column(kind, name, "date", "timestamp")
    _column(kind, other, "date", "timestamp")
    word = "after" if strict else "on or after"

    def check(d: Delivery) -> np.ndarray:
        this, that = d.columns[name].times(), d.columns[other].times()
        return np.asarray(this <= that if strict else this < that)

    def message(d: Delivery, i: int) -> str:
        c, o = d.columns[name], d.columns[other]
        return f"column {d.labels[name]} value '{c.shown(i)}' must be {word} {d.labels[other]} '{o.shown(i)}'"

    return Rule(
        "order",
        kind,
        name,
        "value",
        Expectation(
            "expect_column_pair_values_a_to_be_greater_than_b",
            {
                "column_A": value_column(name),
                "column_B": value_column(other),
                "or_equal": not strict,
                "ignore_row_if": "either_value_is_missing",
            },
            meta={"other": other},
        ),
        check,
        message,
        "检查日期先后 / check the order of the dates",
    )


def not_before(kind: str, name: str, other: str) -> Rule:
    return _order(kind, name, other, strict=False)


def after(kind: str, name: str, other: str) -> Rule:
    return _order(kind, name, other, strict=True)


# -- across columns and deliveries ------------------------------------------------------------


def _refund_exceeds(d: Delivery) -> np.ndarray:
    req, done = d.columns["requested_amount_yuan"].numbers(), d.columns["refunded_amount_yuan"].numbers()
    with np.errstate(invalid="ignore"):
        return np.asarray((done > req) & (req > 0))  # a non-positive request has its own reason


REFUND_EXCEEDS_REQUEST = Rule(
    "refund_exceeds_request",
    "refunds",
    "refunded_amount_yuan",
    "across",
    Expectation(
        "expect_column_pair_values_a_to_be_greater_than_b",
        {
            "column_A": value_column("requested_amount_yuan"),
            "column_B": value_column("refunded_amount_yuan"),
            "or_equal": True,
            "ignore_row_if": "either_value_is_missing",
            "row_condition": f"{value_column('requested_amount_yuan')} > 0",
            "condition_parser": "pandas",
        },
        description="refunded_amount_yuan (已退金额) is at most requested_amount_yuan (申请退费金额)",
    ),
    _refund_exceeds,
    lambda d, i: (
        f"column {d.labels['refunded_amount_yuan']} value '{d.columns['refunded_amount_yuan'].shown(i)}' exceeds "
        f"{d.labels['requested_amount_yuan']} '{d.columns['requested_amount_yuan'].shown(i)}'"
    ),
    "已退金额不得超过申请金额 / refunded must not exceed requested",
)


def _movement_id(d: Delivery, i: int) -> str:
    return str(d.columns["movement_id"].text[i].as_py())


MOVEMENT_ID_REUSED = Rule(
    "movement_id_reused",
    "fee_ledger",
    "movement_id",
    "across",
    Expectation(
        "expect_column_values_to_not_be_in_set",
        {"column": "movement_id", "value_set": {"$PARAMETER": "movement_ids_delivered_before"}},
        description="a movement_id is never reused on another business date of the same city",
    ),
    lambda d: as_mask(pc.is_in(d.columns["movement_id"].text, value_set=pa.array(list(d.history), pa.string()))),
    lambda d, i: (
        f"column {d.labels['movement_id']} value '{_movement_id(d, i)}' was already delivered for "
        f"{d.history[_movement_id(d, i)]}; a movement_id is unique per city for ever"
    ),
    "流水号永久唯一，不得复用 / movement ids are unique for ever",
    history=True,
)

EMPTY_SNAPSHOT = Rule(
    "empty_snapshot",
    "institutions",
    None,
    "across",
    None,  # GX audits published deliveries only, and an empty snapshot is never published
    lambda d: np.array([d.rows == 0]),
    lambda d, i: "an institutions snapshot lists every supervised institution; it is empty",
    "机构快照须列出全部机构 / the institutions snapshot must list every institution",
    severity="delivery",
)

DECLARED: Final[tuple[Rule, ...]] = (
    # 3.1 institutions
    unique_key("institutions", "institution_id"),
    delivering_city("institutions", "city_code"),
    not_after_business_date("institutions", "approved_date"),
    not_after_business_date("institutions", "status_changed_date"),
    EMPTY_SNAPSHOT,
    # 3.2 fee_ledger
    unique_key("fee_ledger", "movement_id"),
    positive("fee_ledger", "amount_yuan"),
    on_business_date("fee_ledger", "occurred_at"),
    positive("fee_ledger", "class_hours"),
    positive("fee_ledger", "unit_price_yuan"),
    not_before("fee_ledger", "service_end_date", "service_start_date"),
    after("fee_ledger", "class_ended_at", "class_started_at"),
    MOVEMENT_ID_REUSED,
    # 3.3 refunds
    unique_key("refunds", "refund_id"),
    positive("refunds", "requested_amount_yuan"),
    non_negative("refunds", "refunded_amount_yuan"),
    not_after_business_date("refunds", "requested_date"),
    not_before("refunds", "completed_date", "requested_date"),
    on_business_date("refunds", "updated_at"),
    REFUND_EXCEEDS_REQUEST,
    # 3.4 complaints
    unique_key("complaints", "complaint_id"),
    delivering_city("complaints", "city_code"),
    not_after_business_date("complaints", "received_at"),
    not_before("complaints", "closed_at", "received_at"),
    on_business_date("complaints", "updated_at"),
)

RULES: Final[tuple[Rule, ...]] = (*(r for spec in SPECS.values() for r in column_rules(spec)), *DECLARED)


def rules_for(kind: str) -> tuple[Rule, ...]:
    """The kind's rules in suite order: column by column (its presence, its format, then its value
    rules as declared), then the rules across columns or deliveries. The load-path engine keeps this
    order but evaluates every column's format first, as it types the columns. Read from ``RULES``
    at every call."""
    position = {c.name: i for i, c in enumerate(SPECS[kind].columns)}

    def order(entry: tuple[int, Rule]) -> tuple[int, int, int, int]:
        i, rule = entry
        if rule.stage == "across" or rule.column is None:
            return (1, 0, 0, i)
        return (0, position[rule.column], STAGES.index(rule.stage), i)

    return tuple(rule for _, rule in sorted(enumerate(r for r in RULES if r.kind == kind), key=order))
