"""Import every production module and DAG file as a production image would, with
``oversight.devkit`` absent; print one JSON object describing what happened.

Run in a fresh interpreter (``python without_devkit.py <dags dir>``) whose
``PYTHONPATH`` starts with a copy of the package that has no ``devkit/``.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import pkgutil
import sys
import traceback
from pathlib import Path

import oversight

failed: dict[str, str] = {}
modules = [
    m.name for m in pkgutil.walk_packages(oversight.__path__, "oversight.") if not m.name.startswith("oversight.devkit")
]
for name in modules:
    try:
        importlib.import_module(name)
    except Exception:
        failed[name] = traceback.format_exc(limit=3)
for dag_file in sorted(Path(sys.argv[1]).glob("*.py")):
    spec = importlib.util.spec_from_file_location(f"dagfile_{dag_file.stem}", dag_file)
    assert spec is not None and spec.loader is not None
    try:
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
    except Exception:
        failed[str(dag_file.name)] = traceback.format_exc(limit=3)

from oversight import cli  # noqa: E402 - after the modules, as a user would run it

commands = sorted(cli.build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
print(
    json.dumps(
        {
            "package": oversight.__file__,
            "modules": modules,
            "failed": failed,
            "devkit_loaded": sorted(m for m in sys.modules if m.startswith("oversight.devkit")),
            "commands": commands,
        }
    )
)
