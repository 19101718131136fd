-- Raw tables: the conformant rows of the live delivery of each (city, kind, date),
-- typed per the contract (enumerations as their English codes). A redelivery
-- replaces its predecessor's rows in one transaction. Clear personal data lives
-- here: raw is readable by the loader and the transformer only.

create table raw.institutions (
    delivery_id             bigint not null references landing.deliveries,
    source_city_code        char(6) not null,
    business_date           date not null,
    row_number              integer not null,
    institution_id          text not null,
    institution_name        text not null,
    city_code               text not null,
    district                text,
    category                text not null,
    non_subject_field       text,
    stage                   text not null,
    delivery_mode           text not null,
    baseline_category       text,
    status                  text not null,
    nonprofit               boolean not null,
    approved_date           date not null,
    status_changed_date     date,
    license_no              text,
    address                 text,
    residential_premises    boolean,
    fund_supervision_mode   text not null,
    custodian_bank          text,
    on_platform             boolean not null,
    uses_model_contract     boolean not null,
    extra_columns           jsonb,
    primary key (delivery_id, row_number),
    unique (delivery_id, institution_id)
);
create index raw_institutions_by_date on raw.institutions (business_date, source_city_code);

create table raw.fee_ledger (
    delivery_id             bigint not null references landing.deliveries,
    source_city_code        char(6) not null,
    business_date           date not null,
    row_number              integer not null,
    movement_id             text not null,
    institution_id          text not null,
    account_no              text not null,
    movement_type           text not null,
    amount_yuan             numeric(16, 2) not null,
    occurred_at             timestamp not null,
    order_id                text,
    student_id_no           text,
    student_name            text,
    course_category         text,
    class_hours             numeric(12, 2),
    unit_price_yuan         numeric(16, 2),
    delivery_mode           text,
    class_type              text,
    service_start_date      date,
    service_end_date        date,
    channel                 text,
    class_started_at        timestamp,
    class_ended_at          timestamp,
    extra_columns           jsonb,
    primary key (delivery_id, row_number),
    -- contract: movement_id is unique per city for ever (validation quarantines a reuse first)
    unique (source_city_code, movement_id)
);
create index raw_fee_ledger_by_date on raw.fee_ledger (business_date, source_city_code);

create table raw.refunds (
    delivery_id             bigint not null references landing.deliveries,
    source_city_code        char(6) not null,
    business_date           date not null,
    row_number              integer not null,
    refund_id               text not null,
    institution_id          text not null,
    order_id                text,
    student_name            text,
    guardian_phone          text,
    requested_amount_yuan   numeric(16, 2) not null,
    refunded_amount_yuan    numeric(16, 2) not null,
    method                  text,
    status                  text not null,
    requested_date          date not null,
    completed_date          date,
    updated_at              timestamp not null,
    extra_columns           jsonb,
    primary key (delivery_id, row_number),
    unique (delivery_id, refund_id)
);
create index raw_refunds_by_date on raw.refunds (business_date, source_city_code);

create table raw.complaints (
    delivery_id             bigint not null references landing.deliveries,
    source_city_code        char(6) not null,
    business_date           date not null,
    row_number              integer not null,
    complaint_id            text not null,
    city_code               text not null,
    received_channel        text not null,
    scope                   text not null,
    institution_id          text,
    category                text not null,
    received_at             timestamp not null,
    status                  text not null,
    closed_at               timestamp,
    reporter_phone          text,
    summary                 text,
    updated_at              timestamp not null,
    extra_columns           jsonb,
    primary key (delivery_id, row_number),
    unique (delivery_id, complaint_id)
);
create index raw_complaints_by_date on raw.complaints (business_date, source_city_code);

-- Rows that broke the contract, verbatim, with machine- and human-readable reasons.
create table quarantine.rows (
    delivery_id             bigint not null references landing.deliveries,
    source_city_code        char(6) not null,
    kind                    text not null,
    business_date           date not null,
    row_number              integer not null,
    delivered_values        jsonb not null,
    reasons                 jsonb not null,
    quarantined_at          timestamptz not null default now(),
    primary key (delivery_id, row_number)
);
create index quarantine_rows_by_date on quarantine.rows (business_date, source_city_code, kind);

-- Per delivery: proof that every delivered row was published or quarantined.
create table audit.loads (
    delivery_id             bigint primary key references landing.deliveries,
    rows_delivered          integer not null,
    rows_published          integer not null,
    rows_quarantined        integer not null,
    extra_columns           text[] not null default '{}',
    source_encoding         text,
    source_format           text,
    published_at            timestamptz not null default now(),
    duration_ms             integer,
    check (rows_delivered = rows_published + rows_quarantined)
);

-- Business dates that a (late, corrected or out-of-order) delivery touched,
-- for the warehouse build to rebuild; built_at is set once rebuilt.
create table audit.rebuild_dates (
    business_date           date not null,
    source_city_code        char(6) not null,
    kind                    text not null,
    delivery_id             bigint not null references landing.deliveries,
    reason                  text not null,
    recorded_at             timestamptz not null default now(),
    built_at                timestamptz,
    primary key (delivery_id, business_date)
);
create index rebuild_dates_pending on audit.rebuild_dates (business_date) where built_at is null;

-- Files found under the landing root that are not a delivery of the contract
-- (misnamed, wrong place): kept on record so nothing delivered goes unnoticed.
create table landing.unrecognised_files (
    path                    text primary key,
    reason                  text not null,
    first_seen_at           timestamptz not null default now(),
    last_seen_at            timestamptz not null default now()
);

grant select, insert, update, delete on all tables in schema raw, quarantine, audit, landing to oversight_loader;
grant select on all tables in schema raw, quarantine, audit, landing to oversight_transformer;
grant update (built_at) on audit.rebuild_dates to oversight_transformer;
