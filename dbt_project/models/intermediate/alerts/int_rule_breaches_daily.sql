{#- Every rule breached on every evaluated business date, one row per rule, subject
    (institution, or city for city rules: institution_id null) and date, with the
    figures that triggered it (evidence; its "magnitude" grows as the breach worsens,
    which is what escalates a notified alert). No personal data. -#}
with

movements as (
    select * from {{ ref('int_alert_breaches_movements') }}
),

institutions as (
    select * from {{ ref('int_alert_breaches_institutions') }}
),

activity as (
    select * from {{ ref('int_alert_breaches_activity') }}
),

deliveries as (
    select * from {{ ref('int_alert_breaches_deliveries') }}
),

unioned as (
    select * from movements
    union all
    select * from institutions
    union all
    select * from activity
    union all
    select * from deliveries
),

final as (
    select
        business_date,
        rule_id,
        city_code::text as city_code,
        institution_id::text as institution_id,
        evidence
    from unioned
)

select * from final
