{#- Every institution as of its city's latest snapshot: the input of the SCD2 history
    (snapshots/institutions_history) and of per-institution lookups. -#}
with

latest as (
    select
        source_city_code,
        max(business_date) as business_date
    from {{ ref('int_institution_counts_daily') }}
    group by source_city_code
),

final as (
    select
        i.source_city_code || ':' || i.institution_id as institution_key,
        i.*
    from {{ ref('int_institutions_daily') }} as i
    inner join latest using (source_city_code, business_date)
)

select * from final
