"""The demo's local outbox: the real channels deliver into it, and its robot checks DingTalk's signature."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from oversight.alerts import dingtalk, smtp_channel
from oversight.alerts.connections import Endpoint
from oversight.alerts.routing import load_routing
from oversight.devkit.local_outbox import LocalOutbox


def endpoint(env: dict[str, str], conn_id: str) -> Endpoint:
    conn = json.loads(env[f"AIRFLOW_CONN_{conn_id.upper()}"])
    return Endpoint(conn_id, conn["host"], conn.get("port"), None, conn.get("password"), conn.get("extra", {}))


def test_outbox_receives_mail_and_signed_robot_messages(tmp_path: Path) -> None:
    routing = load_routing()
    with LocalOutbox(tmp_path / "outbox", routing) as outbox:
        env = outbox.environment()
        robots = outbox.webhook_conn_ids()
        assert robots and all(f"AIRFLOW_CONN_{r.upper()}" in env for r in robots)
        smtp_channel.send(endpoint(env, routing.email_conn_id), "office@example.org", "风险预警 西安市", "正文：严重")
        dingtalk.send(endpoint(env, robots[0]), "风险预警", "**严重** 1 条")
        forged = endpoint(env, robots[0])
        with pytest.raises(Exception, match="sign"):
            dingtalk.send(Endpoint(forged.conn_id, forged.host, password="SECwrong"), "x", "y")
    assert (outbox.mails, outbox.robot_messages, outbox.refused) == (1, 1, 1)
    assert outbox.subjects() == ["风险预警 西安市"]
    message = json.loads(next((tmp_path / "outbox" / "dingtalk").glob("*.json")).read_text("utf-8"))
    assert "**严重** 1 条" in json.dumps(message, ensure_ascii=False)
