-- The alert delivery log (issue 6). Two tables in schema alerting, outside
-- everything dbt builds, so a rebuild or full refresh never forgets what was sent.
--
--   notifications       one row per (alert, event, channel, recipient): what is owed
--                       to whom, and whether it has been delivered. The unique key is
--                       what makes a re-run never re-send what was sent (status sent)
--                       and always retry what failed (status pending or failed).
--   delivery_attempts   one row per message sent or tried (an immediate message for
--                       one critical alert, or a city's daily digest): every attempt,
--                       its number, outcome and error, for audit.
--
-- event: 'opened' (the alert's first notification to this recipient) or 'escalated'
-- (its severity rose, or its evidence's magnitude grew by the configured factor,
-- since the last notification); event_key tells escalations apart ('' for opened).

create table alerting.notifications (
    notification_id  bigint generated always as identity primary key,
    alert_id         text        not null,
    event            text        not null check (event in ('opened', 'escalated')),
    event_key        text        not null default '',
    channel          text        not null check (channel in ('email', 'webhook')),
    recipient        text        not null check (length(recipient) > 0),
    rule_id          text        not null,
    severity         text        not null check (severity in ('critical', 'high', 'medium', 'low')),
    city_code        char(6)     not null,
    institution_id   text,
    first_detected_date date     not null,
    last_detected_date  date     not null,
    magnitude        numeric,
    evidence         jsonb       not null default '{}'::jsonb,
    -- the business date whose evaluation created this event (a digest's date)
    business_date    date        not null,
    -- null: sent at once on its own (critical); else the digest it belongs to ('<city>/<date>')
    digest_key       text,
    status           text        not null default 'pending' check (status in ('pending', 'sent', 'failed')),
    attempts         integer     not null default 0 check (attempts >= 0),
    last_error       text,
    created_at       timestamptz not null default now(),
    last_attempt_at  timestamptz,
    sent_at          timestamptz,
    unique (alert_id, event, event_key, channel, recipient)
);
create index notifications_due on alerting.notifications (status) where status <> 'sent';
comment on table alerting.notifications is
    'What each recipient is owed about each alert event and whether it was delivered; unique per (alert, event, event_key, channel, recipient).';

create table alerting.delivery_attempts (
    attempt_id       bigint generated always as identity primary key,
    message_key      text        not null,
    channel          text        not null check (channel in ('email', 'webhook')),
    recipient        text        not null,
    alert_ids        text[]      not null default '{}',
    events           text[]      not null default '{}',
    attempt_number   integer     not null check (attempt_number >= 1),
    status           text        not null check (status in ('sent', 'failed')),
    error            text,
    started_at       timestamptz not null default now(),
    finished_at      timestamptz not null default now()
);
create index delivery_attempts_by_message on alerting.delivery_attempts (message_key, channel, recipient);
comment on table alerting.delivery_attempts is
    'Every delivery attempt of an alert message (immediate or digest) or chain-late notice: outcome and error.';

-- Notices that the daily chain was late, once per (business date, recipient).
create table alerting.chain_notices (
    business_date    date        not null,
    channel          text        not null check (channel in ('email', 'webhook')),
    recipient        text        not null,
    status           text        not null default 'pending' check (status in ('pending', 'sent', 'failed')),
    attempts         integer     not null default 0,
    last_error       text,
    detail           jsonb       not null default '{}'::jsonb,
    created_at       timestamptz not null default now(),
    sent_at          timestamptz,
    primary key (business_date, channel, recipient)
);
comment on table alerting.chain_notices is
    'Data engineers told that the daily chain (ingest, warehouse, alerts) had not finished by its set time.';

-- Each business date the alerts DAG finished evaluating: the chain-late watch reads it.
create table alerting.evaluations (
    business_date    date        primary key,
    evaluated_at     timestamptz not null default now(),
    open_alerts      integer     not null default 0,
    events_planned   integer     not null default 0
);
comment on table alerting.evaluations is
    'Business dates whose daily chain (ingest, warehouse, alerts) finished; written by the alerts DAG.';

grant select, insert, update, delete
    on alerting.notifications, alerting.delivery_attempts, alerting.chain_notices, alerting.evaluations
    to oversight_loader;
grant select on alerting.notifications, alerting.delivery_attempts, alerting.chain_notices, alerting.evaluations
    to oversight_transformer;
grant usage, select on all sequences in schema alerting to oversight_loader;
