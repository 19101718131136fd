{#- Rules breached by an institution's registry state or money position as of each
    evaluated date: no fund supervision, a new subject-type approval after the
    baseline, an escrow shortfall, a risk reserve below 3 months of fees, and a
    consumption stall. Money positions are cumulative over the ledger delivered so
    far; the stall looks at the last 7 days. -#}
with

dates as (
    select * from {{ ref('int_alert_evaluation_dates') }}
),

institutions as (
    select * from {{ ref('int_alert_institutions_asof') }}
),

movements as (
    select * from {{ ref('int_ledger_movements_checked') }}
),

-- per institution and day; a release whose prepaid order is unknown (its delivery
-- rejected or not yet in) has no class value and is left out of both money sides
ledger as (
    select
        business_date,
        source_city_code,
        institution_id,
        coalesce(sum(amount_yuan) filter (where movement_type = 'prepaid'), 0) as prepaid_yuan,
        coalesce(sum(amount_yuan) filter (
            where movement_type = 'release' and consumed_value_yuan is not null
        ), 0) as released_yuan,
        coalesce(sum(consumed_value_yuan) filter (where movement_type = 'release'), 0) as consumed_value_yuan,
        coalesce(sum(amount_yuan) filter (where movement_type = 'refund'), 0) as refunded_out_yuan,
        coalesce(sum(amount_yuan) filter (where movement_type = 'reserve_deposit'), 0) as reserve_deposit_yuan,
        coalesce(sum(amount_yuan) filter (where movement_type = 'reserve_release'), 0) as reserve_release_yuan,
        count(*) filter (where movement_type = 'prepaid') as prepaid_collections,
        count(*) filter (where movement_type = 'release') as releases
    from movements
    group by business_date, source_city_code, institution_id
),

params as (
    select * from {{ ref('int_rule_parameters') }}
),

positions as (
    select
        d.business_date,
        l.source_city_code,
        l.institution_id,
        sum(l.prepaid_yuan) - sum(l.released_yuan) - sum(l.refunded_out_yuan) as custody_balance_yuan,
        sum(l.prepaid_yuan) - sum(l.consumed_value_yuan) - sum(l.refunded_out_yuan) as liability_yuan,
        sum(l.reserve_deposit_yuan) - sum(l.reserve_release_yuan) as reserve_yuan,
        coalesce(sum(l.prepaid_yuan) filter (
            where l.business_date > (d.business_date - make_interval(months => p.reserve_period_months))::date
        ), 0) as collected_period_yuan,
        count(distinct l.business_date) filter (
            where l.prepaid_collections > 0 and l.business_date > d.business_date - 7
        ) as collection_days,
        coalesce(sum(l.releases) filter (where l.business_date > d.business_date - 7), 0) as releases_in_window
    from dates as d
    inner join ledger as l on l.business_date <= d.business_date
    cross join params as p
    group by d.business_date, l.source_city_code, l.institution_id
),

unsupervised as (
    select
        business_date,
        'unsupervised_institution' as rule_id,
        source_city_code as city_code,
        institution_id,
        jsonb_build_object(
            'fund_supervision_mode', fund_supervision_mode,
            'status', status,
            'magnitude', 1
        ) as evidence
    from institutions
    where status in ('active', 'suspended')
        and fund_supervision_mode = 'none'
),

new_subject as (
    select
        business_date,
        'new_subject_after_baseline' as rule_id,
        source_city_code as city_code,
        institution_id,
        jsonb_build_object(
            'approved_date', to_char(approved_date, 'YYYY-MM-DD'),
            'baseline_date', '{{ var("policy_date") }}',
            'magnitude', 1
        ) as evidence
    from institutions
    where is_new_subject_after_baseline
        and status <> 'cancelled'
),

escrow_shortfall as (
    select
        s.business_date,
        'escrow_shortfall' as rule_id,
        s.source_city_code as city_code,
        s.institution_id,
        jsonb_build_object(
            'custody_balance_yuan', s.custody_balance_yuan,
            'liability_yuan', s.liability_yuan,
            'shortfall_yuan', s.liability_yuan - s.custody_balance_yuan,
            'magnitude', s.liability_yuan - s.custody_balance_yuan
        ) as evidence
    from positions as s
    inner join institutions as i
        on i.business_date = s.business_date
        and i.source_city_code = s.source_city_code
        and i.institution_id = s.institution_id
    cross join params as p
    where i.fund_supervision_mode = 'escrow'
        and s.liability_yuan > 0
        and s.custody_balance_yuan < s.liability_yuan * p.reserve_floor_ratio
),

reserve_short as (
    select
        s.business_date,
        'reserve_below_3_months' as rule_id,
        s.source_city_code as city_code,
        s.institution_id,
        jsonb_build_object(
            'reserve_yuan', s.reserve_yuan,
            'collected_3_months_yuan', s.collected_period_yuan,
            'shortfall_yuan', s.collected_period_yuan - s.reserve_yuan,
            'magnitude', s.collected_period_yuan - s.reserve_yuan
        ) as evidence
    from positions as s
    inner join institutions as i
        on i.business_date = s.business_date
        and i.source_city_code = s.source_city_code
        and i.institution_id = s.institution_id
    where i.fund_supervision_mode = 'reserve'
        and s.reserve_yuan < s.collected_period_yuan
),

stall as (
    select
        s.business_date,
        'consumption_stall' as rule_id,
        s.source_city_code as city_code,
        s.institution_id,
        jsonb_build_object(
            'collection_days', s.collection_days,
            'window_days', 7,
            'released_classes', s.releases_in_window,
            'magnitude', s.collection_days
        ) as evidence
    from positions as s
    cross join params as p
    where s.collection_days >= p.stall_min_days
        and s.releases_in_window = 0
),

final as (
    select * from unsupervised
    union all
    select * from new_subject
    union all
    select * from escrow_shortfall
    union all
    select * from reserve_short
    union all
    select * from stall
)

select * from final
