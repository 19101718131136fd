"""Assets the DAGs produce and consume (data-aware scheduling).

Logical URIs name the warehouse tables; they need no connection to build, so
DAG files can import them at parse time.
"""

from __future__ import annotations

from airflow.sdk import Asset

from oversight.contract.files import KINDS

WAREHOUSE = "postgres://warehouse:5432/oversight"

RAW_ASSETS: dict[str, Asset] = {kind: Asset(name=f"raw.{kind}", uri=f"{WAREHOUSE}/raw/{kind}") for kind in KINDS}


def mart_asset(name: str) -> Asset:
    """The Asset of the analyst-facing table ``marts.<name>``."""
    return Asset(name=f"marts.{name}", uri=f"{WAREHOUSE}/marts/{name}")


# The analyst-facing marts the warehouse DAG emits (its `publish` task's outlets).
MARTS = (
    "supervision_report",
    "prepaid_supervision",
    "refunds_daily",
    "complaints_daily",
    "compliance_daily",
    "institution_risk",
    "risk_alerts",
)
WAREHOUSE_MART_ASSETS: list[Asset] = [mart_asset(name) for name in MARTS]

# What the warehouse DAG emits and the alerts DAG is scheduled on.
SUPERVISION_REPORT_ASSET = mart_asset("supervision_report")
RISK_ALERTS_ASSET = mart_asset("risk_alerts")
