{#- Rules breached by single ledger movements, per institution and business date
    (the movement's delivery date): prepaid caps (hours, months, non-subject amount),
    guided price, off-platform collection, class-time rules, and collections after
    deregistration. Thresholds: int_rule_parameters; guided price cap and rest-day
    flags: int_ledger_movements_checked. Evidence: figures only. -#}
with

movements as (
    select * from {{ ref('int_ledger_movements_checked') }}
),

institutions as (
    select * from {{ ref('int_alert_institutions_asof') }}
),

params as (
    select * from {{ ref('int_rule_parameters') }}
),

prepaid as (
    select
        m.*,
        p.*
    from movements as m
    cross join params as p
    where m.movement_type = 'prepaid'
),

releases as (
    select
        m.*,
        p.*
    from movements as m
    cross join params as p
    where m.movement_type = 'release'
),

over_60_hours as (
    select
        business_date,
        'prepaid_over_60_hours' as rule_id,
        source_city_code as city_code,
        institution_id,
        jsonb_build_object(
            'collections', count(*),
            'class_hours', max(class_hours),
            'max_class_hours', max(max_prepaid_class_hours),
            'magnitude', max(class_hours)
        ) as evidence
    from prepaid
    where class_hours > max_prepaid_class_hours
    group by business_date, source_city_code, institution_id
),

over_3_months as (
    select
        business_date,
        'prepaid_over_3_months' as rule_id,
        source_city_code as city_code,
        institution_id,
        jsonb_build_object(
            'collections', count(*),
            'service_days', max(service_end_date - service_start_date),
            'max_months', max(max_prepaid_months),
            'magnitude', max(service_end_date - service_start_date)
        ) as evidence
    from prepaid
    where service_end_date > (service_start_date + make_interval(months => max_prepaid_months))::date
    group by business_date, source_city_code, institution_id
),

non_subject_over_5000 as (
    select
        business_date,
        'non_subject_over_5000' as rule_id,
        source_city_code as city_code,
        institution_id,
        jsonb_build_object(
            'collections', count(*),
            'amount_yuan', max(amount_yuan),
            'max_amount_yuan', max(max_non_subject_prepaid_yuan),
            'effective_date', to_char(max(non_subject_cap_effective_date), 'YYYY-MM-DD'),
            'magnitude', max(amount_yuan)
        ) as evidence
    from prepaid
    where course_category = 'non_subject'
        and occurred_at::date >= non_subject_cap_effective_date
        and amount_yuan > max_non_subject_prepaid_yuan
    group by business_date, source_city_code, institution_id
),

price_above_cap as (
    select
        business_date,
        'price_above_cap' as rule_id,
        source_city_code as city_code,
        institution_id,
        jsonb_build_object(
            'collections', count(*),
            'unit_price_yuan', max(unit_price_yuan),
            'cap_price_yuan', min(price_cap_yuan),
            'magnitude', max(unit_price_yuan)
        ) as evidence
    from prepaid
    where course_category = 'subject'
        and price_cap_yuan is not null
        and unit_price_yuan > price_cap_yuan
    group by business_date, source_city_code, institution_id
),

off_platform as (
    select
        business_date,
        'off_platform_collection' as rule_id,
        source_city_code as city_code,
        institution_id,
        jsonb_build_object(
            'collections', count(*),
            'off_platform_yuan', sum(amount_yuan),
            'channel', min(channel),
            'magnitude', sum(amount_yuan)
        ) as evidence
    from prepaid
    where channel in ('cash', 'other')
    group by business_date, source_city_code, institution_id
),

subject_on_rest_day as (
    select
        business_date,
        'subject_class_on_rest_day' as rule_id,
        source_city_code as city_code,
        institution_id,
        jsonb_build_object(
            'classes', count(*),
            'class_date', to_char(min(class_started_at::date), 'YYYY-MM-DD'),
            'magnitude', count(*)
        ) as evidence
    from releases
    where course_category = 'subject'
        and (coalesce(is_class_on_rest_day, false) or coalesce(is_class_in_school_vacation, false))
    group by business_date, source_city_code, institution_id
),

too_late as (
    select
        business_date,
        'class_ends_too_late' as rule_id,
        source_city_code as city_code,
        institution_id,
        jsonb_build_object(
            'classes', count(*),
            'class_ended_at', to_char(max(class_ended_at), 'HH24:MI'),
            'latest_end_allowed', to_char(min(latest_end), 'HH24:MI'),
            'delivery_mode', min(delivery_mode),
            'magnitude', round(
                max(extract(epoch from (class_ended_at - (class_ended_at::date + latest_end))) / 60.0), 0
            )
        ) as evidence
    from (
        select
            *,
            case when delivery_mode = 'online' then online_latest_end else offline_latest_end end as latest_end
        from releases
    ) as r
    where class_ended_at is not null
        and (class_ended_at::date > class_started_at::date or class_ended_at::time > latest_end)
    group by business_date, source_city_code, institution_id
),

too_long as (
    select
        business_date,
        'online_session_too_long' as rule_id,
        source_city_code as city_code,
        institution_id,
        jsonb_build_object(
            'classes', count(*),
            'session_minutes', round(max(class_minutes), 0),
            'max_minutes', max(online_max_session_minutes),
            'magnitude', round(max(class_minutes), 0)
        ) as evidence
    from releases
    where delivery_mode = 'online'
        and class_minutes > online_max_session_minutes
    group by business_date, source_city_code, institution_id
),

after_deregistration as (
    select
        p.business_date,
        'sales_after_deregistration' as rule_id,
        p.source_city_code as city_code,
        p.institution_id,
        jsonb_build_object(
            'collections', count(*),
            'collected_after_cancel_yuan', sum(p.amount_yuan),
            'cancelled_date', to_char(max(i.status_changed_date), 'YYYY-MM-DD'),
            'magnitude', sum(p.amount_yuan)
        ) as evidence
    from prepaid as p
    inner join institutions as i
        on i.business_date = p.business_date
        and i.source_city_code = p.source_city_code
        and i.institution_id = p.institution_id
    where i.status = 'cancelled'
        and p.occurred_at::date > coalesce(i.status_changed_date, '1900-01-01'::date)
    group by p.business_date, p.source_city_code, p.institution_id
),

final as (
    select * from over_60_hours
    union all
    select * from over_3_months
    union all
    select * from non_subject_over_5000
    union all
    select * from price_above_cap
    union all
    select * from off_platform
    union all
    select * from subject_on_rest_day
    union all
    select * from too_late
    union all
    select * from too_long
    union all
    select * from after_deregistration
)

select * from final
