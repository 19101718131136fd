{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook="{{ delete_build_dates() }}",
        indexes=[
            {'columns': ['business_date', 'source_city_code']},
            {'columns': ['source_city_code', 'institution_id', 'business_date']},
        ],
    )
}}
{#- Money flows and rule checks per institution and business date. -#}
with

movements as (
    select * from {{ ref('int_ledger_movements_checked') }}
    where {{ on_build_dates() }}
),

final as (
    select
        business_date,
        source_city_code,
        institution_id,
        coalesce(sum(amount_yuan) filter (where movement_type = 'prepaid'), 0) as prepaid_yuan,
        count(*) filter (where movement_type = 'prepaid')::integer as prepaid_collections,
        coalesce(sum(amount_yuan) filter (where movement_type = 'prepaid' and channel = 'platform'), 0)
            as collected_platform_yuan,
        coalesce(sum(amount_yuan) filter (where movement_type = 'prepaid' and channel = 'bank_transfer'), 0)
            as collected_bank_transfer_yuan,
        coalesce(sum(amount_yuan) filter (where movement_type = 'prepaid' and channel = 'cash'), 0)
            as collected_cash_yuan,
        coalesce(sum(amount_yuan) filter (where movement_type = 'prepaid' and channel = 'other'), 0)
            as collected_other_yuan,
        coalesce(sum(amount_yuan) filter (where movement_type = 'release'), 0) as released_yuan,
        coalesce(sum(consumed_value_yuan) filter (where movement_type = 'release'), 0) as consumed_value_yuan,
        count(*) filter (where movement_type = 'release')::integer as releases,
        coalesce(sum(amount_yuan) filter (where movement_type = 'refund'), 0) as refunded_out_yuan,
        coalesce(sum(amount_yuan) filter (where movement_type = 'reserve_deposit'), 0) as reserve_deposit_yuan,
        coalesce(sum(amount_yuan) filter (where movement_type = 'reserve_release'), 0) as reserve_release_yuan,
        count(*) filter (where is_over_60_hours)::integer as collections_over_60_hours,
        count(*) filter (where is_over_3_months)::integer as collections_over_3_months,
        count(*) filter (where is_non_subject_over_5000)::integer as collections_non_subject_over_5000,
        count(*) filter (where is_off_platform)::integer as collections_off_platform,
        coalesce(sum(amount_yuan) filter (where is_off_platform), 0) as collected_off_platform_yuan,
        count(*) filter (where has_guided_price)::integer as subject_collections_priced,
        count(*) filter (where is_price_above_cap)::integer as collections_above_price_cap,
        count(*) filter (where is_price_below_floor)::integer as collections_below_price_floor,
        count(*) filter (where movement_type = 'release' and course_category = 'subject')::integer as subject_classes,
        count(*) filter (where is_subject_class_on_rest_day)::integer as subject_classes_on_rest_day,
        count(*) filter (where is_class_ending_too_late)::integer as classes_ending_too_late,
        count(*) filter (where is_online_session_too_long)::integer as online_sessions_too_long
    from movements
    group by business_date, source_city_code, institution_id
)

select * from final
