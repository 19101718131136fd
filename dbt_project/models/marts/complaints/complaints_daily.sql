{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook="{{ delete_build_dates('as_of_date') }}",
    )
}}
{#- Complaint clues per city, scope, category and channel and business date, cumulative
    (latest state of each clue as of the date): received, closed, closure rate, mean
    days to close, and the open backlog by age in days. -#}
with

changes as (
    select * from {{ ref('int_complaint_changes_daily') }}
),

-- every (date, city) with any delivery, for cities with history in this fact
build as (
    select distinct
        i.business_date as as_of_date,
        i.source_city_code
    from {{ ref('int_institution_counts_daily') }} as i
    where {{ on_build_dates('i.business_date') }}
        and exists (
            select 1 from changes as c
            where c.source_city_code = i.source_city_code and c.business_date <= i.business_date
        )
),

cumulative as (
    select
        b.as_of_date,
        b.source_city_code,
        c.scope,
        c.category,
        c.received_channel,
        sum(c.received_change) as received,
        sum(c.closed_change) as closed,
        sum(c.days_to_close_change) as days_to_close_total
    from build as b
    inner join changes as c on c.source_city_code = b.source_city_code and c.business_date <= b.as_of_date
    group by b.as_of_date, b.source_city_code, c.scope, c.category, c.received_channel
),

open_now as (
    select
        b.as_of_date,
        v.*
    from build as b
    inner join {{ ref('int_complaint_versions') }} as v
        on v.source_city_code = b.source_city_code and not v.is_closed and v.business_date <= b.as_of_date
    where
        not exists (
            select 1
            from {{ ref('int_complaint_versions') }} as n
            where n.source_city_code = v.source_city_code and n.complaint_id = v.complaint_id
                and n.business_date > v.business_date and n.business_date <= b.as_of_date
        )
),

backlog as (
    select
        as_of_date,
        source_city_code,
        scope,
        category,
        received_channel,
        count(*) as open_clues,
        count(*) filter (where as_of_date - received_at::date <= 7) as open_0_7_days,
        count(*) filter (where as_of_date - received_at::date between 8 and 30) as open_8_30_days,
        count(*) filter (where as_of_date - received_at::date > 30) as open_over_30_days
    from open_now
    group by as_of_date, source_city_code, scope, category, received_channel
),

final as (
    select
        c.as_of_date::date as as_of_date,
        c.source_city_code::text as source_city_code,
        c.scope::text as scope,
        c.category::text as category,
        c.received_channel::text as received_channel,
        c.received::integer as received,
        c.closed::integer as closed,
        {{ safe_ratio('c.closed', 'c.received') }} as closure_rate,
        (c.days_to_close_total / nullif(c.closed, 0))::numeric(10, 2) as mean_days_to_close,
        coalesce(b.open_clues, 0)::integer as open_clues,
        coalesce(b.open_0_7_days, 0)::integer as open_0_7_days,
        coalesce(b.open_8_30_days, 0)::integer as open_8_30_days,
        coalesce(b.open_over_30_days, 0)::integer as open_over_30_days
    from cumulative as c
    left join backlog as b using (as_of_date, source_city_code, scope, category, received_channel)
    where c.received > 0 or coalesce(b.open_clues, 0) > 0
)

select * from final
