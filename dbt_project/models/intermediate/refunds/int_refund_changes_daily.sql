{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['business_date'],
        pre_hook="{{ delete_build_dates() }}",
    )
}}
{#- What each business date changed in the cumulative refund figures, per city.

    A case counts as of D in its latest version on or before D. A version v delivered
    on date X contributes f(v) - f(previous version) to X, so the sum of the changes
    up to D equals the figures of every case's state as of D (telescoping) at the cost
    of one day's versions. A late version on X also changes the "previous version" of
    the case's next version: its date is rebuilt too (dates_touched below). -#}
with

{% if is_incremental() %}
built_keys as (
    select distinct
        source_city_code,
        refund_id
    from {{ ref('int_refund_versions') }}
    where business_date in {{ build_dates() }}
),

next_dates as (
    select next_date as business_date
    from (
        select
            v.business_date,
            lead(v.business_date) over (
                partition by v.source_city_code, v.refund_id order by v.business_date
            ) as next_date
        from {{ ref('int_refund_versions') }} as v
        inner join built_keys using (source_city_code, refund_id)
    ) as l
    where business_date in {{ build_dates() }} and next_date is not null
),

dates_touched as (
    select business_date from next_dates
),

current_keys as (
    select distinct
        source_city_code,
        refund_id
    from {{ ref('int_refund_versions') }}
    where business_date in (select d.business_date from dates_touched as d)
        or business_date in {{ build_dates() }}
),

relevant as (
    select v.*
    from {{ ref('int_refund_versions') }} as v
    inner join current_keys using (source_city_code, refund_id)
),
{% else %}
relevant as (
    select * from {{ ref('int_refund_versions') }}
),
{% endif %}

with_previous as (
    select
        *,
        lag(refund_id) over w as prev_refund_id,
        lag(is_completed) over w as prev_is_completed,
        lag(refunded_amount_yuan) over w as prev_refunded_amount_yuan,
        lag(method) over w as prev_method,
        lag(requested_amount_yuan) over w as prev_requested_amount_yuan
    from relevant
    window w as (partition by source_city_code, refund_id order by business_date)
),

current_versions as (
    select * from with_previous
    {% if is_incremental() %}
    where business_date in (select d.business_date from dates_touched as d) or business_date in {{ build_dates() }}
    {% endif %}
),

paired as (
    select
        business_date,
        source_city_code,
        is_completed::integer - coalesce(prev_is_completed::integer, 0) as completed_change,
        (
            (case when is_completed then refunded_amount_yuan else 0 end)
            - coalesce(case when prev_is_completed then prev_refunded_amount_yuan else 0 end, 0)
        ) as refunded_change_yuan,
        (
            (case when is_completed and method = 'cash' then refunded_amount_yuan else 0 end)
            - coalesce(
                case
                    when prev_is_completed and prev_method = 'cash' then prev_refunded_amount_yuan
                    else 0
                end,
                0
            )
        ) as refunded_cash_change_yuan,
        (
            (case when is_completed and method = 'course_exchange' then refunded_amount_yuan else 0 end)
            - coalesce(
                case
                    when prev_is_completed and prev_method = 'course_exchange' then prev_refunded_amount_yuan
                    else 0
                end,
                0
            )
        ) as refunded_course_exchange_change_yuan,
        (
            (case when is_completed and method = 'judicial' then refunded_amount_yuan else 0 end)
            - coalesce(
                case
                    when prev_is_completed and prev_method = 'judicial' then prev_refunded_amount_yuan
                    else 0
                end,
                0
            )
        ) as refunded_judicial_change_yuan,
        case when prev_refund_id is null then 1 else 0 end as cases_change,
        requested_amount_yuan - coalesce(prev_requested_amount_yuan, 0) as requested_change_yuan
    from current_versions
),

final as (
    select
        business_date,
        source_city_code,
        sum(cases_change)::integer as cases_change,
        sum(requested_change_yuan) as requested_change_yuan,
        sum(completed_change)::integer as completed_change,
        sum(refunded_change_yuan) as refunded_change_yuan,
        sum(refunded_cash_change_yuan) as refunded_cash_change_yuan,
        sum(refunded_course_exchange_change_yuan) as refunded_course_exchange_change_yuan,
        sum(refunded_judicial_change_yuan) as refunded_judicial_change_yuan
    from paired
    group by business_date, source_city_code
)

select * from final
