"""Alert messages in Chinese: figures from the alert's evidence, never personal data.

What a message may show: the rule, its severity and regulation, the city, the
institution (a registered organisation: its unified social credit code and
name), dates, and the evidence's figures. Evidence strings are shown only for
known keys and only when they look like codes, dates or times (no CJK text, no
run of 7 or more digits such as a phone or identity number): a defence in depth
behind the warehouse, which puts no personal data in ``evidence`` to begin with.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

from oversight.config import paths
from oversight.contract.cities import load_cities

SEVERITY_ZH = {"critical": "严重", "high": "高", "medium": "中", "low": "低"}
EVENT_ZH = {"opened": "新预警", "escalated": "预警升级"}
STATUS_ZH = {"open": "未处理", "resolved": "已解除", "acknowledged": "已确认"}

EVIDENCE_LABELS = {
    "class_hours": "课时数",
    "max_class_hours": "课时上限",
    "service_days": "服务期（天）",
    "service_start_date": "服务开始日期",
    "service_end_date": "服务结束日期",
    "max_months": "时间跨度上限（月）",
    "amount_yuan": "收费金额（元）",
    "max_amount_yuan": "金额上限（元）",
    "effective_date": "规则生效日期",
    "unit_price_yuan": "课时单价（元）",
    "benchmark_yuan": "基准价（元）",
    "cap_price_yuan": "最高限价（元）",
    "float_rate": "上浮幅度",
    "class_type": "班型",
    "delivery_mode": "培训形式",
    "channel": "缴费渠道",
    "collections": "笔数",
    "off_platform_yuan": "平台外收费（元）",
    "custody_balance_yuan": "托管余额（元）",
    "liability_yuan": "未消课预收费（元）",
    "reserve_yuan": "风险保证金（元）",
    "collected_3_months_yuan": "近3个月收费（元）",
    "shortfall_yuan": "缺口（元）",
    "cancelled_date": "注销日期",
    "collected_after_cancel_yuan": "注销后收费（元）",
    "approved_date": "审批日期",
    "baseline_date": "政策基准日",
    "class_date": "上课日期",
    "classes": "课次",
    "class_ended_at": "最晚结束时间",
    "latest_end_allowed": "规定结束时间",
    "session_minutes": "单次时长（分钟）",
    "max_minutes": "时长上限（分钟）",
    "requested_date": "最早申请日期",
    "overdue_requests": "逾期申请数",
    "working_days_waiting": "已等待工作日",
    "max_working_days": "办理时限（工作日）",
    "requests": "当日退费申请数",
    "complaints": "当日投诉线索数",
    "baseline_daily": "此前日均",
    "factor": "倍数阈值",
    "min_count": "最低数量",
    "collection_days": "收费天数",
    "window_days": "观察天数",
    "released_classes": "消课次数",
    "fund_supervision_mode": "资金监管方式",
    "status": "机构状态",
    "kinds_late": "迟报数据",
    "kinds_missing": "未报数据",
    "deadline_at": "报送截止时间",
}
VALUE_ZH = {
    "cash": "现金",
    "other": "其他",
    "bank_transfer": "对公转账",
    "platform": "监管平台",
    "offline": "线下",
    "online": "线上",
    "small": "小班",
    "medium": "中班",
    "large": "大班",
    "none": "未纳入监管",
    "escrow": "银行托管",
    "reserve": "风险保证金",
    "active": "正常",
    "suspended": "停业整顿",
    "cancelled": "已注销",
    "institutions": "机构信息",
    "fee_ledger": "资金流水",
    "refunds": "退费",
    "complaints": "投诉线索",
}
_SAFE_TEXT = re.compile(r"^[0-9A-Za-z_:\-./ +T]{1,40}$")
_LONG_DIGITS = re.compile(r"\d{7,}")


@dataclass(frozen=True)
class Rule:
    rule_id: str
    severity: str
    title_zh: str
    regulation: str


@dataclass(frozen=True)
class AlertView:
    """One alert event as a message shows it."""

    alert_id: str
    rule_id: str
    severity: str
    city_code: str
    institution_id: str | None
    institution_name: str | None
    first_detected_date: dt.date | None
    last_detected_date: dt.date | None
    event: str
    evidence: dict[str, Any]


@dataclass(frozen=True)
class Message:
    title: str
    text: str  # plain text (e-mail)
    markdown: str  # DingTalk markdown


@cache
def rules() -> dict[str, Rule]:
    """The rule catalogue: the dbt seed ``alert_rules.csv`` (one source for severity and wording)."""
    path = paths().dbt_project / "seeds" / "alert_rules.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        return {
            r["rule_id"]: Rule(r["rule_id"], r["severity"], r["title_zh"], r["regulation"]) for r in csv.DictReader(fh)
        }


def city_name(code: str) -> str:
    city = load_cities().get(code)
    return city.city_name if city else code


def _safe_text(value: str) -> str | None:
    if value in VALUE_ZH:
        return VALUE_ZH[value]
    if _SAFE_TEXT.match(value) and not _LONG_DIGITS.search(value):
        return value
    return None


def _number(value: int | float | Decimal) -> str:
    if isinstance(value, bool):
        return "是" if value else "否"
    d = Decimal(str(value))
    if d == d.to_integral_value():
        return f"{int(d):,}"
    return f"{d.normalize():,f}"


def evidence_lines(evidence: dict[str, Any]) -> list[str]:
    """``label：value`` for every figure that may be shown (known keys only, safe values only)."""
    out: list[str] = []
    for key, label in EVIDENCE_LABELS.items():  # the labels' order, whatever the jsonb's
        value = evidence.get(key)
        if value is None:
            continue
        if isinstance(value, (int, float, Decimal)):
            shown: str | None = _number(value)
        elif isinstance(value, str):
            shown = _safe_text(value)
        elif isinstance(value, list):
            parts = [_safe_text(v) if isinstance(v, str) else None for v in value]
            shown = "、".join(p for p in parts if p) or None
        else:
            shown = None
        if shown is not None:
            out.append(f"{label}：{shown}")
    return out


def _subject(alert: AlertView) -> str:
    city = f"{city_name(alert.city_code)}（{alert.city_code}）"
    if alert.institution_id is None:
        return city
    name = alert.institution_name or "名称未知"
    return f"{city} {name}（{alert.institution_id}）"


def _alert_block(alert: AlertView) -> list[str]:
    rule = rules().get(alert.rule_id)
    title = rule.title_zh if rule else alert.rule_id
    lines = [
        f"[{SEVERITY_ZH.get(alert.severity, alert.severity)}] {title}（{alert.rule_id}）· {EVENT_ZH[alert.event]}",
        f"对象：{_subject(alert)}",
        f"发现日期：{alert.first_detected_date} 至 {alert.last_detected_date}",
    ]
    if rule:
        lines.append(f"依据：{rule.regulation}")
    figures = evidence_lines(alert.evidence)
    if figures:
        lines.append("数据：" + "；".join(figures))
    lines.append(f"预警编号：{alert.alert_id}")
    return lines


def _markdown(title: str, blocks: list[list[str]], footer: list[str]) -> str:
    parts = [f"### {title}"]
    for block in blocks:
        parts.append("\n".join([f"**{block[0]}**", *(f"- {line}" for line in block[1:])]))
    parts.append("\n".join(footer))
    return "\n\n".join(parts)


FOOTER = [
    "确认预警：oversight alerts ack <预警编号> --by <处理人> --note <说明>",
    "本消息由校外培训监管数据平台自动发送，不含个人信息。",
]


def render_immediate(alert: AlertView) -> Message:
    """One critical alert, sent at once."""
    rule = rules().get(alert.rule_id)
    what = rule.title_zh if rule else alert.rule_id
    place = city_name(alert.city_code)
    title = f"【{SEVERITY_ZH.get(alert.severity, alert.severity)}预警】{place}：{what}"
    block = _alert_block(alert)
    text = "\n".join([title, "", *block, "", *FOOTER])
    return Message(title, text, _markdown(title, [block], FOOTER))


def render_digest(city_code: str, business_date: dt.date, alerts: list[AlertView]) -> Message:
    """A city's alerts of one business date in one message (most severe first)."""
    order = {"critical": 0, "high": 1, "medium": 2, "low": 3}
    ranked = sorted(alerts, key=lambda a: (order.get(a.severity, 9), a.rule_id, a.institution_id or "", a.alert_id))
    opened = sum(1 for a in ranked if a.event == "opened")
    escalated = len(ranked) - opened
    title = f"【风险预警日报】{city_name(city_code)} {business_date.isoformat()}：新预警{opened}条，升级{escalated}条"
    blocks = [_alert_block(a) for a in ranked]
    text_parts = [title, ""]
    for i, block in enumerate(blocks, 1):
        text_parts += [f"{i}. {block[0]}", *(f"   {line}" for line in block[1:]), ""]
    text = "\n".join([*text_parts, *FOOTER])
    return Message(title, text, _markdown(title, blocks, FOOTER))


def render_chain_late(business_date: dt.date, deadline: dt.datetime, stages: dict[str, str]) -> Message:
    """The daily chain for ``business_date`` has not finished by ``deadline``."""
    title = f"【数据链路延迟】{business_date.isoformat()} 的每日处理未在 {deadline:%Y-%m-%d %H:%M} 前完成"
    lines = [f"{name}：{state}" for name, state in stages.items()]
    footer = ["请数据工程师检查 Airflow 中 oversight_ingest、oversight_warehouse、oversight_alerts 的运行。"]
    text = "\n".join([title, "", *lines, "", *footer])
    return Message(title, text, _markdown(title, [["各环节状态", *lines]], footer))


REASON_ZH = {"task_failure": "任务失败", "timed_out": "运行超时", "all_tasks_deadlocked": "任务无法继续（依赖死锁）"}


@dataclass(frozen=True)
class FailedTaskView:
    """A failed task of a DAG run as the run-failure notice shows it (error already cleaned)."""

    label: str  # task id, with [map index] when mapped
    log_url: str
    error: str | None


def render_run_failed(
    dag_id: str,
    run_id: str,
    business_dates: str,
    reason: str,
    tasks: list[FailedTaskView],
    error: str | None,
    more: int = 0,
) -> Message:
    """A DAG run failed (Chinese and English): the run, its business date(s), failed tasks, errors, log links."""
    about = f"业务日期 business date {business_dates}" if business_dates[:1].isdigit() else f"运行 run {run_id}"
    title = f"【运行失败 Run failed】{dag_id}（{about}）"
    lines = [
        f"DAG：{dag_id}",
        f"运行 Run：{run_id}",
        f"业务日期 Business date(s)：{business_dates}",
        f"失败任务 Failed task(s)：{'、'.join(t.label for t in tasks) or '未知 unknown'}"
        + (f"（另有 {more} 个 and {more} more）" if more > 0 else ""),
        f"原因 Reason：{REASON_ZH[reason] + ' ' if reason in REASON_ZH else ''}{reason}",
    ]
    if error:
        lines.append(f"错误 Error：{error}")
    lines += [f"错误 Error（{t.label}）：{t.error}" for t in tasks if t.error]
    logs = [f"日志 Log（{t.label}）：{t.log_url}" for t in tasks]
    footer = [
        "请数据工程师查看日志，排除问题后在 Airflow 中清除（Clear）失败的任务重跑。同一运行只通知一次。",
        "Data engineers: read the log, fix the cause, then clear the failed task(s) in Airflow. One notice per run.",
        "本消息由校外培训监管数据平台自动发送，不含个人信息。",
    ]
    text = "\n".join([title, "", *lines, *logs, "", *footer])
    blocks = [["运行 Run", *lines]]
    if tasks:
        blocks.append(["日志 Logs", *(f"[{t.label}]({t.log_url})" for t in tasks)])
    return Message(title, text, _markdown(title, blocks, footer))
