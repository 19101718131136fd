"""A failed DAG run is told to the data engineers once, on real services: Airflow's
api-server, scheduler, dag-processor and triggerer (the DAG failure callback runs in
the dag-processor), an SMTP server (aiosmtpd) on 127.0.0.1 and the real warehouse.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from oversight.alerts import run_failures
from oversight.db.connection import connect
from oversight.devkit.embedded_pg import free_port
from tests.support.smtp_server import SmtpServer as BaseSmtpServer

DAG_ID = "oversight_ingest"
RECIPIENT = "dataeng@test.example"
ROUTING = f"""
channels:
  email: {{conn_id: oversight_smtp}}
chain:
  deadline: "12:00"
  recipients: {{emails: [{RECIPIENT}]}}
"""
SHANGHAI = ZoneInfo("Asia/Shanghai")


class SmtpServer(BaseSmtpServer):
    """The loopback SMTP server, with the messages about one run."""

    def about(self, run_id: str) -> list[tuple[list[str], email.message.EmailMessage]]:
        """The messages that are about the run ``run_id``."""
        return [(rcpts, m) for rcpts, m in self.box.messages if f"运行 Run：{run_id}\n" in m.get_content()]


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def channels(tmp_path: Path, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A routing file whose chain recipients are one address, and the SMTP connection to the loopback server."""
    routing = tmp_path / "alert_routing.yml"
    routing.write_text(ROUTING, encoding="utf-8")
    env = {
        "OVERSIGHT_ALERT_ROUTING": str(routing),
        "AIRFLOW_CONN_OVERSIGHT_SMTP": json.dumps(
            {"conn_type": "smtp", "host": "127.0.0.1", "port": smtp.port, "extra": {"from_email": "af@t.example"}}
        ),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def airflow_here(airflow_ready: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """This process's Airflow (configuration, metadata ORM) on the test runtime, with its own API port."""
    monkeypatch.setenv("OVERSIGHT_API_PORT", str(free_port()))  # never the port of another Airflow on this host
    from oversight.devkit.airflow_runtime import airflow_env

    env = airflow_env()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    from airflow import settings

    if env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] != settings.SQL_ALCHEMY_CONN:
        # airflow was imported earlier in this session, before its environment was set
        settings.configure_vars()
        settings.configure_orm()
    return env


def wait_for(what: str, probe: Callable[[], Any], timeout: float, check: Callable[[], None] = lambda: None) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        check()
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {timeout:.0f}s")
        time.sleep(1)


def serialized(dag_id: str) -> bool:
    from airflow.models.dag import DagModel
    from airflow.models.errors import ParseImportError
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        found = session.scalar(
            select(SerializedDagModel.dag_id)
            .join(DagModel, DagModel.dag_id == SerializedDagModel.dag_id)
            .where(SerializedDagModel.dag_id == dag_id, DagModel.is_stale.is_(False))
            .limit(1)
        )
        errors = [e.stacktrace for e in session.scalars(select(ParseImportError)) if dag_id in (e.filename or "")]
    if errors:
        raise AssertionError(f"{dag_id} does not import (the DAG file is being edited?):\n{errors[0][-2000:]}")
    return found is not None


def set_paused(dag_id: str, paused: bool) -> bool:
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        model = session.get(DagModel, dag_id)
        assert model is not None
        previous = bool(model.is_paused)
        model.is_paused = paused
    return previous


def run_state(dag_id: str, run_id: str) -> str | None:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        state = session.scalar(select(DagRun.state).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
    return str(state) if state else None


def notices(dag_id: str, run_id: str) -> list[tuple[Any, ...]]:
    with connect("loader") as conn:
        return conn.execute(
            "select recipient, channel, status, attempts, last_error, first_attempt_at, last_attempt_at, sent_at"
            " from alerting.run_failure_notices where dag_id = %s and run_id = %s order by recipient",
            (dag_id, run_id),
        ).fetchall()


@pytest.mark.slow
def test_a_failed_run_is_told_once_through_the_real_scheduler(
    fresh_warehouse: str, airflow_here: dict[str, str], channels: dict[str, str], smtp: SmtpServer
) -> None:
    run_id = f"test_run_failed__{uuid.uuid4().hex[:12]}"
    _fail_a_run_through_the_scheduler(run_id, {"WAREHOUSE_URL": fresh_warehouse, **channels}, smtp)
    failed = _assert_one_notice(smtp, run_id, airflow_here)
    _assert_recorded_and_told_only_once(smtp, run_id, failed)


def _fail_a_run_through_the_scheduler(run_id: str, env: dict[str, str], smtp: SmtpServer) -> None:
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.utils.types import DagRunTriggeredByType

    from oversight.devkit.airflow_services import running

    was_paused: bool | None = None
    # Once plan has failed, summarize and report_quality (trigger rule all_done) still run, fail without a
    # plan and are retried with the DAG's backoff (2, 4, 8 minutes): Airflow's global cap on retry delays
    # makes those retries immediate, so the run reaches its end (failed) within a minute.
    env = {**env, "AIRFLOW__CORE__MAX_TASK_RETRY_DELAY": "1"}
    with running(extra_env=env) as services:
        try:
            wait_for(f"{DAG_ID} serialized", lambda: serialized(DAG_ID), 300, services.check)
            was_paused = set_paused(DAG_ID, False)
            # an impossible date: plan raises AirflowFailException (no retry), the run fails
            trigger_dag(
                DAG_ID,
                triggered_by=DagRunTriggeredByType.TEST,
                run_id=run_id,
                conf={"business_date": "2026-13-45"},
                logical_date=None,
            )
            state = wait_for(
                "the run finished",
                lambda: (s := run_state(DAG_ID, run_id)) in ("failed", "success") and s,
                180,
                services.check,
            )
            assert state == "failed"
            wait_for("the notice arrived", lambda: smtp.about(run_id), 120, services.check)
            time.sleep(5)  # a second notice would follow the first at once
        finally:
            if was_paused is not None:
                set_paused(DAG_ID, was_paused)


def _assert_one_notice(smtp: SmtpServer, run_id: str, airflow_here: dict[str, str]) -> list[str]:
    """The one e-mail about the run: what failed, why, and where its log is; returns the failed tasks."""
    # (the metadata database outlives a test session: a run an earlier session left behind may end and be told too)
    ours = smtp.about(run_id)
    assert [rcpts for rcpts, _ in ours] == [[RECIPIENT]]
    message = ours[0][1]
    subject, body = str(message["Subject"]), message.get_content()
    assert subject == f"【运行失败 Run failed】oversight_ingest（运行 run {run_id}）"  # no valid date to name
    assert f"DAG：{DAG_ID}" in body
    assert f"运行 Run：{run_id}" in body
    failed_line = next(line for line in body.splitlines() if line.startswith("失败任务 Failed task(s)："))
    failed = failed_line.removeprefix("失败任务 Failed task(s)：").split("、")
    assert "plan" in failed
    assert not {"file_items", "http_items", "ingest_city", "pull_city", "sweep"} & set(failed)  # upstream_failed
    assert "business_date “2026-13-45” 无效 is not a date" in body
    # the error, read from the failed task's log
    assert "错误 Error（plan）：AirflowFailException: business date '2026-13-45' is not YYYY-MM-DD" in body
    assert "原因 Reason：任务失败 task_failure" in body
    link = f"{airflow_here['AIRFLOW__API__BASE_URL']}/dags/{DAG_ID}/runs/{run_id}/tasks/plan"
    assert f"日志 Log（plan）：{link}\n" in body
    return failed


def _assert_recorded_and_told_only_once(smtp: SmtpServer, run_id: str, failed: list[str]) -> None:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    rows = notices(DAG_ID, run_id)
    assert [(r[0], r[1], r[2], r[3], r[4]) for r in rows] == [(RECIPIENT, "email", "sent", 1, None)]
    assert rows[0][5] is not None and rows[0][5] == rows[0][6] and rows[0][7] is not None

    # the callback again for the same run (in process, context from the real DagRun): nothing more is sent
    with create_session() as session:
        dag_run = session.scalar(select(DagRun).where(DagRun.dag_id == DAG_ID, DagRun.run_id == run_id))
        assert dag_run is not None
        session.expunge(dag_run)
    # the metadata database (this process) names the same failed tasks as the API server did (dag-processor)
    assert [task_id for task_id, _ in run_failures.failed_task_instances(DAG_ID, run_id)] == failed
    before = len(smtp.box.messages)
    again = run_failures.notify_failed_run({"dag_run": dag_run, "run_id": run_id, "reason": "task_failure"})
    assert again["state"] == "already notified" and again["notices_sent"] == 0
    assert len(smtp.box.messages) == before and len(smtp.about(run_id)) == 1
    assert notices(DAG_ID, run_id)[0][2:4] == ("sent", 1)


def unit_context(run_id: str) -> dict[str, Any]:
    """What the dag-processor hands a DAG failure callback (the data it carries, as plain objects)."""
    dag_run = SimpleNamespace(
        dag_id=DAG_ID,
        run_id=run_id,
        conf={"business_date": "2026-11-04"},
        data_interval_start=None,
        data_interval_end=None,
        logical_date=None,
        consumed_asset_events=[],
    )
    ti = SimpleNamespace(dag_id=DAG_ID, run_id=run_id, task_id="sweep", map_index=-1)
    return {"dag_run": dag_run, "run_id": run_id, "reason": "task_failure", "ti": ti}


@pytest.mark.slow
def test_smtp_down_is_recorded_failed_without_raising_and_sent_once_when_back(
    fresh_warehouse: str, airflow_here: dict[str, str], channels: dict[str, str], smtp: SmtpServer
) -> None:
    run_id = f"manual__unit_{uuid.uuid4().hex[:8]}"
    context = unit_context(run_id)
    smtp.stop()
    down = run_failures.notify_failed_run(context)
    assert (down["state"], down["notices_sent"], down["notices_failed"]) == ("notified", 0, 1)
    rows = notices(DAG_ID, run_id)
    assert [(r[0], r[2], r[3]) for r in rows] == [(RECIPIENT, "failed", 1)]
    assert "ConnectionRefusedError" in rows[0][4] and rows[0][7] is None

    smtp.start()  # back up, same port: the callback fires again for the run (e.g. cleared, failed again)
    up = run_failures.notify_failed_run(context)
    assert (up["state"], up["notices_sent"], up["notices_failed"]) == ("notified", 1, 0)
    assert run_failures.notify_failed_run(context)["state"] == "already notified"
    assert len(smtp.box.messages) == 1
    body = smtp.bodies()[0]
    assert "业务日期 Business date(s)：2026-11-04" in body and "（业务日期 business date 2026-11-04）" in body
    assert f"{airflow_here['AIRFLOW__API__BASE_URL']}/dags/{DAG_ID}/runs/{run_id}/tasks/sweep" in body

    rows = notices(DAG_ID, run_id)
    assert [(r[2], r[3], r[4]) for r in rows] == [("sent", 2, None)]
    assert rows[0][5] < rows[0][6] and rows[0][7] is not None
    with connect("loader") as conn:
        attempts = conn.execute(
            "select recipient, attempt_number, status from alerting.delivery_attempts"
            " where message_key = %s order by attempt_number",
            (f"run_failed/{DAG_ID}/{run_id}",),
        ).fetchall()
    assert attempts == [(RECIPIENT, 1, "failed"), (RECIPIENT, 2, "sent")]


@pytest.mark.slow
def test_unreachable_warehouse_still_tells_the_engineers(
    airflow_here: dict[str, str], channels: dict[str, str], smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAREHOUSE_URL", f"postgresql://nobody:x@127.0.0.1:{free_port()}/oversight")
    outcome = run_failures.notify_failed_run(unit_context("manual__warehouse_down"))
    assert (outcome["state"], outcome["notices_sent"]) == ("unrecorded", 1)
    assert len(smtp.box.messages) == 1


def test_a_callback_never_raises() -> None:
    assert run_failures.notify_failed_run({"reason": "task_failure"})["state"] == "error"


def test_error_text_is_one_short_line_without_control_characters_or_numbers() -> None:
    raw = "ValueError: bad row\n\x1b[31m id 610102201001010012\x00 tel 13800138000\t\u202e on 2026-11-04 " + "x" * 1000
    cleaned = run_failures.clean_error(raw)
    assert len(cleaned) == run_failures.ERROR_CHARS and cleaned.endswith("…")
    assert cleaned.startswith("ValueError: bad row [31m id *** tel *** on 2026-11-04 x")
    assert not any(ord(c) < 32 or c in "\x7f\u202e" for c in cleaned)


def test_log_links_follow_the_airflow_3_ui_routes() -> None:
    base = "http://127.0.0.1:8080/"
    assert (
        run_failures.log_url(base, DAG_ID, "manual__2026-11-05T00:00:00+00:00", "plan")
        == "http://127.0.0.1:8080/dags/oversight_ingest/runs/manual__2026-11-05T00:00:00+00:00/tasks/plan"
    )
    assert run_failures.log_url(base, DAG_ID, "r 1/#", "ingest_city", 3).endswith(
        "/runs/r%201%2F%23/tasks/ingest_city/mapped/3"
    )


def test_state_keys_of_mapped_task_instances() -> None:
    ids = {"plan", "ingest_city", "step_2"}
    assert run_failures._split_state_key("plan", ids) == ("plan", -1)
    assert run_failures._split_state_key("ingest_city_12", ids) == ("ingest_city", 12)
    assert run_failures._split_state_key("step_2", ids) == ("step_2", -1)


def test_the_business_dates_a_run_was_about() -> None:
    def run(**kw: Any) -> SimpleNamespace:
        fields = {"conf": {}, "data_interval_start": None, "data_interval_end": None, "logical_date": None}
        return SimpleNamespace(**{**fields, **kw})

    start = dt.datetime(2026, 11, 4, tzinfo=SHANGHAI)
    assert run_failures.business_dates({}, run(conf={"business_date": "2026-11-03"})) == "2026-11-03"
    assert run_failures.business_dates({"params": {"business_date": "2026-11-02"}}, run()) == "2026-11-02"
    by_interval = run(data_interval_start=start, data_interval_end=start + dt.timedelta(days=1))
    assert run_failures.business_dates({}, by_interval) == "2026-11-04"
    events = [SimpleNamespace(extra={"business_dates": ["2026-11-04", "2026-11-01"]}), SimpleNamespace(extra=None)]
    assert run_failures.business_dates({}, run(consumed_asset_events=events)) == "2026-11-01、2026-11-04"
    assert run_failures.business_dates({}, run()) == "未知 unknown"
    assert run_failures.business_dates({}, None) == "未知 unknown"
    assert "“…”" in run_failures.business_dates({}, run(conf={"business_date": "13800138000 王子涵"}))
    assert "“…”" in run_failures.business_dates({}, run(conf={"business_date": "13800138000"}))
    assert "“2026-13-45”" in run_failures.business_dates({}, run(conf={"business_date": "2026-13-45"}))


def test_the_last_exception_of_a_task_log(tmp_path: Path) -> None:
    structured = tmp_path / "attempt=1.log"
    records = [
        {"event": "Task started", "level": "info"},
        {
            "event": "Task failed with exception",
            "level": "error",
            "error_detail": [
                {"exc_type": "AirflowFailException", "exc_value": "no date", "is_cause": False, "frames": []},
                {"exc_type": "ValueError", "exc_value": "month must be in 1..12", "is_cause": True, "frames": []},
            ],
        },
        {"event": "Task instance in failure state", "level": "info"},
    ]
    structured.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    assert run_failures.last_logged_error(structured) == "AirflowFailException: no date"
    plain = tmp_path / "plain.log"
    plain.write_text("INFO start\nTraceback (most recent call last):\nKeyError: 'x'\nINFO done\n", encoding="utf-8")
    assert run_failures.last_logged_error(plain) == "KeyError: 'x'"
    quiet = tmp_path / "quiet.log"
    quiet.write_text(json.dumps({"event": "ok", "level": "info"}) + "\n", encoding="utf-8")
    assert run_failures.last_logged_error(quiet) is None


def test_notice_text_is_bilingual_and_bounded() -> None:
    from oversight.alerts.rendering import FailedTaskView, render_run_failed

    tasks = [
        FailedTaskView(f"ingest_city[{i}]", f"http://x/dags/d/runs/r/tasks/ingest_city/mapped/{i}", None)
        for i in range(2)
    ]
    message = render_run_failed("d", "r", "2026-11-04", "timed_out", tasks, "ValueError: x", more=338)
    assert message.title == "【运行失败 Run failed】d（业务日期 business date 2026-11-04）"
    assert "失败任务 Failed task(s)：ingest_city[0]、ingest_city[1]（另有 338 个 and 338 more）" in message.text
    assert "原因 Reason：运行超时 timed_out" in message.text and "错误 Error：ValueError: x" in message.text
    assert "[ingest_city[1]](http://x/dags/d/runs/r/tasks/ingest_city/mapped/1)" in message.markdown
    assert os.linesep not in message.title
