{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook="{{ delete_build_dates() }}",
    )
}}
{#- Guided-price and class-time compliance per institution and business date
    (regulatory-rules.md §§2-4): collections over the caps, priced subject collections
    above the guided-price cap or below a floor, subject classes on rest days or in
    school vacations, classes ending too late, online sessions too long. One row per
    institution with ledger activity that day. -#}
with

daily as (
    select * from {{ ref('int_ledger_institution_daily') }}
    where {{ on_build_dates() }}
),

final as (
    select
        business_date::date as business_date,
        source_city_code::text as source_city_code,
        institution_id::text as institution_id,
        prepaid_collections::integer as prepaid_collections,
        collections_over_60_hours::integer as collections_over_60_hours,
        collections_over_3_months::integer as collections_over_3_months,
        collections_non_subject_over_5000::integer as collections_non_subject_over_5000,
        collections_off_platform::integer as collections_off_platform,
        subject_collections_priced::integer as subject_collections_priced,
        collections_above_price_cap::integer as collections_above_price_cap,
        collections_below_price_floor::integer as collections_below_price_floor,
        (
            case
                when subject_collections_priced > 0
                    then (
                        subject_collections_priced - collections_above_price_cap - collections_below_price_floor
                    )::numeric / subject_collections_priced
            end
        ) as guided_price_compliance_rate,
        releases::integer as classes,
        subject_classes::integer as subject_classes,
        subject_classes_on_rest_day::integer as subject_classes_on_rest_day,
        classes_ending_too_late::integer as classes_ending_too_late,
        online_sessions_too_long::integer as online_sessions_too_long,
        (
            collections_over_60_hours + collections_over_3_months + collections_non_subject_over_5000
            + collections_off_platform + collections_above_price_cap + collections_below_price_floor
            + subject_classes_on_rest_day + classes_ending_too_late + online_sessions_too_long = 0
        ) as is_compliant
    from daily
)

select * from final
