"""The dbt docs of the warehouse: generated against the database, served on loopback."""

from __future__ import annotations

from pathlib import Path

from oversight.config import paths
from oversight.warehouse.dbt import run_dbt


def docs(port: int = 8081, serve: bool = True) -> Path:
    """``dbt docs generate`` (catalog from the warehouse), then serve it on 127.0.0.1."""
    run_dbt(["docs", "generate"])
    target = paths().local / "dbt" / "target"
    if serve:
        import contextlib
        import functools
        import http.server

        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(target))
        with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
            print(f"dbt docs on http://127.0.0.1:{port}/ (Ctrl-C stops)")
            with contextlib.suppress(KeyboardInterrupt):
                server.serve_forever()
    return target / "index.html"
