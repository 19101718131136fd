{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook="{{ delete_build_dates() }}",
        indexes=[
            {'columns': ['business_date', 'source_city_code']},
            {'columns': ['source_city_code', 'complaint_id', 'business_date'], 'unique': true},
        ],
    )
}}
{#- One row per complaint clue and business date it was delivered on (its state that
    day). The state of a clue as of D is its version with the latest business date on
    or before D. -#}
with

complaints as (
    select * from {{ ref('stg_raw__complaints') }}
    where {{ on_build_dates() }}
),

final as (
    select
        business_date,
        source_city_code,
        complaint_id,
        city_code,
        received_channel,
        scope,
        institution_id,
        category,
        received_at,
        status,
        closed_at,
        reporter_pseudonym,
        has_summary,
        updated_at,
        status = 'closed' as is_closed,
        case when status = 'closed' then extract(epoch from (closed_at - received_at)) / 86400.0 end as days_to_close,
        category in ('unlicensed_training', 'hidden_variant', 'subject_violation') as is_hidden_training_clue
    from complaints
)

select * from final
