"""The ``oversight`` command line (see ../shared warehouse interface: run, db-url)."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

from oversight.config import apply_telemetry_off


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from exc


def cmd_run(args: argparse.Namespace) -> int:
    from oversight.devkit.runner import run_range

    return run_range(Path(args.landing), args.start, args.end, verbose=args.verbose)


def cmd_db_url(args: argparse.Namespace) -> int:
    from oversight.db.connection import warehouse_url

    print(warehouse_url())
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from oversight.db.connection import embedded, is_embedded, warehouse_url

    if args.action == "start":
        print(warehouse_url())
    elif args.action == "stop":
        if not is_embedded():
            print("WAREHOUSE_URL is set: the configured server is not ours to stop")
        else:
            print("stopped" if embedded().stop() else "not running")
    elif args.action == "status":
        if not is_embedded():
            print("configured (WAREHOUSE_URL)")
        else:
            port = embedded().running_port()
            print(f"running on 127.0.0.1:{port}" if port else "not running")
    elif args.action == "migrate":
        from oversight.db.migrate import migrate

        applied = migrate()
        print("applied: " + ", ".join(applied) if applied else "up to date")
    return 0


def cmd_airflow(args: argparse.Namespace) -> int:
    from oversight.devkit.airflow_runtime import airflow_cmd, ensure_metadata_db

    ensure_metadata_db()
    return airflow_cmd(args.airflow_args, check=False).returncode


def cmd_airflow_up(args: argparse.Namespace) -> int:
    from oversight.devkit.airflow_services import serve

    return serve(until_healthy=args.until_healthy, timeout=args.timeout)


def cmd_demo(args: argparse.Namespace) -> int:
    from oversight.devkit.demo import demo

    return demo()


def cmd_simulate(args: argparse.Namespace) -> int:
    from oversight.devkit.simulator import simulate

    manifest = simulate(
        Path(args.out),
        args.start,
        args.end,
        province=args.province,
        seed=args.seed,
        scale=args.scale,
        cities=args.cities.split(",") if args.cities else None,
    )
    files = len(manifest["deliveries"])
    rows = sum(d["rows"] for d in manifest["deliveries"])
    print(f"wrote {files} deliveries ({rows} rows) for {len(manifest['units'])} units to {args.out}")
    print(f"manifest: {Path(args.out) / '_simulation' / 'manifest.json'}")
    return 0


def cmd_serve_city(args: argparse.Namespace) -> int:
    import time

    from oversight.devkit.city_server import CityPlatform, CityServer, parse_fault

    faults = [parse_fault(f) for f in args.fault or []]
    token = os.environ.get(args.token_env)
    if not token:
        print(f"set the bearer token in ${args.token_env}", file=sys.stderr)
        return 2
    platforms = [CityPlatform(Path(args.landing), code, token, list(faults)) for code in args.city]
    server = CityServer(platforms, port=args.port).start()
    for code in args.city:
        print(f"city {code}: {server.base_url(code)}/api/v1/extracts/{{kind}}?date=YYYY-MM-DD&page=1&page_size=1000")
    try:
        while True:
            time.sleep(3600)
    finally:
        server.stop()


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

    run = sub.add_parser("run", help="ingest, validate, load, build and alert for a range of business dates")
    run.add_argument("--landing", required=True, help="landing root (file-drop layout)")
    run.add_argument("--start", required=True, type=_date)
    run.add_argument("--end", required=True, type=_date)
    run.add_argument("--verbose", action="store_true", help="show Airflow's task logs")
    run.set_defaults(func=cmd_run)

    sim = sub.add_parser("simulate", help="write a province's simulated deliveries (file-drop layout)")
    sim.add_argument("--out", required=True)
    sim.add_argument("--start", required=True, type=_date)
    sim.add_argument("--end", required=True, type=_date)
    sim.add_argument("--province", default="61")
    sim.add_argument("--seed", type=int, default=20221)
    sim.add_argument("--scale", type=float, default=1.0, help="multiplies daily activity (load generation)")
    sim.add_argument("--cities", help="comma-separated city codes (default: every unit of the province)")
    sim.set_defaults(func=cmd_simulate)

    serve = sub.add_parser("serve-city", help="serve simulated deliveries through the city HTTP API (loopback)")
    serve.add_argument("--landing", required=True, help="file-drop root to serve from (e.g. the simulator's)")
    serve.add_argument("--city", action="append", required=True, help="city code; repeat for several")
    serve.add_argument("--port", type=int, default=0)
    serve.add_argument("--token-env", default="CITY_TOKEN", help="environment variable holding the bearer token")
    serve.add_argument(
        "--fault", action="append", help="inject: status=500,times=2[,kind=refunds][,date=D][,retry_after=3]"
    )
    serve.set_defaults(func=cmd_serve_city)

    rej = sub.add_parser("rejections", help="rejection report (CSV and Markdown) for one city and business date")
    rej.add_argument("--city", required=True)
    rej.add_argument("--date", required=True, type=_date)
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

    demo = sub.add_parser("demo", help="the main job end to end on the embedded default (make demo)")
    demo.set_defaults(func=cmd_demo)

    url = sub.add_parser("db-url", help="print the warehouse's libpq URL (starts the embedded server)")
    url.set_defaults(func=cmd_db_url)

    db = sub.add_parser("db", help="embedded warehouse: start, stop, status, migrate")
    db.add_argument("action", choices=["start", "stop", "status", "migrate"])
    db.set_defaults(func=cmd_db)

    af = sub.add_parser("airflow", help="the airflow CLI with this project's runtime environment")
    af.add_argument("airflow_args", nargs=argparse.REMAINDER)
    af.set_defaults(func=cmd_airflow)

    up = sub.add_parser("airflow-up", help="run scheduler, dag-processor, triggerer and api-server on 127.0.0.1")
    up.add_argument("--until-healthy", action="store_true", help="exit 0 once every component reports healthy")
    up.add_argument("--timeout", type=float, default=180.0)
    up.set_defaults(func=cmd_airflow_up)
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
        if os.environ.get("OVERSIGHT_DEBUG"):
            raise
        print(
            f"oversight {args.command}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
