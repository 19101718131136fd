{#- extract_late: a configured city's extract kind of business date D not delivered by
    its deadline (D+1 at the city's deadline, landing.expected_deliveries): delivered
    after it (first delivery's delivered_at, whatever its outcome), or not at all
    once the deadline has passed. One breach per city and date, the kinds in evidence. -#}
with

expected as (
    select * from {{ ref('stg_landing__expected_deliveries') }}
    where is_configured
),

deliveries as (
    select * from {{ ref('stg_landing__deliveries') }}
),

first_delivered as (
    select
        business_date,
        city_code::text as city_code,
        kind,
        min(delivered_at) as delivered_at
    from deliveries
    group by business_date, city_code, kind
),

checked as (
    select
        e.business_date,
        e.source_city_code::text as city_code,
        e.kind,
        e.deadline_at,
        f.delivered_at,
        f.delivered_at is null as is_missing,
        coalesce(f.delivered_at > e.deadline_at, now() > e.deadline_at) as is_late
    from expected as e
    left join first_delivered as f
        on f.business_date = e.business_date
        and f.city_code = e.source_city_code::text
        and f.kind = e.kind
),

final as (
    select
        business_date,
        'extract_late' as rule_id,
        city_code,
        null::text as institution_id,
        jsonb_build_object(
            'kinds_late', coalesce(jsonb_agg(kind order by kind) filter (where not is_missing), '[]'::jsonb),
            'kinds_missing', coalesce(jsonb_agg(kind order by kind) filter (where is_missing), '[]'::jsonb),
            'deadline_at', to_char(min(deadline_at) at time zone 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI'),
            'magnitude', count(*)
        ) as evidence
    from checked
    where is_late
    group by business_date, city_code
)

select * from final
