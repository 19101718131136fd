-- Acknowledgements of alerts live outside everything dbt builds, so they survive
-- every rebuild and full refresh; marts.risk_alerts joins them by alert_id
-- (stable: the same rule, subject and episode always give the same id).
create schema if not exists alerting;

create table alerting.acknowledgements (
    alert_id        text        primary key,
    acknowledged_by text        not null check (length(trim(acknowledged_by)) > 0),
    note            text        not null default '',
    acknowledged_at timestamptz not null default now()
);
comment on table alerting.acknowledgements is
    'Who acknowledged which alert, when and why; written by `oversight alerts ack`, read by dbt (marts.risk_alerts).';

-- the loader role runs the Airflow tasks and the CLI: it writes acknowledgements and
-- (later migrations) the notification log; dbt reads them
grant usage on schema alerting to oversight_loader, oversight_transformer;
alter default privileges in schema alerting grant select, insert, update, delete on tables to oversight_loader;
alter default privileges in schema alerting grant usage, select on sequences to oversight_loader;
alter default privileges in schema alerting grant select on tables to oversight_transformer;
grant select, insert, update, delete on alerting.acknowledgements to oversight_loader;
grant select on alerting.acknowledgements to oversight_transformer;
