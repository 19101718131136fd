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
{#- Per institution and business date: the day's activity that the risk signals of
    regulatory-rules.md section 5 compare with the institution's own history (money
    flows, refund requests opened, complaint clues received). One row per institution
    with any activity that day. Shared by marts.institution_risk and the alert rules. -#}
with

ledger as (
    select * from {{ ref('int_ledger_institution_daily') }}
    where {{ on_build_dates() }}
),

refund_requests as (
    select
        business_date,
        source_city_code,
        institution_id,
        count(*) filter (where requested_date = business_date)::integer as refund_requests_opened,
        count(*) filter (where is_overdue)::integer as refunds_overdue
    from {{ ref('int_refund_versions') }}
    where {{ on_build_dates() }}
    group by business_date, source_city_code, institution_id
),

complaints as (
    select
        business_date,
        source_city_code,
        institution_id,
        count(*) filter (where received_at::date = business_date)::integer as complaints_received,
        count(*) filter (where received_at::date = business_date and is_hidden_training_clue)::integer
            as hidden_training_complaints
    from {{ ref('int_complaint_versions') }}
    where {{ on_build_dates() }} and institution_id is not null
    group by business_date, source_city_code, institution_id
),

keys as (
    select
        business_date,
        source_city_code,
        institution_id
    from ledger
    union
    select
        business_date,
        source_city_code,
        institution_id
    from refund_requests
    union
    select
        business_date,
        source_city_code,
        institution_id
    from complaints
),

final as (
    select
        k.business_date,
        k.source_city_code,
        k.institution_id,
        coalesce(l.prepaid_yuan, 0) as prepaid_yuan,
        coalesce(l.prepaid_collections, 0) as prepaid_collections,
        coalesce(l.released_yuan, 0) as released_yuan,
        coalesce(l.consumed_value_yuan, 0) as consumed_value_yuan,
        coalesce(l.releases, 0) as releases,
        coalesce(l.refunded_out_yuan, 0) as refunded_out_yuan,
        coalesce(l.reserve_deposit_yuan, 0) as reserve_deposit_yuan,
        coalesce(l.reserve_release_yuan, 0) as reserve_release_yuan,
        coalesce(l.collections_off_platform, 0) as collections_off_platform,
        (
            coalesce(l.collections_over_60_hours, 0) + coalesce(l.collections_over_3_months, 0)
            + coalesce(l.collections_non_subject_over_5000, 0)
        ) as collections_over_caps,
        coalesce(r.refund_requests_opened, 0) as refund_requests_opened,
        coalesce(r.refunds_overdue, 0) as refunds_overdue,
        coalesce(c.complaints_received, 0) as complaints_received,
        coalesce(c.hidden_training_complaints, 0) as hidden_training_complaints
    from keys as k
    left join ledger as l using (business_date, source_city_code, institution_id)
    left join refund_requests as r using (business_date, source_city_code, institution_id)
    left join complaints as c using (business_date, source_city_code, institution_id)
)

select * from final
