"""``make demo``: the main job end to end on the embedded default.

Stages (each shows only what is real): embedded warehouse up and migrated,
the real DAGs run per business date over the demo landing root, a report
written under ``.local/reports``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable

from oversight.config import paths
from oversight.db.connection import warehouse_url
from oversight.devkit.local_outbox import LocalOutbox
from oversight.devkit.runner import run_range
from oversight.devkit.simulator import simulate
from oversight.reporting.run_report import write_report

DEMO_START = dt.date(2026, 11, 2)  # a Monday: the week includes a rest day
DEMO_END = dt.date(2026, 11, 8)


def masked(url: str) -> str:
    return re.sub(r"://([^:/@]+):[^@]+@", r"://\1:***@", url)


def demo(echo: Callable[[str], None] = print) -> int:
    landing = paths().local / "demo" / "landing"
    manifest = landing / "_simulation" / "manifest.json"
    if manifest.exists():
        echo(f"== simulated Shaanxi deliveries already in {landing}")
    else:
        echo(f"== simulating Shaanxi's 11 reporting units, {DEMO_START} to {DEMO_END} (about a minute)")
        result = simulate(landing, DEMO_START, DEMO_END)
        echo(f"   {len(result['deliveries'])} deliveries, {sum(d['rows'] for d in result['deliveries'])} rows")
    echo(f"== warehouse: {masked(warehouse_url())}")
    # alerts go through the real channels (SMTP, signed DingTalk webhook) to a local outbox on
    # loopback: the demo never writes to anyone outside this machine
    outbox_dir = paths().local / "demo" / "outbox"
    with LocalOutbox(outbox_dir) as outbox:
        os.environ.update(outbox.environment())
        echo(f"== alert channels: SMTP 127.0.0.1:{outbox.smtp_port}, DingTalk robot 127.0.0.1:{outbox.robot_port}")
        echo(f"== pipeline: business dates {DEMO_START} to {DEMO_END}, landing {landing}")
        run_range(landing, DEMO_START, DEMO_END, echo=echo)
    echo(
        f"== outbox {outbox_dir}: {outbox.mails} e-mails and {outbox.robot_messages} DingTalk messages received"
        f" this run ({outbox.refused} refused for a bad signature)"
    )
    report = write_report(paths().reports / "demo-report.md", DEMO_START, DEMO_END, landing)
    echo(f"== report written: {report}")
    echo(report.read_text(encoding="utf-8"))
    return 0
