{#- One row per alert: a rule breached by one subject over one episode (consecutive
    evaluated business dates on which it was breached; a breach after a date without
    it starts a new episode). alert_id = md5 of rule, city, institution and the
    episode's first date: a rebuild or full refresh gives the same ids. Status:
    resolved when not breached on the latest evaluated date; acknowledged when open
    and acknowledged (alerting.acknowledgements, kept outside dbt); else open.
    Evidence: the figures of the episode's latest breached date. -#}
with

breaches as (
    select * from {{ ref('int_rule_breaches_daily') }}
),

evaluation_dates as (
    select
        business_date,
        row_number() over (order by business_date) as date_number
    from {{ ref('int_alert_evaluation_dates') }}
),

rules as (
    select * from {{ ref('alert_rules') }}
),

acknowledgements as (
    select * from {{ ref('stg_alerting__acknowledgements') }}
),

latest as (
    select max(business_date) as latest_date from evaluation_dates
),

numbered as (
    select
        b.*,
        d.date_number - row_number() over (
            partition by b.rule_id, b.city_code, b.institution_id order by b.business_date
        ) as episode_number
    from breaches as b
    inner join evaluation_dates as d on d.business_date = b.business_date
),

episodes as (
    select
        rule_id,
        city_code,
        institution_id,
        episode_number,
        min(business_date) as first_detected_date,
        max(business_date) as last_detected_date,
        (array_agg(evidence order by business_date desc))[1] as evidence
    from numbered
    group by rule_id, city_code, institution_id, episode_number
),

final as (
    select
        md5(
            e.rule_id || '|' || e.city_code || '|' || coalesce(e.institution_id, '') || '|'
            || to_char(e.first_detected_date, 'YYYY-MM-DD')
        )::text as alert_id,
        e.rule_id::text as rule_id,
        r.severity::text as severity,
        e.city_code::text as city_code,
        e.institution_id::text as institution_id,
        e.first_detected_date::date as first_detected_date,
        e.last_detected_date::date as last_detected_date,
        (case
            when e.last_detected_date < l.latest_date then 'resolved'
            when a.alert_id is not null then 'acknowledged'
            else 'open'
        end)::text as status,
        e.evidence::jsonb as evidence
    from episodes as e
    cross join latest as l
    inner join rules as r on r.rule_id = e.rule_id
    left join acknowledgements as a
        on a.alert_id = md5(
            e.rule_id || '|' || e.city_code || '|' || coalesce(e.institution_id, '') || '|'
            || to_char(e.first_detected_date, 'YYYY-MM-DD')
        )
)

select * from final
