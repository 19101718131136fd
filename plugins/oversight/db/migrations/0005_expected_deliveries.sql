-- What was expected of each city for each business date, recorded by the ingest
-- DAG's plan task: every (city, kind) it planned, with the deadline in force.
-- extract_late is judged against this table, so a kind that never arrived at all
-- is still seen (a missing delivery has no row in landing.deliveries).
create table landing.expected_deliveries (
    business_date    date        not null,
    source_city_code char(6)     not null,
    kind             text        not null check (kind in ('institutions', 'fee_ledger', 'refunds', 'complaints')),
    channel          text        not null check (channel in ('file', 'http')),
    deadline_at      timestamptz not null,
    is_configured    boolean     not null,
    planned_at       timestamptz not null default now(),
    primary key (business_date, source_city_code, kind)
);
comment on table landing.expected_deliveries is
    'One row per (business date, city, kind) the ingest DAG planned; deadline_at is D+1 at the city''s deadline (Asia/Shanghai). is_configured is false for a city found under the landing root but absent from the source configuration.';
