"""Alert delivery end to end on real servers: an SMTP server (aiosmtpd) and a
DingTalk-style robot (HTTP) the test starts on 127.0.0.1, the real warehouse, and
real Airflow DAG runs (``oversight_alerts``, ``oversight_chain_watch``).

marts.risk_alerts is written here as the transformer (what dbt builds), so these
tests exercise routing, rendering, channels and the delivery log on their own;
the rules themselves are tested by dbt unit tests and the Shaanxi week.
"""

from __future__ import annotations

import base64
import datetime as dt
import email
import email.policy
import hashlib
import hmac
import json
import os
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from oversight.alerts import chain_watch, daily, notify
from oversight.alerts.routing import RoutingConfigError, load_routing, parse_routing
from oversight.db.connection import connect
from tests.support.dingtalk_robot import SECRET, Robot, valid_signature
from tests.support.runtime import ROOT
from tests.support.smtp_server import SmtpServer

ROBOT_TOKEN = "tok-robot-1"
# planted personal data: it must never reach a message
PERSON_NAME = "王子涵"
PERSON_PHONE = "13800138000"
PERSON_ID = "610102201001010012"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def robot() -> Iterator[Robot]:
    r = Robot()
    r.start()
    yield r
    r.stop()


ROUTING = """
channels:
  email: {conn_id: oversight_smtp}
  webhook: {format: dingtalk}
escalation: {magnitude_factor: 2.0}
chain:
  deadline: "12:00"
  recipients: {emails: [dataeng@test.example], webhooks: [test_robot]}
defaults:
  critical: {emails: [province@test.example], webhooks: [test_robot]}
  high: {emails: [province@test.example]}
cities:
  "610100":
    high: {emails: [xian@test.example]}
"""


@pytest.fixture
def channels(tmp_path: Path, smtp: SmtpServer, robot: Robot, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Routing file and Airflow connections (environment) pointing at the loopback servers."""
    routing = tmp_path / "alert_routing.yml"
    routing.write_text(ROUTING, encoding="utf-8")
    env = {
        "OVERSIGHT_ALERT_ROUTING": str(routing),
        "AIRFLOW_CONN_OVERSIGHT_SMTP": json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": smtp.port,
                "extra": {"from_email": "alerts@t.example"},
            }
        ),
        "AIRFLOW_CONN_TEST_ROBOT": json.dumps(
            {
                "conn_type": "http",
                "host": f"http://127.0.0.1:{robot.port}/robot/send?access_token={ROBOT_TOKEN}",
                "password": SECRET,
            }
        ),
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


RISK_ALERTS_DDL = """
create table if not exists marts.risk_alerts (
    alert_id text primary key, rule_id text not null, severity text not null, city_code text not null,
    institution_id text, first_detected_date date not null, last_detected_date date not null,
    status text not null, evidence jsonb not null
)
"""


def put_alerts(rows: list[dict[str, Any]]) -> None:
    """Replace marts.risk_alerts, as the transformer (dbt's role) would."""
    with connect("transformer") as conn:
        conn.execute(RISK_ALERTS_DDL)
        conn.execute("grant select on marts.risk_alerts to oversight_analyst")
        conn.execute("delete from marts.risk_alerts")
        for r in rows:
            conn.execute(
                "insert into marts.risk_alerts values (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    r["alert_id"],
                    r["rule_id"],
                    r["severity"],
                    r["city_code"],
                    r.get("institution_id"),
                    r.get("first", dt.date(2026, 11, 3)),
                    r.get("last", dt.date(2026, 11, 4)),
                    r.get("status", "open"),
                    json.dumps(r["evidence"], ensure_ascii=False),
                ),
            )
        conn.commit()


CRITICAL = {
    "alert_id": "a" * 32,
    "rule_id": "escrow_shortfall",
    "severity": "critical",
    "city_code": "610100",
    "institution_id": "91610100MA6TG0001X",
    # figures, plus planted personal data the renderer must drop (unknown keys, unsafe values)
    "evidence": {
        "custody_balance_yuan": -2500.0,
        "liability_yuan": 1850.0,
        "shortfall_yuan": 4350.0,
        "magnitude": 4350.0,
        "student_name": PERSON_NAME,
        "guardian_phone": PERSON_PHONE,
        "channel": PERSON_ID,
    },
}
HIGH_1 = {
    "alert_id": "b" * 32,
    "rule_id": "prepaid_over_60_hours",
    "severity": "high",
    "city_code": "610100",
    "institution_id": "91610100MA6TG0002X",
    "evidence": {"class_hours": 120, "max_class_hours": 60, "collections": 1, "magnitude": 120},
}
HIGH_2 = {
    "alert_id": "c" * 32,
    "rule_id": "refund_overdue",
    "severity": "high",
    "city_code": "610100",
    "institution_id": "91610100MA6TG0003X",
    "evidence": {"overdue_requests": 1, "working_days_waiting": 8, "max_working_days": 5, "magnitude": 1},
}


def run_dag(dag_id: str, env: dict[str, str], logical: str, conf: dict[str, Any] | None = None) -> str:
    """Run one DAG's tasks in process (dag.test) in a subprocess; returns its final state."""
    code = """
import json, sys, pendulum
from oversight.devkit.runner import prepare_runtime
from tests.support.inprocess import load_dag, forget_previous_run
prepare_runtime()
dag = load_dag(sys.argv[1])
logical = pendulum.parse(sys.argv[2])
forget_previous_run(dag.dag_id, logical)
dr = dag.test(logical_date=logical, run_conf=json.loads(sys.argv[3]))
print("STATE=" + str(dr.state))
"""
    out = subprocess.run(
        [sys.executable, "-c", code, dag_id, logical, json.dumps(conf or {})],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=ROOT,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout.strip().splitlines()[-1].removeprefix("STATE=")


def all_text(smtp: SmtpServer, robot: Robot) -> str:
    parts = [str(m["Subject"]) + "\n" + m.get_content() for _, m in smtp.box.messages]
    parts += [json.dumps(r["json"], ensure_ascii=False) for r in robot.requests]
    return "\n".join(parts)


def test_alerts_dag_delivers_critical_at_once_and_a_digest_per_city(
    fresh_warehouse: str, airflow_ready: dict[str, str], channels: dict[str, str], smtp: SmtpServer, robot: Robot
) -> None:
    put_alerts([CRITICAL, HIGH_1, HIGH_2])
    env = {"WAREHOUSE_URL": fresh_warehouse, **channels}
    state = run_dag("oversight_alerts", env, "2026-11-05T00:00:00+08:00", {"business_date": "2026-11-04"})
    assert state == "success"

    # critical: one e-mail to the province and one robot message, at once; high: one digest per recipient
    by_rcpt: dict[str, list[email.message.EmailMessage]] = {}
    for rcpts, msg in smtp.box.messages:
        for r in rcpts:
            by_rcpt.setdefault(r, []).append(msg)
    assert sorted(by_rcpt) == ["province@test.example", "xian@test.example"]
    assert len(by_rcpt["province@test.example"]) == 2  # the critical alert + the 610100 digest
    assert len(by_rcpt["xian@test.example"]) == 1  # the digest only (the city is routed high, not critical)
    subjects = sorted(str(m["Subject"]) for m in by_rcpt["province@test.example"])
    assert subjects[0] == "【严重预警】西安市：托管资金低于未消课预收费余额"
    assert subjects[1] == "【风险预警日报】西安市 2026-11-04：新预警2条，升级0条"
    digest = by_rcpt["xian@test.example"][0].get_content()
    assert "单次预收费超过60课时" in digest and "课时数：120" in digest
    assert "退费申请超过5个工作日未处理" in digest and "已等待工作日：8" in digest
    critical_mail = next(m for m in by_rcpt["province@test.example"] if "严重" in str(m["Subject"]))
    assert "缺口（元）：4,350" in critical_mail.get_content()
    assert "a" * 32 in critical_mail.get_content()

    # the robot: one signed markdown message for the critical alert
    assert len(robot.requests) == 1
    req = robot.requests[0]
    assert req["path"] == "/robot/send" and req["query"]["access_token"] == [ROBOT_TOKEN]
    assert valid_signature(req["query"])
    assert abs(int(req["query"]["timestamp"][0]) / 1000 - dt.datetime.now().timestamp()) < 600
    assert req["json"]["msgtype"] == "markdown"
    assert req["json"]["markdown"]["title"] == "【严重预警】西安市：托管资金低于未消课预收费余额"
    assert "托管余额（元）：-2,500" in req["json"]["markdown"]["text"]

    text = all_text(smtp, robot)
    for personal in (PERSON_NAME, PERSON_PHONE, PERSON_ID):
        assert personal not in text

    with connect("loader") as conn:
        log = conn.execute("select status, attempts from alerting.notifications order by notification_id").fetchall()
        evaluated = conn.execute("select business_date from alerting.evaluations").fetchall()
    assert log and all(row == ("sent", 1) for row in log)
    assert evaluated == [(dt.date(2026, 11, 4),)]

    # a re-run (the DAG's two tasks, in process) plans and sends nothing again
    sent_before = (len(smtp.box.messages), len(robot.requests))
    assert daily.evaluate(dt.date(2026, 11, 4))["planned"] == 0
    assert daily.deliver(dt.date(2026, 11, 4))["messages_sent"] == 0
    assert (len(smtp.box.messages), len(robot.requests)) == sent_before


def test_server_down_is_recorded_failed_and_delivered_once_when_back(
    fresh_warehouse: str, airflow_ready: dict[str, str], channels: dict[str, str], smtp: SmtpServer, robot: Robot
) -> None:
    put_alerts([CRITICAL])
    env = {"WAREHOUSE_URL": fresh_warehouse, **channels}
    smtp.stop()
    robot.stop()
    assert run_dag("oversight_alerts", env, "2026-11-05T00:00:00+08:00", {"business_date": "2026-11-04"}) == "success"
    with connect("loader") as conn:
        rows = conn.execute(
            "select channel, recipient, status, attempts, last_error from alerting.notifications order by channel"
        ).fetchall()
        attempts = conn.execute(
            "select channel, attempt_number, status, error from alerting.delivery_attempts"
        ).fetchall()
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("email", "province@test.example", "failed", 1),
        ("webhook", "test_robot", "failed", 1),
    ]
    assert all(r[4] for r in rows)
    assert sorted((a[0], a[1], a[2]) for a in attempts) == [("email", 1, "failed"), ("webhook", 1, "failed")]

    # back up (same ports): the next run delivers each exactly once
    smtp.start()
    robot.start()
    assert run_dag("oversight_alerts", env, "2026-11-06T00:00:00+08:00", {"business_date": "2026-11-05"}) == "success"
    assert len(smtp.box.messages) == 1 and len(robot.requests) == 1
    # and once more: nothing is sent twice
    report = notify.deliver(load_routing())
    assert report.messages_sent == 0 and report.messages_failed == 0
    assert len(smtp.box.messages) == 1 and len(robot.requests) == 1
    with connect("loader") as conn:
        rows = conn.execute("select status, attempts from alerting.notifications order by channel").fetchall()
        attempts = conn.execute(
            "select channel, attempt_number, status from alerting.delivery_attempts order by channel, attempt_number"
        ).fetchall()
    assert rows == [("sent", 2), ("sent", 2)]
    assert attempts == [("email", 1, "failed"), ("email", 2, "sent"), ("webhook", 1, "failed"), ("webhook", 2, "sent")]


def test_escalation_when_the_evidence_doubles_not_before(
    fresh_warehouse: str, channels: dict[str, str], smtp: SmtpServer, robot: Robot
) -> None:
    routing = load_routing()
    put_alerts([HIGH_1])
    day = dt.date(2026, 11, 4)
    assert notify.plan(notify.read_alerts(), routing, day) == 2  # province + xian
    assert notify.deliver(routing).messages_sent == 2
    worse = {**HIGH_1, "evidence": {**HIGH_1["evidence"], "class_hours": 180, "magnitude": 180}}
    put_alerts([worse])
    assert notify.plan(notify.read_alerts(), routing, day + dt.timedelta(days=1)) == 0  # 1.5x: not escalated
    much_worse = {**HIGH_1, "evidence": {**HIGH_1["evidence"], "class_hours": 240, "magnitude": 240}}
    put_alerts([much_worse])
    assert notify.plan(notify.read_alerts(), routing, day + dt.timedelta(days=1)) == 2
    assert notify.deliver(routing).messages_sent == 2
    subjects = [str(m["Subject"]) for _, m in smtp.box.messages]
    assert subjects.count("【风险预警日报】西安市 2026-11-05：新预警0条，升级1条") == 2
    assert "课时数：240" in smtp.box.messages[-1][1].get_content()
    # acknowledged: never notified again, however bad
    with connect("loader") as conn:
        conn.execute("insert into alerting.acknowledgements (alert_id, acknowledged_by) values (%s, 'x')", ("b" * 32,))
        conn.commit()
    put_alerts([{**much_worse, "status": "acknowledged", "evidence": {**much_worse["evidence"], "magnitude": 999}}])
    assert notify.plan(notify.read_alerts(), routing, day + dt.timedelta(days=2)) == 0


def test_chain_late_notice_once_per_date(
    fresh_warehouse: str, airflow_ready: dict[str, str], channels: dict[str, str], smtp: SmtpServer, robot: Robot
) -> None:
    env = {"WAREHOUSE_URL": fresh_warehouse, **channels}
    # 2026-11-04 12:15 Shanghai: the chain for 2026-11-03 should have finished by 12:00
    assert run_dag("oversight_chain_watch", env, "2026-11-04T12:15:00+08:00") == "success"
    assert [r for rcpts, _ in smtp.box.messages for r in rcpts] == ["dataeng@test.example"]
    subject = str(smtp.box.messages[0][1]["Subject"])
    assert subject == "【数据链路延迟】2026-11-03 的每日处理未在 2026-11-04 12:00 前完成"
    assert len(robot.requests) == 1 and valid_signature(robot.requests[0]["query"])
    # the next hour (the DAG's task, in process): not told twice
    shanghai = ZoneInfo("Asia/Shanghai")
    again = chain_watch.check(dt.date(2026, 11, 3), dt.datetime(2026, 11, 4, 13, 15, tzinfo=shanghai))
    assert again["state"] == "late" and again["notices_sent"] == 0
    assert len(smtp.box.messages) == 1 and len(robot.requests) == 1
    # a date whose chain finished is not late; before the deadline nothing is checked
    with connect("loader") as conn:
        conn.execute("insert into alerting.evaluations (business_date) values ('2026-11-04')")
        conn.commit()
    done = chain_watch.check(dt.date(2026, 11, 4), dt.datetime(2026, 11, 5, 12, 15, tzinfo=shanghai))
    early = chain_watch.check(dt.date(2026, 11, 5), dt.datetime(2026, 11, 6, 11, 15, tzinfo=shanghai))
    assert (done["state"], early["state"]) == ("finished", "not due")
    assert len(smtp.box.messages) == 1 and len(robot.requests) == 1


def test_routing_errors_name_the_file_and_key(tmp_path: Path) -> None:
    with pytest.raises(RoutingConfigError, match=r"routing\.yml: defaults\.urgent: unknown severity"):
        parse_routing("defaults:\n  urgent: {emails: [a@b.cn]}\n", "routing.yml")
    with pytest.raises(RoutingConfigError, match=r"r\.yml: cities\.610100\.high\.emails\[0\]: 'not-an-address'"):
        parse_routing("cities:\n  '610100':\n    high: {emails: [not-an-address]}\n", "r.yml")
    with pytest.raises(RoutingConfigError, match=r"cities\.999999: not a known city code"):
        parse_routing("cities:\n  '999999': {}\n", "r.yml")
    with pytest.raises(RoutingConfigError, match=r"chain\.deadline"):
        parse_routing("chain: {deadline: '25:00'}\n", "r.yml")
    missing = tmp_path / "nope.yml"
    with pytest.raises(RoutingConfigError, match=str(missing)):
        load_routing(missing)
    shipped = load_routing()  # the repository's own configuration is valid
    assert shipped.recipients("610100", "critical").emails


def test_dingtalk_signature_matches_the_documented_example() -> None:
    from oversight.alerts.dingtalk import sign, signed_url

    ts = 1700000000000
    expected = base64.b64encode(hmac.new(b"SECabc", b"1700000000000\nSECabc", hashlib.sha256).digest()).decode()
    assert urllib.parse.unquote_plus(sign("SECabc", ts)) == expected
    assert signed_url("https://x/robot/send?access_token=t", "SECabc", ts).endswith(
        f"&timestamp={ts}&sign={urllib.parse.quote_plus(expected)}"
    )
