# Two commands for a newcomer: `make demo` (the main job end to end on the
# embedded default) and `make test` (lint + the test suite). Each bootstraps
# the virtualenv from the lock file and the embedded database, idempotently.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
UV_VERSION := 0.13.9
LINT_PATHS := plugins dags tests $(wildcard bench)
STAMP  := $(VENV)/.synced-$(shell cat uv.lock pyproject.toml 2>/dev/null | cksum | cut -d' ' -f1)

export UV_PROJECT_ENVIRONMENT := $(VENV)
# make demo, make test and the other local targets use the embedded PostgreSQL unless WAREHOUSE_URL is set
export OVERSIGHT_EMBEDDED_WAREHOUSE := 1
export DO_NOT_TRACK := 1
export GX_ANALYTICS_ENABLED := False
export AIRFLOW__COSMOS__ENABLE_TELEMETRY := False

.PHONY: venv demo test lint stop airflow lock docs manifest clean help

help:
	@echo "make demo    run the pipeline end to end on the embedded warehouse, print indicators, write a report"
	@echo "make test    lint (ruff, mypy) and the test suite"
	@echo "make airflow scheduler, dag-processor, triggerer and api-server on 127.0.0.1"
	@echo "make docs    generate and serve the dbt docs of the warehouse on 127.0.0.1"
	@echo "make stop    stop the embedded PostgreSQL"
	@echo "make lock    re-resolve uv.lock after editing pyproject.toml"

$(STAMP):
	@$(PYTHON) -c 'import sys; v=sys.version_info; sys.exit(0 if (3,11)<=v[:2]<(3,14) else "Python 3.11 to 3.13 is required, found %d.%d (set PYTHON=...)" % v[:2])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(BIN)/uv sync --frozen --extra dev --python $(BIN)/python --quiet
	@rm -f $(VENV)/.synced-*
	@touch $@

venv: $(STAMP)

demo: venv
	$(BIN)/oversight demo

lint: venv
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy
	$(BIN)/sqlfluff lint --processes 0 dbt_project/models

test: lint manifest
	$(BIN)/pytest

# the dbt manifest the warehouse DAG is rendered from (Cosmos LoadMode.DBT_MANIFEST); idempotent
manifest: venv
	$(BIN)/python -c "from oversight.warehouse.dbt import prepare; prepare()"

# dbt docs of the warehouse on http://127.0.0.1:$(DOCS_PORT) (needs the database for the catalog)
DOCS_PORT ?= 8081
docs: manifest
	$(BIN)/python -c "from oversight.warehouse.docs import docs; docs(port=$(DOCS_PORT))"

stop:
	@test -x $(BIN)/oversight && $(BIN)/oversight db stop || echo "no virtualenv: nothing to stop"

airflow: venv
	$(BIN)/oversight airflow-up

lock:
	@test -x $(BIN)/uv || $(MAKE) venv
	$(BIN)/uv lock

clean: stop
	rm -rf $(VENV) .local .pytest_cache .mypy_cache .ruff_cache
