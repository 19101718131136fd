# Production-like image: Airflow + the oversight package, installed from uv.lock.
FROM python:3.11.9-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_COMPILE_BYTECODE=1 \
    PATH=/opt/venv/bin:$PATH \
    OVERSIGHT_HOME=/opt/oversight \
    AIRFLOW_HOME=/opt/airflow \
    DO_NOT_TRACK=1 \
    GX_ANALYTICS_ENABLED=False \
    AIRFLOW__COSMOS__ENABLE_TELEMETRY=False \
    DBT_SEND_ANONYMOUS_USAGE_STATS=False

RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq5 curl tini \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 50000 --shell /bin/bash airflow \
    && pip install --no-cache-dir uv==0.13.9

WORKDIR /opt/oversight
# dependencies first (cached layer), exactly as locked; no dev tools in the image
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-install-project --no-editable
COPY plugins ./plugins
# the development kit (simulator, embedded PostgreSQL, demo) stays out: .dockerignore
RUN test ! -e plugins/oversight/devkit
RUN uv sync --frozen --no-editable
COPY dags ./dags
COPY dbt_project ./dbt_project
COPY expectations ./expectations
COPY deploy ./deploy
# the compiled dbt manifest the warehouse DAG is rendered from (Cosmos LoadMode.DBT_MANIFEST),
# and the generated seeds: built into the image, so parsing a DAG file never runs dbt
RUN python -c "from oversight.warehouse.dbt import prepare; prepare()"

RUN mkdir -p /opt/airflow /data/landing /data/store /data/local && chown -R airflow: /opt/airflow /data /opt/oversight
USER airflow
ENTRYPOINT ["/usr/bin/tini", "--", "airflow"]
CMD ["version"]
