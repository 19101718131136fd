"""Custom Great Expectations expectations for the city extract contract.

Defining a class registers it with GX, so this module is imported before any
suite is loaded (``oversight.quality.suites`` does). Each is a column map
expectation: GX counts the unexpected values exactly; nulls are skipped (a
missing value is the business of ``expect_column_values_to_not_be_null``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import pandas as pd
from great_expectations.execution_engine.pandas_execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation
from great_expectations.expectations.metrics.map_metric_provider.column_condition_partial import (
    column_condition_partial,
)
from great_expectations.expectations.metrics.map_metric_provider.column_map_metric_provider import (
    ColumnMapMetricProvider,
)

from oversight.contract.rules import DATE_RE, TIMESTAMP_RE, canonical_uscc


def _full_match(column: pd.Series, pattern: str) -> pd.Series:
    # RE2 and Python agree on these patterns; pandas wants Python's dialect
    return column.astype("str").str.fullmatch(pattern.strip("^$")).fillna(False)


class ColumnValuesValidUscc(ColumnMapMetricProvider):
    condition_metric_name = "column_values.oversight_valid_uscc"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:
        verdicts = {value: canonical_uscc(str(value)) is not None for value in pd.unique(column)}
        return column.map(verdicts).astype(bool)


class ExpectColumnValuesToBeValidUscc(ColumnMapExpectation):
    """Expect each value to be a unified social credit code (统一社会信用代码) with a valid
    check character (GB 32100-2015, checked with python-stdnum's ``stdnum.cn.uscc``)."""

    map_metric = "column_values.oversight_valid_uscc"
    success_keys: ClassVar[tuple[str, ...]] = ("mostly",)


class ColumnValuesContractDate(ColumnMapMetricProvider):
    condition_metric_name = "column_values.oversight_contract_date"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:
        text = column.astype("str")
        shaped = _full_match(text, DATE_RE)
        compact = text.where(shaped).str.replace(r"[-/]", "", regex=True)
        parsed = pd.to_datetime(compact, format="%Y%m%d", errors="coerce")
        return parsed.notna() & shaped


class ExpectColumnValuesToBeContractDates(ColumnMapExpectation):
    """Expect each value to be a real calendar date written YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD
    (contract section 2; 2026-02-30 and Excel serial numbers fail)."""

    map_metric = "column_values.oversight_contract_date"
    success_keys: ClassVar[tuple[str, ...]] = ("mostly",)


class ColumnValuesContractTimestamp(ColumnMapMetricProvider):
    condition_metric_name = "column_values.oversight_contract_timestamp"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:
        text = column.astype("str")
        shaped = _full_match(text, TIMESTAMP_RE)
        parsed = pd.to_datetime(
            text.where(shaped).str.replace("T", " ", regex=False), format="%Y-%m-%d %H:%M:%S", errors="coerce"
        )
        return parsed.notna() & shaped


class ExpectColumnValuesToBeContractTimestamps(ColumnMapExpectation):
    """Expect each value to be a real local time written YYYY-MM-DD HH:MM:SS (or with a T)."""

    map_metric = "column_values.oversight_contract_timestamp"
    success_keys: ClassVar[tuple[str, ...]] = ("mostly",)
