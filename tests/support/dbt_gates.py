"""dbt-coverage and dbt-score gates, run on the artifacts of one `dbt docs generate`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class DbtDocs:
    target: Path  # manifest.json, catalog.json, index.html
    env: dict[str, str]  # the dbt environment they were made with (dbt-score parses the project again)


def docs_generate(url: str, target: Path) -> DbtDocs:
    """`dbt docs generate` against the warehouse at ``url`` into ``target`` (manifest, catalog, index)."""
    from oversight.warehouse import dbt as dbt_build

    project = dbt_build.project_dir()
    env = {**os.environ, **dbt_build.dbt_env(url), "DBT_TARGET_PATH": str(target), "DBT_LOG_PATH": str(target)}
    gen = subprocess.run(
        [str(BIN / "dbt"), "docs", "generate", "--project-dir", str(project), "--profiles-dir", str(project)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert gen.returncode == 0, gen.stdout[-3000:]
    return DbtDocs(target, env)


def assert_full_coverage(docs: DbtDocs, include: str, exclude: str | None = None) -> None:
    """Documentation and test coverage of the models under ``include`` (minus ``exclude``) is 100%."""
    from oversight.warehouse import dbt as dbt_build

    target = docs.target
    for kind in ("doc", "test"):
        report = target / f"coverage-{kind}-{include.strip('/').replace('/', '_')}.json"
        args = [
            str(BIN / "dbt-coverage"),
            "compute",
            kind,
            "--project-dir",
            str(dbt_build.project_dir()),
            "--run-artifacts-dir",
            str(target),
            "--model-path-filter",
            include,
            *(["--model-path-exclusion-filter", exclude] if exclude else []),
            "--cov-report",
            str(report),
            "--cov-fail-under",
            "1.0",
        ]
        cov = subprocess.run(args, capture_output=True, text=True, env=docs.env, timeout=300)
        assert cov.returncode == 0, f"dbt-coverage {kind}: {cov.stdout[-3000:]}{cov.stderr[-2000:]}"
        report_json = json.loads(report.read_text())
        assert report_json["coverage"] == 1.0, report_json


def assert_score(docs: DbtDocs, select: str, project_min: float, model_min: float, exclude: str | None = None) -> None:
    """dbt-score of the selected models: the project at least ``project_min``, every model ``model_min``."""
    from oversight.warehouse import dbt as dbt_build

    target = docs.target
    args = [
        str(BIN / "dbt-score"),
        "lint",
        "--manifest",
        str(target / "manifest.json"),
        "--select",
        select,
        *(["--exclude", exclude] if exclude else []),
        "--fail-project-under",
        str(project_min),
        "--fail-any-item-under",
        str(model_min),
    ]
    score = subprocess.run(args, capture_output=True, text=True, env=docs.env, cwd=dbt_build.project_dir(), timeout=300)
    assert score.returncode == 0, score.stdout[-4000:] + score.stderr[-2000:]
