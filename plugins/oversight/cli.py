"""The ``oversight`` command line: production commands, plus the development kit's where it is installed."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from oversight.config import apply_telemetry_off, debug
from oversight.dates import date_argument

# The development kit (simulator, embedded PostgreSQL, local Airflow services, demo) is
# left out of production images; its commands are added only where it is installed.
DEVKIT = importlib.util.find_spec("oversight.devkit") is not None


def _devkit() -> Any:
    return importlib.import_module("oversight.devkit.commands")


def cmd_db_url(args: argparse.Namespace) -> int:
    from oversight.db.connection import warehouse_url

    print(warehouse_url())
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    if args.action != "migrate":
        code: int = _devkit().cmd_db(args)
        return code
    from oversight.db.migrate import migrate

    applied = migrate()
    print("applied: " + ", ".join(applied) if applied else "up to date")
    return 0


def cmd_rejections(args: argparse.Namespace) -> int:
    from oversight.config import paths
    from oversight.quality.rejections import write_report

    out = Path(args.out) if args.out else paths().reports / "rejections"
    csv_path, md_path, n = write_report(args.city, args.date, out)
    print(f"{n} rejections: {csv_path} and {md_path}")
    return 0


def cmd_gx(args: argparse.Namespace) -> int:
    from oversight.quality import suites as gx_project

    if args.action == "generate":
        for path in gx_project.generate():
            print(f"wrote {path}")
    else:
        print(f"Data Docs: {gx_project.build_data_docs()}")
    return 0


def cmd_alerts(args: argparse.Namespace) -> int:
    from oversight.alerts import commands

    if args.action == "ack":
        try:
            ack = commands.acknowledge(args.alert_id, args.by, args.note)
        except commands.UnknownAlert as exc:
            print(f"oversight alerts ack: {exc}", file=sys.stderr)
            return 2
        verb = "acknowledged" if ack.changed else "already acknowledged (unchanged)"
        print(f"{verb}: {ack.alert_id} by {ack.acknowledged_by} at {ack.acknowledged_at:%Y-%m-%d %H:%M}")
        return 0
    rows = commands.listing(city=args.city, severity=args.severity, status=args.status)
    print(commands.format_listing(rows))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oversight", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    rej = sub.add_parser("rejections", help="rejection report (CSV and Markdown) for one city and business date")
    rej.add_argument("--city", required=True)
    rej.add_argument("--date", required=True, type=date_argument)
    rej.add_argument("--out", help="folder (default .local/reports/rejections)")
    rej.set_defaults(func=cmd_rejections)

    gx = sub.add_parser("gx", help="Great Expectations: regenerate the suites from the contract, or build Data Docs")
    gx.add_argument("action", choices=["generate", "docs"])
    gx.set_defaults(func=cmd_gx)

    alerts = sub.add_parser("alerts", help="risk alerts: list them, acknowledge one")
    alerts_sub = alerts.add_subparsers(dest="action", required=True)
    ack = alerts_sub.add_parser("ack", help="acknowledge an alert (kept across every rebuild)")
    ack.add_argument("alert_id", help="the alert's id (or a unique prefix of at least 8 characters)")
    ack.add_argument("--by", required=True, help="who acknowledges")
    ack.add_argument("--note", default="", help="why, or what is being done")
    ack.set_defaults(func=cmd_alerts)
    lst = alerts_sub.add_parser("list", help="alerts, most severe first (Chinese names, aligned)")
    lst.add_argument("--city", help="6-digit city code")
    lst.add_argument("--severity", choices=["critical", "high", "medium", "low"])
    lst.add_argument("--status", choices=["open", "resolved", "acknowledged"])
    lst.set_defaults(func=cmd_alerts)

    url = sub.add_parser("db-url", help="print the warehouse's libpq URL (the embedded server's when opted in)")
    url.set_defaults(func=cmd_db_url)

    db = sub.add_parser(
        "db", help="apply pending migrations (with the devkit: start, stop, status the embedded server)"
    )
    db.add_argument("action", choices=["migrate", *(_devkit().DB_ACTIONS if DEVKIT else ())])
    db.set_defaults(func=cmd_db)

    if DEVKIT:
        _devkit().register(sub)

    return parser


def main(argv: list[str] | None = None) -> int:
    apply_telemetry_off()
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one-line reason for the run itself failing
        if debug():
            raise
        print(
            f"oversight {args.command}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
