{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook="{{ delete_build_dates() }}",
    )
}}
{#- Reduction and supervision counts of one city's snapshot of one business date:
    the institution half of the supervision report, at the cost of one snapshot. -#}
with

institutions as (
    select * from {{ ref('int_institutions_daily') }}
    where {{ on_build_dates() }}
),

final as (
    select
        business_date,
        source_city_code,
        count(*) filter (where is_baseline_subject)::integer as subject_baseline,
        count(*) filter (where is_baseline_subject and delivery_mode = 'offline')::integer as subject_baseline_offline,
        count(*) filter (where is_baseline_subject and delivery_mode = 'online')::integer as subject_baseline_online,
        count(*) filter (where is_deregistered)::integer as deregistered,
        count(*) filter (where is_converted)::integer as converted,
        count(*) filter (where is_remaining_subject)::integer as remaining_subject,
        count(*) filter (where is_remaining_subject and is_nonprofit)::integer as remaining_nonprofit,
        count(*) filter (where is_remaining_subject and is_fund_supervised)::integer as remaining_supervised,
        count(*) filter (where is_remaining_subject and is_using_model_contract)::integer as remaining_model_contract,
        count(*) filter (where category = 'non_subject' and status = 'active')::integer as non_subject_active,
        count(*) filter (where category = 'non_subject' and status = 'active' and is_fund_supervised)::integer
            as non_subject_supervised,
        count(*)::integer as institutions
    from institutions
    group by business_date, source_city_code
)

select * from final
