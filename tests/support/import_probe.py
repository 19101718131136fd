"""Import each DAG file given on the command line and report I/O done meanwhile.

Run in a fresh interpreter: the libraries a DAG file imports are imported
first, then an audit hook records file opens (other than code being imported),
sockets, subprocesses and directory scans while each DAG file executes. Prints
one JSON object: {"events": [...], "dags": {...}}.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import sysconfig

import airflow.sdk  # noqa: F401 - imported before the hook: library start-up is not the DAG's I/O
import pendulum  # noqa: F401
from airflow.sdk import DAG
from airflow.sdk.definitions._internal.contextmanager import DagContext
from airflow.timetables.interval import CronDataIntervalTimetable  # noqa: F401

import oversight  # noqa: F401

CODE_SUFFIXES = (".py", ".pyc", ".so", ".pth", ".pyi")
# the import system lists these while resolving modules; tz data is a library's lookup
LIB_DIRS = tuple(
    {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    | {p for p in sys.path if p}
    | {"/usr/share/zoneinfo"}
)
events: list[str] = []
armed = False


def hook(event: str, args: tuple[object, ...]) -> None:
    if not armed:
        return
    if event == "open":
        path = str(args[0])
        if path.endswith(CODE_SUFFIXES) or path.startswith(LIB_DIRS) or "__pycache__" in path:
            return
        events.append(f"open {path}")
    elif event in ("os.scandir", "os.listdir"):
        if not str(args[0]).startswith(LIB_DIRS):
            events.append(f"{event} {args[0]!r}")
    elif event in ("socket.connect", "socket.getaddrinfo", "subprocess.Popen", "os.system"):
        events.append(f"{event} {args[:2]!r}")


sys.addaudithook(hook)
result: dict[str, object] = {}
for path in sys.argv[1:]:
    name = "probe_" + os.path.basename(path)[:-3]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    DagContext.autoregistered_dags.clear()
    DagContext.current_autoregister_module_name = name
    armed = True
    spec.loader.exec_module(module)
    armed = False
    found = {id(d): d for d in vars(module).values() if isinstance(d, DAG)}
    found.update({id(d): d for d, _mod in DagContext.autoregistered_dags})
    result[path] = [
        {
            "dag_id": d.dag_id,
            "tags": sorted(d.tags),
            "doc_md": bool(d.doc_md and d.doc_md.strip()),
            "description": d.description or "",
            "on_failure_callback": [
                f"{c.__module__}.{c.__qualname__}"
                for c in (d.on_failure_callback if isinstance(d.on_failure_callback, list) else [d.on_failure_callback])
                if c is not None
            ],
            "tasks": [
                {
                    "task_id": t.task_id,
                    "owner": t.owner,
                    "retries": t.retries,
                    "execution_timeout": t.execution_timeout.total_seconds() if t.execution_timeout else None,
                }
                for t in d.tasks
            ],
        }
        for d in found.values()
    ]
print(json.dumps({"events": events, "dags": result}))
