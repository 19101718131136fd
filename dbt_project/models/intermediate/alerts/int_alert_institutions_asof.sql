{#- Each institution's registry state as of each evaluated date: its city's latest
    snapshot on or before that date (a day whose snapshot was rejected or is missing
    carries the previous one forward, so a state breach is not cut into episodes). -#}
with

dates as (
    select * from {{ ref('int_alert_evaluation_dates') }}
),

institutions as (
    select * from {{ ref('int_institutions_daily') }}
),

city_snapshots as (
    select distinct
        source_city_code,
        business_date as snapshot_date
    from institutions
),

asof as (
    select
        d.business_date,
        s.source_city_code,
        max(s.snapshot_date) as snapshot_date
    from dates as d
    inner join city_snapshots as s on s.snapshot_date <= d.business_date
    group by d.business_date, s.source_city_code
),

final as (
    select
        a.business_date,
        a.snapshot_date,
        i.source_city_code,
        i.institution_id,
        i.category,
        i.stage,
        i.status,
        i.status_changed_date,
        i.approved_date,
        i.baseline_category,
        i.fund_supervision_mode,
        i.is_new_subject_after_baseline
    from asof as a
    inner join institutions as i
        on i.source_city_code = a.source_city_code and i.business_date = a.snapshot_date
)

select * from final
