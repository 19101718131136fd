-- Great Expectations results per delivery: one row per expectation of the kind's
-- suite, written in the same transaction that publishes the delivery. Next to
-- GX's exact unexpected count sits the vectorised engine's count for the same
-- rule and column (the engine decides which rows go to quarantine); `agrees`
-- says whether the two found the same number of failing rows.
-- (0007-0009 are taken by the alerting and warehouse migrations.)
create table audit.validation_results (
    delivery_id             bigint      not null references landing.deliveries,
    ordinal                 integer     not null,
    suite_name              text        not null,
    expectation_type        text        not null,
    rule                    text        not null,
    column_name             text,
    severity                text        not null check (severity in ('row', 'delivery')),
    kwargs                  jsonb       not null,
    success                 boolean     not null,
    element_count           integer,
    unexpected_count        integer,
    engine_unexpected_count integer,
    agrees                  boolean     not null,
    exception               text,
    evaluated_at            timestamptz not null default now(),
    primary key (delivery_id, ordinal)
);

create view audit.validation_summary as
select
    delivery_id,
    min(suite_name)                                   as suite_name,
    count(*)                                          as expectations_evaluated,
    count(*) filter (where success)                   as expectations_passed,
    count(*) filter (where not success)               as expectations_failed,
    coalesce(sum(unexpected_count), 0)                as unexpected_values,
    bool_and(agrees)                                  as engine_agrees,
    max(evaluated_at)                                 as evaluated_at
from audit.validation_results
group by delivery_id;

grant select, insert, delete on audit.validation_results to oversight_loader;
grant select on audit.validation_results, audit.validation_summary to oversight_loader, oversight_transformer;
