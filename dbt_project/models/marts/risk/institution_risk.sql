{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook="{{ delete_build_dates('as_of_date') }}",
        indexes=[{'columns': ['as_of_date', 'source_city_code']}, {'columns': ['institution_id', 'as_of_date']}],
    )
}}
{#- Risk of absconding (跑路) and hidden training (隐形变异) per institution and business
    date: every signal of regulatory-rules.md section 5 as a boolean column, and
    risk_score, a weighted sum of the signals (weights in macros/risk_score.sql),
    0 to 100. One row per institution in the city's snapshot of the date. Baselines
    look back a fixed window (surge_lookback_days), so a day costs the same whatever
    the history. -#}
with

institutions as (
    select * from {{ ref('int_institutions_daily') }}
    where {{ on_build_dates() }}
),

prepaid as (
    select * from {{ ref('prepaid_supervision') }}
    where {{ on_build_dates('as_of_date') }}
),

params as (
    select * from {{ ref('int_rule_parameters') }}
),

signals as (
    select * from {{ ref('int_institution_signals_daily') }}
),

window_activity as (
    select
        i.business_date,
        i.source_city_code,
        i.institution_id,
        coalesce(sum(s.prepaid_collections) filter (where s.business_date = i.business_date), 0) as collections_today,
        coalesce(sum(s.prepaid_yuan) filter (where s.business_date = i.business_date), 0) as collected_today_yuan,
        coalesce(sum(s.released_yuan) filter (where s.business_date = i.business_date), 0) as released_today_yuan,
        coalesce(sum(s.consumed_value_yuan) filter (where s.business_date = i.business_date), 0) as consumed_today_yuan,
        coalesce(sum(s.refund_requests_opened) filter (where s.business_date = i.business_date), 0)
            as refund_requests_today,
        coalesce(sum(s.complaints_received) filter (where s.business_date = i.business_date), 0) as complaints_today,
        coalesce(sum(s.collections_off_platform) filter (where s.business_date = i.business_date), 0)
            as off_platform_today,
        coalesce(sum(s.collections_over_caps) filter (where s.business_date = i.business_date), 0) as over_caps_today,
        coalesce(sum(s.refunds_overdue) filter (where s.business_date = i.business_date), 0) as refunds_overdue_today,
        -- own baseline: average per day over the lookback window before the date
        (
            coalesce(sum(s.prepaid_collections) filter (where s.business_date < i.business_date), 0)::numeric
            / max(p.surge_lookback_days)
        ) as collections_baseline,
        (
            coalesce(sum(s.refund_requests_opened) filter (where s.business_date < i.business_date), 0)::numeric
            / max(p.surge_lookback_days)
        ) as refund_requests_baseline,
        (
            coalesce(sum(s.complaints_received) filter (where s.business_date < i.business_date), 0)::numeric
            / max(p.surge_lookback_days)
        ) as complaints_baseline,
        -- last 7 days including the date: days with collections, releases
        count(distinct s.business_date) filter (
            where s.business_date > i.business_date - 7 and s.prepaid_collections > 0
        ) as days_with_collections_7d,
        coalesce(sum(s.releases) filter (where s.business_date > i.business_date - 7), 0) as releases_7d,
        coalesce(sum(s.hidden_training_complaints), 0) as hidden_training_complaints_window
    from institutions as i
    cross join params as p
    left join signals as s
        on s.source_city_code = i.source_city_code and s.institution_id = i.institution_id
        and s.business_date <= i.business_date
        and s.business_date > i.business_date - p.surge_lookback_days
    group by i.business_date, i.source_city_code, i.institution_id
),

flags as (
    select
        i.business_date as as_of_date,
        i.source_city_code,
        i.province_code,
        i.institution_id,
        i.category,
        i.status,
        i.fund_supervision_mode,
        pp.outstanding_liability_yuan,
        pp.protected_funds_yuan,
        pp.coverage_ratio,
        -- funds
        coalesce(
            pp.outstanding_liability_yuan > 0
            and pp.protected_funds_yuan < pp.outstanding_liability_yuan * p.reserve_floor_ratio,
            false
        ) as has_protected_below_liability,
        coalesce(
            i.fund_supervision_mode = 'reserve'
            and pp.reserve_balance_yuan < pp.collected_last_3_months_yuan,
            false
        ) as has_reserve_below_3_months,
        (w.released_today_yuan > w.consumed_today_yuan + 0.01) as has_unusual_withdrawal,
        -- sales
        (w.days_with_collections_7d >= p.stall_min_days and w.releases_7d = 0) as has_consumption_stall,
        (
            w.collections_today >= p.surge_min_count
            and w.collections_today >= p.surge_factor * w.collections_baseline
        ) as has_sales_spike,
        -- refunds and complaints above the institution's own baseline
        (
            w.refund_requests_today >= p.surge_min_count
            and w.refund_requests_today >= p.surge_factor * w.refund_requests_baseline
        ) as has_refund_surge,
        (
            w.complaints_today >= p.surge_min_count
            and w.complaints_today >= p.surge_factor * w.complaints_baseline
        ) as has_complaint_spike,
        (w.refunds_overdue_today > 0) as has_refund_overdue,
        -- activity after deregistration
        (i.status = 'cancelled' and w.collections_today > 0) as has_activity_after_deregistration,
        -- hidden training
        (w.hidden_training_complaints_window > 0) as has_hidden_training_complaints,
        i.is_residential_premises as has_residential_premises,
        -- supervision gaps and rule breaches of the day
        (i.status = 'active' and not i.is_fund_supervised) as is_unsupervised,
        (w.off_platform_today > 0) as has_off_platform_collection,
        (w.over_caps_today > 0) as has_collection_over_caps,
        i.is_new_subject_after_baseline,
        w.collections_today,
        w.refund_requests_today,
        w.complaints_today
    from institutions as i
    cross join params as p
    inner join window_activity as w using (business_date, source_city_code, institution_id)
    left join prepaid as pp
        on pp.as_of_date = i.business_date and pp.source_city_code = i.source_city_code
        and pp.institution_id = i.institution_id
),

final as (
    select
        as_of_date::date as as_of_date,
        source_city_code::text as source_city_code,
        province_code::text as province_code,
        institution_id::text as institution_id,
        category::text as category,
        status::text as status,
        fund_supervision_mode::text as fund_supervision_mode,
        outstanding_liability_yuan::numeric(18, 2) as outstanding_liability_yuan,
        protected_funds_yuan::numeric(18, 2) as protected_funds_yuan,
        coverage_ratio::numeric as coverage_ratio,
        has_protected_below_liability::boolean as has_protected_below_liability,
        has_reserve_below_3_months::boolean as has_reserve_below_3_months,
        has_unusual_withdrawal::boolean as has_unusual_withdrawal,
        has_consumption_stall::boolean as has_consumption_stall,
        has_sales_spike::boolean as has_sales_spike,
        has_refund_surge::boolean as has_refund_surge,
        has_complaint_spike::boolean as has_complaint_spike,
        has_refund_overdue::boolean as has_refund_overdue,
        has_activity_after_deregistration::boolean as has_activity_after_deregistration,
        has_hidden_training_complaints::boolean as has_hidden_training_complaints,
        has_residential_premises::boolean as has_residential_premises,
        is_unsupervised::boolean as is_unsupervised,
        has_off_platform_collection::boolean as has_off_platform_collection,
        has_collection_over_caps::boolean as has_collection_over_caps,
        is_new_subject_after_baseline::boolean as is_new_subject_after_baseline,
        collections_today::integer as collections_today,
        refund_requests_today::integer as refund_requests_today,
        complaints_today::integer as complaints_today,
        {{ risk_score() }}::integer as risk_score
    from flags
)

select * from final
