-- Notices that a DAG run failed (every DAG's on_failure_callback, oversight.alerts.run_failures):
-- one row per (DAG, run, recipient) of the routing's chain.recipients. A row that is
-- sent is never sent again, whatever fires the callback again for the same run (a
-- cleared run that fails again keeps its run_id: it is not notified twice); a failed
-- row stays due and is tried again the next time the callback fires for that run.
-- Each attempt is also logged in alerting.delivery_attempts ('run_failed/<dag>/<run>').
create table alerting.run_failure_notices (
    dag_id           text        not null,
    run_id           text        not null,
    recipient        text        not null check (length(recipient) > 0),
    channel          text        not null check (channel in ('email', 'webhook')),
    status           text        not null default 'pending' check (status in ('pending', 'sent', 'failed')),
    attempts         integer     not null default 0 check (attempts >= 0),
    last_error       text,
    created_at       timestamptz not null default now(),
    first_attempt_at timestamptz,
    last_attempt_at  timestamptz,
    sent_at          timestamptz,
    primary key (dag_id, run_id, recipient)
);
create index run_failure_notices_due on alerting.run_failure_notices (dag_id, run_id) where status <> 'sent';
comment on table alerting.run_failure_notices is
    'Data engineers told that a DAG run failed: once per (DAG, run, recipient); written by the DAG failure callback as the loader.';

-- the failure callback runs as the loader (like every alerting write); it never deletes
-- its log, and dbt has no use for it (the schema's default privileges would grant both)
grant select, insert, update on alerting.run_failure_notices to oversight_loader;
revoke delete, truncate on alerting.run_failure_notices from oversight_loader;
revoke all on alerting.run_failure_notices from oversight_transformer;
