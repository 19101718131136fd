"""The alerts section of the run report (``make demo``): alerts by rule, the open
ones, and the delivery log's state."""

from __future__ import annotations

from oversight.alerts.notify import AlertsNotBuilt, institution_names, read_alerts
from oversight.alerts.rendering import SEVERITY_ZH, STATUS_ZH, city_name, rules
from oversight.alerts.routing import SEVERITIES
from oversight.db.connection import connect
from oversight.reporting.tables import markdown


def alerts_section(limit: int = 40) -> str:
    try:
        alerts = read_alerts()
    except AlertsNotBuilt:
        return "## Risk alerts\n\nNot evaluated: marts.risk_alerts has not been built.\n"
    catalogue = rules()
    order = {s: i for i, s in enumerate(SEVERITIES)}

    def _rank(rule_id: str) -> int:
        return order.get(catalogue[rule_id].severity, 9) if rule_id in catalogue else 9

    by_rule: dict[str, dict[str, int]] = {}
    for a in alerts:
        counts = by_rule.setdefault(a.rule_id, {"open": 0, "acknowledged": 0, "resolved": 0})
        counts[a.status] = counts.get(a.status, 0) + 1
    rule_rows: list[list[object]] = [
        [
            f"`{rule_id}`",
            catalogue[rule_id].title_zh if rule_id in catalogue else "",
            catalogue[rule_id].severity if rule_id in catalogue else "",
            c["open"],
            c["acknowledged"],
            c["resolved"],
        ]
        for rule_id, c in sorted(
            by_rule.items(),
            key=lambda kv: (order.get(catalogue[kv[0]].severity if kv[0] in catalogue else "", 9), kv[0]),
        )
    ]
    current = sorted(
        (a for a in alerts if a.status != "resolved"),
        key=lambda a: (order.get(a.severity, 9), a.rule_id, a.alert_id),
    )
    names = institution_names({a.institution_id for a in current if a.institution_id})
    open_rows: list[list[object]] = [
        [
            a.alert_id[:12],
            SEVERITY_ZH.get(a.severity, a.severity),
            STATUS_ZH.get(a.status, a.status),
            catalogue[a.rule_id].title_zh if a.rule_id in catalogue else a.rule_id,
            city_name(a.city_code),
            (names.get(a.institution_id) or a.institution_id) if a.institution_id else "（全市）",
            a.first_detected_date,
            a.last_detected_date,
        ]
        for a in current[:limit]
    ]
    with connect("loader") as conn:
        log = conn.execute(
            "select channel, status, count(*), sum(attempts) from alerting.notifications group by 1, 2 order by 1, 2"
        ).fetchall()
    out = f"## Risk alerts\n\n{len(alerts)} alerts in marts.risk_alerts.\n\n"
    out += markdown(["rule", "title", "severity", "open", "acknowledged", "resolved"], rule_rows) if rule_rows else ""
    out += "\n\n### Open and acknowledged\n\n"
    out += (
        markdown(["id", "级别", "状态", "规则", "城市", "机构", "首次发现", "最近发现"], open_rows)
        if open_rows
        else "None."
    )
    if len(current) > limit:
        out += f"\n\n… and {len(current) - limit} more (`oversight alerts list`)."
    out += "\n\n### Notifications (alerting.notifications)\n\n"
    out += (
        markdown(["channel", "status", "notifications", "attempts"], [list(r) for r in log])
        if log
        else "Nothing owed to anyone yet."
    )
    return out + "\n"
