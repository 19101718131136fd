{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook="{{ delete_build_dates('as_of_date') }}",
    )
}}
{#- Refunds per city and business date: cases and completion (cumulative, latest state
    of each case as of the date), amounts refunded by method, and the open backlog
    (requested or in progress) by age in working days. -#}
with

changes as (
    select * from {{ ref('int_refund_changes_daily') }}
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
        sum(c.cases_change) as cases,
        sum(c.completed_change) as completed,
        sum(c.refunded_change_yuan) as refunded_yuan,
        sum(c.refunded_cash_change_yuan) as refunded_cash_yuan,
        sum(c.refunded_course_exchange_change_yuan) as refunded_course_exchange_yuan,
        sum(c.refunded_judicial_change_yuan) as refunded_judicial_yuan,
        sum(c.cases_change) filter (where c.business_date = b.as_of_date) as new_cases
    from build as b
    inner join changes as c on c.source_city_code = b.source_city_code and c.business_date <= b.as_of_date
    group by b.as_of_date, b.source_city_code
),

open_candidates as (
    select
        b.as_of_date,
        v.*
    from build as b
    inner join {{ ref('int_refund_versions') }} as v
        on v.source_city_code = b.source_city_code and v.is_open and v.business_date <= b.as_of_date
),

open_now as (
    -- still open as of the date: no later version on or before it
    select o.*
    from open_candidates as o
    where
        not exists (
            select 1
            from {{ ref('int_refund_versions') }} as n
            where n.source_city_code = o.source_city_code and n.refund_id = o.refund_id
                and n.business_date > o.business_date and n.business_date <= o.as_of_date
        )
),

calendar as (
    select * from {{ ref('int_calendar_days') }}
),

backlog as (
    select
        o.as_of_date,
        o.source_city_code,
        count(*) as open_cases,
        count(*) filter (where d.working_day_number - q.working_day_number <= 5) as open_0_5_working_days,
        count(*) filter (where d.working_day_number - q.working_day_number between 6 and 15) as open_6_15_working_days,
        count(*) filter (where d.working_day_number - q.working_day_number > 15) as open_over_15_working_days,
        count(*) filter (where o.status = 'requested' and d.working_day_number - q.working_day_number > 5)
            as open_requests_overdue
    from open_now as o
    left join calendar as d on d.calendar_date = o.as_of_date
    left join calendar as q on q.calendar_date = o.requested_date
    group by o.as_of_date, o.source_city_code
),

final as (
    select
        c.as_of_date::date as as_of_date,
        c.source_city_code::text as source_city_code,
        c.cases::integer as cases,
        coalesce(c.new_cases, 0)::integer as new_cases,
        c.completed::integer as completed,
        {{ safe_ratio('c.completed', 'c.cases') }} as completion_rate,
        c.refunded_yuan::numeric(18, 2) as refunded_yuan,
        c.refunded_cash_yuan::numeric(18, 2) as refunded_cash_yuan,
        c.refunded_course_exchange_yuan::numeric(18, 2) as refunded_course_exchange_yuan,
        c.refunded_judicial_yuan::numeric(18, 2) as refunded_judicial_yuan,
        coalesce(b.open_cases, 0)::integer as open_cases,
        coalesce(b.open_0_5_working_days, 0)::integer as open_0_5_working_days,
        coalesce(b.open_6_15_working_days, 0)::integer as open_6_15_working_days,
        coalesce(b.open_over_15_working_days, 0)::integer as open_over_15_working_days,
        coalesce(b.open_requests_overdue, 0)::integer as open_requests_overdue
    from cumulative as c
    left join backlog as b using (as_of_date, source_city_code)
)

select * from final
