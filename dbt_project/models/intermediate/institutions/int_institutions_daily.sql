{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook="{{ delete_build_dates() }}",
        indexes=[
            {'columns': ['business_date', 'source_city_code']},
            {'columns': ['institution_id', 'business_date']},
        ],
    )
}}
{#- Each city's registry snapshot per business date, with the derived flags every
    indicator uses. Incremental: a build replaces only the dates it rebuilds. -#}
with

snapshots as (
    select * from {{ ref('stg_raw__institutions') }}
    where {{ on_build_dates() }}
),

cities as (
    select
        city_code::text as city_code,
        province_code::text as province_code
    from {{ ref('cities') }}
),

final as (
    select
        s.business_date,
        s.source_city_code,
        c.province_code,
        s.institution_id,
        s.category,
        s.non_subject_field,
        s.stage,
        s.delivery_mode,
        s.baseline_category,
        s.status,
        s.is_nonprofit,
        s.approved_date,
        s.status_changed_date,
        s.is_residential_premises,
        s.fund_supervision_mode,
        s.is_on_platform,
        s.is_using_model_contract,
        (s.baseline_category = 'subject' and s.stage = 'compulsory') as is_baseline_subject,
        (s.baseline_category = 'subject' and s.stage = 'compulsory' and s.status = 'cancelled') as is_deregistered,
        (
            s.baseline_category = 'subject' and s.stage = 'compulsory' and s.status <> 'cancelled'
            and s.category = 'non_subject'
        ) as is_converted,
        (
            s.baseline_category = 'subject' and s.stage = 'compulsory' and s.status <> 'cancelled'
            and s.category = 'subject'
        ) as is_remaining_subject,
        s.fund_supervision_mode in ('escrow', 'reserve') as is_fund_supervised,
        (
            s.category = 'subject' and s.stage = 'compulsory' and s.approved_date > '{{ var("policy_date") }}'::date
            and s.baseline_category is distinct from 'subject'
        ) as is_new_subject_after_baseline
    from snapshots as s
    left join cities as c on c.city_code = s.source_city_code
)

select * from final
