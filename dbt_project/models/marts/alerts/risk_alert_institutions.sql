{#- The registered name of every institution marts.risk_alerts names (an organisation's
    name, not personal data), from its latest registry snapshot: what `oversight alerts
    list` and alert messages show next to the unified social credit code. -#}
with

alerted as (
    select distinct
        institution_id,
        city_code
    from {{ ref('risk_alerts') }}
    where institution_id is not null
),

snapshots as (
    select * from {{ ref('stg_raw__institutions') }}
),

final as (
    select distinct on (a.institution_id)
        a.institution_id::text as institution_id,
        s.institution_name::text as institution_name,
        a.city_code::text as city_code,
        s.business_date::date as as_of_date
    from alerted as a
    inner join snapshots as s
        on s.institution_id = a.institution_id and s.source_city_code = a.city_code
    order by a.institution_id asc, s.business_date desc
)

select * from final
