{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook="{{ delete_build_dates('as_of_date') }}",
        indexes=[{'columns': ['as_of_date', 'source_city_code']}, {'columns': ['institution_id', 'as_of_date']}],
    )
}}
{#- Prepaid-fee supervision per institution and business date (regulatory-rules.md §2):
    outstanding liability, protected funds, coverage ratio, the day's collections by
    channel and over the caps, and the last 3 months' collections (reserve check).
    One row per institution of the city's snapshot of that date with any ledger
    history. Cumulative figures sum the per-day flows up to the date. -#}
with

institutions as (
    select * from {{ ref('int_institutions_daily') }}
    where {{ on_build_dates() }}
),

flows as (
    select * from {{ ref('int_ledger_institution_daily') }}
),

params as (
    select * from {{ ref('int_rule_parameters') }}
),

cumulative as (
    select
        i.business_date as as_of_date,
        i.source_city_code,
        i.institution_id,
        i.category,
        i.status,
        i.fund_supervision_mode,
        i.is_on_platform,
        sum(f.prepaid_yuan) as prepaid_total_yuan,
        sum(f.consumed_value_yuan) as consumed_total_yuan,
        sum(f.released_yuan) as released_total_yuan,
        sum(f.refunded_out_yuan) as refunded_total_yuan,
        sum(f.reserve_deposit_yuan) - sum(f.reserve_release_yuan) as reserve_balance_yuan,
        sum(f.prepaid_yuan) filter (
            where f.business_date > (i.business_date - make_interval(months => p.reserve_period_months))::date
        ) as collected_last_3_months_yuan,
        sum(f.prepaid_yuan) filter (where f.business_date = i.business_date) as collected_yuan,
        sum(f.collected_platform_yuan) filter (where f.business_date = i.business_date) as collected_platform_yuan,
        sum(f.collected_bank_transfer_yuan) filter (where f.business_date = i.business_date)
            as collected_bank_transfer_yuan,
        sum(f.collected_cash_yuan) filter (where f.business_date = i.business_date) as collected_cash_yuan,
        sum(f.collected_other_yuan) filter (where f.business_date = i.business_date) as collected_other_yuan,
        sum(f.collections_over_60_hours + f.collections_over_3_months + f.collections_non_subject_over_5000)
        filter (where f.business_date = i.business_date) as collections_over_caps
    from institutions as i
    cross join params as p
    inner join flows as f
        on f.source_city_code = i.source_city_code and f.institution_id = i.institution_id
        and f.business_date <= i.business_date
    group by
        i.business_date, i.source_city_code, i.institution_id, i.category, i.status,
        i.fund_supervision_mode, i.is_on_platform, p.reserve_period_months
),

balances as (
    select
        *,
        prepaid_total_yuan - consumed_total_yuan - refunded_total_yuan as outstanding_liability_yuan,
        case fund_supervision_mode
            when 'escrow' then prepaid_total_yuan - released_total_yuan - refunded_total_yuan
            when 'reserve' then reserve_balance_yuan
            else 0
        end as protected_funds_yuan
    from cumulative
),

final as (
    select
        as_of_date::date as as_of_date,
        source_city_code::text as source_city_code,
        institution_id::text as institution_id,
        category::text as category,
        status::text as status,
        fund_supervision_mode::text as fund_supervision_mode,
        is_on_platform::boolean as is_on_platform,
        prepaid_total_yuan::numeric(18, 2) as prepaid_total_yuan,
        consumed_total_yuan::numeric(18, 2) as consumed_total_yuan,
        released_total_yuan::numeric(18, 2) as released_total_yuan,
        refunded_total_yuan::numeric(18, 2) as refunded_total_yuan,
        outstanding_liability_yuan::numeric(18, 2) as outstanding_liability_yuan,
        protected_funds_yuan::numeric(18, 2) as protected_funds_yuan,
        reserve_balance_yuan::numeric(18, 2) as reserve_balance_yuan,
        {{ coverage_ratio('protected_funds_yuan', 'outstanding_liability_yuan') }} as coverage_ratio,
        coalesce(collected_yuan, 0)::numeric(18, 2) as collected_yuan,
        coalesce(collected_platform_yuan, 0)::numeric(18, 2) as collected_platform_yuan,
        coalesce(collected_bank_transfer_yuan, 0)::numeric(18, 2) as collected_bank_transfer_yuan,
        coalesce(collected_cash_yuan, 0)::numeric(18, 2) as collected_cash_yuan,
        coalesce(collected_other_yuan, 0)::numeric(18, 2) as collected_other_yuan,
        coalesce(collections_over_caps, 0)::integer as collections_over_caps,
        coalesce(collected_last_3_months_yuan, 0)::numeric(18, 2) as collected_last_3_months_yuan,
        (fund_supervision_mode in ('escrow', 'reserve'))::boolean as is_fund_supervised
    from balances
)

select * from final
