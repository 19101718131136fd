-- The landing manifest: one row per delivery the platform received, whatever
-- became of it. Payloads are stored content-addressed (SHA-256) before parsing.

create table landing.deliveries (
    delivery_id     bigint generated always as identity primary key,
    city_code       char(6) not null check (city_code ~ '^[0-9]{6}$'),
    kind            text not null check (kind in ('institutions', 'fee_ledger', 'refunds', 'complaints')),
    business_date   date not null,
    channel         text not null check (channel in ('file', 'http')),
    original_name   text not null,
    bytes           bigint not null check (bytes >= 0),
    sha256          char(64) not null check (sha256 ~ '^[0-9a-f]{64}$'),
    stored_path     text not null,
    received_at     timestamptz not null default now(),
    status          text not null default 'landed'
                    check (status in ('landed', 'published', 'rejected', 'superseded')),
    status_reason   text,
    -- an identical re-delivery (same bytes) of the same (city, kind, date) is the same delivery
    unique (city_code, kind, business_date, sha256)
);

create index deliveries_by_date on landing.deliveries (business_date, city_code, kind);

comment on table landing.deliveries is
    'Every delivery received (file drop or HTTP pull), stored immutably by SHA-256 before parsing.';
