{#- The business dates alerts are evaluated for: every date the ingest DAG planned or
    a registry snapshot exists for. A rule not breached on an evaluated date ends its
    episode; the latest evaluated date decides open versus resolved. -#}
with

planned as (
    select distinct business_date from {{ ref('stg_landing__expected_deliveries') }}
),

snapshots as (
    select distinct business_date from {{ ref('int_institutions_daily') }}
),

final as (
    select business_date from planned
    union
    select business_date from snapshots
)

select * from final
