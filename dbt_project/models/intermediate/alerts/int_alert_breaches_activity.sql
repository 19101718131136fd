{#- Rules on refunds and complaints as of each evaluated date: refund requests not
    acted on within the working-day limit (status still requested, counted on the
    official working-day calendar), and a day's refund requests or complaint clues
    about one institution far above its own recent daily baseline. -#}
with

dates as (
    select * from {{ ref('int_alert_evaluation_dates') }}
),

refund_versions as (
    select * from {{ ref('int_refund_versions') }}
),

complaint_versions as (
    select * from {{ ref('int_complaint_versions') }}
),

calendar as (
    select * from {{ ref('int_calendar_days') }}
),

params as (
    select * from {{ ref('int_rule_parameters') }}
),

-- cases that were ever waiting (the history of completed cases cannot be overdue)
ever_requested as (
    select distinct
        source_city_code,
        refund_id
    from refund_versions
    where status = 'requested'
),

refund_state as (
    select distinct on (d.business_date, v.source_city_code, v.refund_id)
        d.business_date,
        v.source_city_code,
        v.refund_id,
        v.institution_id,
        v.status,
        v.requested_date
    from dates as d
    inner join refund_versions as v on v.business_date <= d.business_date
    inner join ever_requested as e on e.source_city_code = v.source_city_code and e.refund_id = v.refund_id
    order by d.business_date asc, v.source_city_code asc, v.refund_id asc, v.business_date desc, v.updated_at desc
),

overdue as (
    select
        r.business_date,
        'refund_overdue' as rule_id,
        r.source_city_code as city_code,
        r.institution_id,
        jsonb_build_object(
            'overdue_requests', count(*),
            'requested_date', to_char(min(r.requested_date), 'YYYY-MM-DD'),
            'working_days_waiting', max(cd.working_day_number - cq.working_day_number),
            'max_working_days', max(p.refund_deemed_agreed_working_days),
            'magnitude', count(*)
        ) as evidence
    from refund_state as r
    inner join calendar as cd on cd.calendar_date = r.business_date
    inner join calendar as cq on cq.calendar_date = r.requested_date
    cross join params as p
    where r.status = 'requested'
        and r.institution_id is not null
        and cd.working_day_number - cq.working_day_number > p.refund_deemed_agreed_working_days
    group by r.business_date, r.source_city_code, r.institution_id
),

refund_requests as (
    select
        source_city_code,
        institution_id,
        requested_date as event_date,
        count(distinct refund_id) as n
    from refund_versions
    where institution_id is not null
    group by source_city_code, institution_id, requested_date
),

complaint_clues as (
    select
        source_city_code,
        institution_id,
        received_at::date as event_date,
        count(distinct complaint_id) as n
    from complaint_versions
    where institution_id is not null
    group by source_city_code, institution_id, received_at::date
),

events as (
    select
        'refund_surge' as rule_id,
        'requests' as figure,
        *
    from refund_requests
    union all
    select
        'complaint_spike' as rule_id,
        'complaints' as figure,
        *
    from complaint_clues
),

surges as (
    select
        d.business_date,
        t.rule_id,
        t.source_city_code as city_code,
        t.institution_id,
        t.figure,
        t.n,
        coalesce(sum(b.n), 0)::numeric / p.surge_lookback_days as baseline_daily,
        p.surge_factor,
        p.surge_min_count
    from dates as d
    inner join events as t on t.event_date = d.business_date
    cross join params as p
    left join events as b
        on b.rule_id = t.rule_id
        and b.source_city_code = t.source_city_code
        and b.institution_id = t.institution_id
        and b.event_date >= d.business_date - p.surge_lookback_days
        and b.event_date < d.business_date
    group by
        d.business_date, t.rule_id, t.source_city_code, t.institution_id, t.figure, t.n,
        p.surge_lookback_days, p.surge_factor, p.surge_min_count
),

surge_breaches as (
    select
        business_date,
        rule_id,
        city_code,
        institution_id,
        jsonb_build_object(
            figure, n,
            'baseline_daily', round(baseline_daily, 2),
            'factor', surge_factor,
            'min_count', surge_min_count,
            'magnitude', n
        ) as evidence
    from surges
    where n >= surge_min_count
        and n >= surge_factor * baseline_daily
),

final as (
    select * from overdue
    union all
    select * from surge_breaches
)

select * from final
