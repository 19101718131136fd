"""Tell the data engineers, once, that a DAG run failed (every DAG's ``on_failure_callback``).

In Airflow 3 a DAG's failure callback runs in the dag-processor, in a child process
whose ORM access is blocked: what it knows of the run is the callback context
(``dag``, ``run_id``, ``reason``; with the task that made the run fail also ``ti``,
``dag_run``, ``params``). The failed task instances are asked of the API server
through the Task SDK's supervisor channel there, and of the metadata database
anywhere else (``dag.test``, a test calling this in process).

The notice says which DAG and run, the business date(s) the run was about (the
``business_date`` conf or param, else the run's data interval or logical date, else
the dates in the extras of the Asset events that triggered it), each failed task
with a link to its log in the Airflow UI, the reason Airflow gave, and the error:
the context's exception when there is one (a DAG callback has none), else the last
exception in each failed task's log file (local logs; with remote logging the link
is what there is). Error text is cut to a few hundred characters, with control
characters removed and runs of 7 or more digits (phone, identity, account numbers)
masked: a task's exception could carry anything.

It goes to ``chain.recipients`` of the routing, through the channels and senders of
the chain-late notice. ``alerting.run_failure_notices`` keeps it to once per (DAG,
run, recipient): a sent notice is never sent again, also when the callback fires
again for the same run (a cleared run that fails again keeps its run_id: its first
failure's notice stands; the table says when it was sent). A failed notice stays
due and is retried when the callback fires for the run again. When the warehouse
itself is unreachable (often why the run failed) the notice is sent anyway,
unrecorded. Nothing here raises out of the callback: every failure is logged.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import json
import logging
import os
import re
import unicodedata
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import psycopg

from oversight.alerts.chain_watch import send_logged
from oversight.alerts.notify import Sender, channel_sender
from oversight.alerts.rendering import FailedTaskView, Message, render_run_failed
from oversight.alerts.routing import Routing, load_routing
from oversight.config import ConfigError
from oversight.dates import NoBusinessDate, dates_from_extras, run_business_date
from oversight.db.connection import WarehouseUnavailable, connect

log = logging.getLogger(__name__)

ERROR_CHARS = 300  # of each error shown
MAX_TASKS = 10  # failed tasks shown one by one (a national day maps 340 cities); the rest are counted
LOG_TAIL_BYTES = 256 * 1024
UNKNOWN = "未知 unknown"
_SHOWN_VALUE = re.compile(r"^[0-9A-Za-z_:\-./ +]{1,40}$")
_EXCEPTION_LINE = re.compile(r"\b([A-Za-z_][\w.]*(?:Error|Exception)): (.+)$")
_LONG_DIGITS = re.compile(r"\d{7,}")  # a phone, identity or account number: never shown (as in rendering)


def clean_text(value: object, limit: int = ERROR_CHARS) -> str:
    """One line of at most ``limit`` characters, without control or format characters."""
    text = "".join(" " if unicodedata.category(c).startswith("C") else c for c in str(value))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clean_error(value: object) -> str:
    """Error text as a notice shows it: one short line, long digit runs masked."""
    return clean_text(_LONG_DIGITS.sub("***", str(value)))


def run_of(context: Mapping[str, Any]) -> tuple[str, str]:
    """(dag_id, run_id) of the callback's run."""
    dag_run = context.get("dag_run")
    dag = context.get("dag")
    dag_id = getattr(dag, "dag_id", None) or getattr(dag_run, "dag_id", None)
    run_id = context.get("run_id") or getattr(dag_run, "run_id", None)
    if not dag_id or not run_id:
        raise ValueError("the callback context names no DAG or no run")
    return str(dag_id), str(run_id)


def business_dates(context: Mapping[str, Any], dag_run: Any) -> str:
    """The business date(s) the run was about, as the notice shows them."""
    conf = getattr(dag_run, "conf", None) or {}
    params = context.get("params") or {}
    raw = (conf.get("business_date") if isinstance(conf, Mapping) else None) or params.get("business_date")
    try:
        return run_business_date(
            raw,
            getattr(dag_run, "data_interval_start", None),
            getattr(dag_run, "data_interval_end", None),
            getattr(dag_run, "logical_date", None),
        ).isoformat()
    except NoBusinessDate:
        if raw not in (None, ""):
            ok = _SHOWN_VALUE.match(str(raw)) and not _LONG_DIGITS.search(str(raw))
            shown = str(raw) if ok else "…"
            return f"{UNKNOWN}（business_date “{shown}” 无效 is not a date）"
    except (TypeError, ValueError) as exc:
        log.warning("run %s: no business date from its interval: %s", getattr(dag_run, "run_id", "?"), exc)
    try:
        events = getattr(dag_run, "consumed_asset_events", None) or []
        found = dates_from_extras([dict(e.extra or {}) for e in events])
    except Exception as exc:  # a detached ORM run, an unreadable extra: the dates stay unknown
        log.info("run %s: Asset event extras not readable: %s", getattr(dag_run, "run_id", "?"), exc)
        found = []
    if not found:
        return UNKNOWN
    if len(found) <= 7:
        return "、".join(d.isoformat() for d in found)
    return f"{found[0].isoformat()} 至 {found[-1].isoformat()}（{len(found)} 天 days）"


def _split_state_key(key: str, task_ids: Collection[str]) -> tuple[str, int]:
    """The API's task-state key: ``task_id``, or ``task_id_<map_index>`` for a mapped instance."""
    if key in task_ids:
        return key, -1
    task_id, _, index = key.rpartition("_")
    if task_id and index.isdigit():
        return task_id, int(index)
    return key, -1


def failed_task_instances(dag_id: str, run_id: str, task_ids: Collection[str] = ()) -> list[tuple[str, int]]:
    """(task_id, map_index) of the run's task instances in state failed (upstream_failed is no cause)."""
    from airflow.sdk.execution_time import task_runner

    if getattr(task_runner, "SUPERVISOR_COMMS", None) is not None:  # the dag-processor's child: no ORM there
        try:
            states = task_runner.RuntimeTaskInstance.get_task_states(dag_id=dag_id, run_ids=[run_id])
            found = [_split_state_key(k, task_ids) for k, s in (states.get(run_id) or {}).items() if s == "failed"]
            return sorted(found)
        except Exception as exc:  # fall back to the metadata database below
            log.info("task states of %s %s not available from the API server: %s", dag_id, run_id, exc)
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(TaskInstance.task_id, TaskInstance.map_index)
            .where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id, TaskInstance.state == "failed")
            .order_by(TaskInstance.task_id, TaskInstance.map_index)
        ).all()
    return [(str(task_id), int(map_index)) for task_id, map_index in rows]


def _airflow_conf(section: str, key: str) -> str:
    from airflow.configuration import conf

    return str(conf.get(section, key, fallback="") or "")


def log_url(base_url: str, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str:
    """The task instance's page (its log) in the Airflow 3 UI."""
    url = f"{base_url.rstrip('/')}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe=':+')}"
    url += f"/tasks/{quote(task_id, safe='')}"
    return url + (f"/mapped/{map_index}" if map_index >= 0 else "")


def log_files(dag_id: str, run_id: str, task_id: str, map_index: int) -> list[Path]:
    """The task instance's local log files (every attempt), newest first, per ``[logging]`` configuration."""
    import jinja2

    folder, template = _airflow_conf("logging", "base_log_folder"), _airflow_conf("logging", "log_filename_template")
    if not folder or not template:
        return []
    mark = "TRYNUMBERMARK"
    ti = SimpleNamespace(dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index, try_number=mark)
    rendered = jinja2.Environment(autoescape=False).from_string(template).render(ti=ti, try_number=mark)  # noqa: S701 - a path
    pattern = os.path.join(glob.escape(folder), glob.escape(rendered).replace(mark, "*"))
    return sorted((Path(p) for p in glob.glob(pattern)), key=lambda p: p.stat().st_mtime, reverse=True)


def _record_error(record: Mapping[str, Any]) -> str | None:
    for key in ("error_detail", "exception"):
        detail = record.get(key)
        if isinstance(detail, list):  # structlog's exception dicts: the raised one first, then its causes
            raised = [e for e in detail if isinstance(e, Mapping) and not e.get("is_cause")]
            if raised:
                return f"{raised[0].get('exc_type', 'Error')}: {raised[0].get('exc_value', '')}"
        if isinstance(detail, str) and detail.strip():
            match = _EXCEPTION_LINE.search(detail.strip().splitlines()[-1])
            if match:
                return f"{match.group(1)}: {match.group(2)}"
    return None


def last_logged_error(path: Path) -> str | None:
    """The last exception (type and message) in a task log: Airflow 3's JSON lines, or plain text."""
    with path.open("rb") as fh:
        fh.seek(max(0, path.stat().st_size - LOG_TAIL_BYTES))
        lines = fh.read().decode("utf-8", errors="replace").splitlines()
    for line in reversed(lines):
        try:
            record = json.loads(line)
        except ValueError:
            match = _EXCEPTION_LINE.search(line)
            if match:
                return f"{match.group(1)}: {match.group(2)}"
            continue
        if isinstance(record, dict):
            found = _record_error(record)
            if found:
                return found
    return None


def task_error(dag_id: str, run_id: str, task_id: str, map_index: int) -> str | None:
    try:
        for path in log_files(dag_id, run_id, task_id, map_index)[:1]:
            found = last_logged_error(path)
            if found:
                return clean_error(found)
    except Exception as exc:  # no error text; the log link is still there
        log.info("log of %s %s %s not readable: %s", dag_id, run_id, task_id, exc)
    return None


def _context_error(context: Mapping[str, Any]) -> str | None:
    exc = context.get("exception")
    if exc is None or exc == "":
        return None
    return clean_error(f"{type(exc).__name__}: {exc}" if isinstance(exc, BaseException) else exc)


def _metadata_dag_run(dag_id: str, run_id: str) -> Any:
    """The run from the metadata database (a callback context without ``dag_run``); None if unreachable."""
    try:
        from airflow.models.dagrun import DagRun
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
            if run is not None:
                session.expunge(run)
            return run
    except Exception as exc:  # the dag-processor has no ORM access: dates unknown
        log.info("run %s %s not readable from the metadata database: %s", dag_id, run_id, exc)
        return None


def build_notice(context: Mapping[str, Any], dag_id: str, run_id: str) -> Message:
    """The notice of the failed run, from the callback context (each part degrades to "unknown")."""
    dag_run = context.get("dag_run") or _metadata_dag_run(dag_id, run_id)
    try:
        dates = business_dates(context, dag_run)
    except Exception as exc:  # an odd conf or params: the notice still goes out
        log.warning("business dates of %s %s unknown: %s", dag_id, run_id, exc)
        dates = UNKNOWN
    task_ids = set(getattr(context.get("dag"), "task_ids", None) or ())
    try:
        failed = failed_task_instances(dag_id, run_id, task_ids)
    except Exception as exc:  # the notice still goes out, with the task that ended the run
        log.warning("failed tasks of %s %s unknown: %s", dag_id, run_id, exc)
        failed = []
    ti = context.get("ti") or context.get("task_instance")
    task_id = getattr(ti, "task_id", None)
    if not failed and task_id:  # none found: the task that ended the run (a timeout, a deadlock)
        index = getattr(ti, "map_index", None)
        failed = [(str(task_id), int(index) if index is not None else -1)]
    base = _airflow_conf("api", "base_url")
    views = [
        FailedTaskView(
            label=task_id + (f"[{index}]" if index >= 0 else ""),
            log_url=log_url(base, dag_id, run_id, task_id, index),
            error=task_error(dag_id, run_id, task_id, index),
        )
        for task_id, index in failed[:MAX_TASKS]
    ]
    return render_run_failed(
        dag_id,
        clean_text(run_id, 250),
        dates,
        clean_text(context.get("reason") or "unknown", 60),
        views,
        _context_error(context),
        more=len(failed) - len(views),
    )


def _send_recorded(
    conn: psycopg.Connection[Any],
    dag_id: str,
    run_id: str,
    routes: list[tuple[str, str]],
    send: Sender,
    build: Callable[[], Message],
) -> dict[str, Any]:
    """Each recipient not yet told, once: one row lock, send, record and commit per recipient."""
    for channel, recipient in routes:
        conn.execute(
            "insert into alerting.run_failure_notices (dag_id, run_id, recipient, channel) values (%s, %s, %s, %s)"
            " on conflict do nothing",
            (dag_id, run_id, recipient, channel),
        )
    conn.commit()
    key = f"run_failed/{dag_id}/{run_id}"
    message: Message | None = None
    sent = failed = 0
    for channel, recipient in routes:
        row = conn.execute(
            "select attempts from alerting.run_failure_notices"
            " where dag_id = %s and run_id = %s and recipient = %s and status <> 'sent' for update skip locked",
            (dag_id, run_id, recipient),
        ).fetchone()
        if row is None:  # sent already (or being sent by a concurrent callback)
            conn.commit()
            continue
        message = message or build()
        error = send_logged(conn, send, key, channel, recipient, int(row[0]) + 1, message)
        status = "failed" if error else "sent"
        conn.execute(
            "update alerting.run_failure_notices set status = %s, attempts = attempts + 1, last_error = %s,"
            " first_attempt_at = coalesce(first_attempt_at, clock_timestamp()), last_attempt_at = clock_timestamp(),"
            " sent_at = case when %s = 'sent' then clock_timestamp() end"
            " where dag_id = %s and run_id = %s and recipient = %s",
            (status, error, status, dag_id, run_id, recipient),
        )
        conn.commit()
        if error:
            log.warning("run-failure notice of %s %s to %s %s failed: %s", dag_id, run_id, channel, recipient, error)
        sent, failed = sent + (error is None), failed + (error is not None)
    state = "notified" if message is not None else "already notified"
    return {"state": state, "notices_sent": sent, "notices_failed": failed}


def notify_failed_run(
    context: Mapping[str, Any], routing: Routing | None = None, send: Sender | None = None
) -> dict[str, Any]:
    """Tell ``chain.recipients`` that the context's DAG run failed, once per run and recipient; never raises."""
    try:
        dag_id, run_id = run_of(context)
        result: dict[str, Any] = {"dag_id": dag_id, "run_id": run_id}
        cfg = routing or load_routing()
        routes = cfg.chain_recipients.routes()
        if not routes:
            log.warning("run %s of %s failed; chain.recipients of %s is empty: nobody told", run_id, dag_id, cfg.origin)
            return {**result, "state": "no recipients"}
        sender = send or channel_sender(cfg)
        with contextlib.ExitStack() as stack:
            try:
                conn = stack.enter_context(connect("loader"))
            except (psycopg.OperationalError, WarehouseUnavailable, ConfigError) as exc:
                log.warning("warehouse unreachable (%s): the notice of %s %s goes out unrecorded", exc, dag_id, run_id)
                message = build_notice(context, dag_id, run_id)
                errors = [send_logged(None, sender, "", channel, r, 1, message) for channel, r in routes]
                for (channel, recipient), error in zip(routes, errors, strict=True):
                    if error:
                        log.warning("run-failure notice to %s %s failed: %s", channel, recipient, error)
                done = sum(e is None for e in errors)
                return {**result, "state": "unrecorded", "notices_sent": done, "notices_failed": len(errors) - done}
            build = functools.partial(build_notice, context, dag_id, run_id)  # only when someone is still due
            outcome = _send_recorded(conn, dag_id, run_id, routes, sender, build)
        log.info("run %s of %s failed: %s", run_id, dag_id, outcome)
        return {**result, **outcome}
    except Exception:  # a failure callback must never raise: log what went wrong instead
        log.exception("run-failure notice not sent (%s)", context.get("run_id"))
        return {"state": "error"}
