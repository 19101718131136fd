"""The development kit's commands: demo, run, simulate, serve-city, the embedded
server (db start/stop/status) and the local Airflow services.

Registered by ``oversight.cli`` only where the development kit is installed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from oversight.config import configured_warehouse_url, setting
from oversight.dates import date_argument

DB_ACTIONS = ("start", "stop", "status")


def cmd_db(args: argparse.Namespace) -> int:
    """The embedded server (``.local/pg``); a configured ``WAREHOUSE_URL`` is not ours to manage."""
    from oversight.devkit.embedded_pg import warehouse

    if configured_warehouse_url():
        print("WAREHOUSE_URL is set: the configured server is not ours to " + args.action)
        return 0
    if args.action == "start":
        print(warehouse().url("oversight"))
    elif args.action == "stop":
        print("stopped" if warehouse().stop() else "not running")
    else:
        port = warehouse().running_port()
        print(f"running on 127.0.0.1:{port}" if port else "not running")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from oversight.devkit.runner import run_range

    return run_range(Path(args.landing), args.start, args.end, verbose=args.verbose)


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
    token = setting(args.token_env)
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


def register(sub: Any) -> None:
    """Add the development kit's subcommands to the ``oversight`` parser."""
    run = sub.add_parser("run", help="ingest, validate, load, build and alert for a range of business dates")
    run.add_argument("--landing", required=True, help="landing root (file-drop layout)")
    run.add_argument("--start", required=True, type=date_argument)
    run.add_argument("--end", required=True, type=date_argument)
    run.add_argument("--verbose", action="store_true", help="show Airflow's task logs")
    run.set_defaults(func=cmd_run)

    sim = sub.add_parser("simulate", help="write a province's simulated deliveries (file-drop layout)")
    sim.add_argument("--out", required=True)
    sim.add_argument("--start", required=True, type=date_argument)
    sim.add_argument("--end", required=True, type=date_argument)
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

    demo = sub.add_parser("demo", help="the main job end to end on the embedded default (make demo)")
    demo.set_defaults(func=cmd_demo)

    af = sub.add_parser("airflow", help="the airflow CLI with this project's runtime environment")
    af.add_argument("airflow_args", nargs=argparse.REMAINDER)
    af.set_defaults(func=cmd_airflow)

    up = sub.add_parser("airflow-up", help="run scheduler, dag-processor, triggerer and api-server on 127.0.0.1")
    up.add_argument("--until-healthy", action="store_true", help="exit 0 once every component reports healthy")
    up.add_argument("--timeout", type=float, default=180.0)
    up.set_defaults(func=cmd_airflow_up)
