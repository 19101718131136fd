{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['business_date'],
        pre_hook="{{ delete_build_dates() }}",
    )
}}
{#- What each business date changed in the cumulative complaint figures, per city,
    scope, category and channel (same telescoping as int_refund_changes_daily: a
    version contributes f(version) - f(previous version)). -#}
with

{% if is_incremental() %}
built_keys as (
    select distinct
        source_city_code,
        complaint_id
    from {{ ref('int_complaint_versions') }}
    where business_date in {{ build_dates() }}
),

next_dates as (
    select next_date as business_date
    from (
        select
            v.business_date,
            lead(v.business_date) over (
                partition by v.source_city_code, v.complaint_id order by v.business_date
            ) as next_date
        from {{ ref('int_complaint_versions') }} as v
        inner join built_keys using (source_city_code, complaint_id)
    ) as l
    where business_date in {{ build_dates() }} and next_date is not null
),

dates_touched as (
    select business_date from next_dates
),

current_keys as (
    select distinct
        source_city_code,
        complaint_id
    from {{ ref('int_complaint_versions') }}
    where business_date in (select d.business_date from dates_touched as d)
        or business_date in {{ build_dates() }}
),

relevant as (
    select v.*
    from {{ ref('int_complaint_versions') }} as v
    inner join current_keys using (source_city_code, complaint_id)
),
{% else %}
relevant as (
    select * from {{ ref('int_complaint_versions') }}
),
{% endif %}

with_previous as (
    select
        *,
        lag(complaint_id) over w as prev_complaint_id,
        lag(scope) over w as prev_scope,
        lag(category) over w as prev_category,
        lag(received_channel) over w as prev_received_channel,
        lag(is_closed) over w as prev_is_closed,
        lag(days_to_close) over w as prev_days_to_close
    from relevant
    window w as (partition by source_city_code, complaint_id order by business_date)
),

current_versions as (
    select * from with_previous
    {% if is_incremental() %}
    where business_date in (select d.business_date from dates_touched as d) or business_date in {{ build_dates() }}
    {% endif %}
),

paired as (
    -- a change of scope, category or channel moves the clue from one group to another
    select
        business_date,
        source_city_code,
        scope,
        category,
        received_channel,
        1 as received_change,
        is_closed::integer as closed_change,
        coalesce(days_to_close, 0) as days_to_close_change
    from current_versions
    union all
    select
        business_date,
        source_city_code,
        prev_scope,
        prev_category,
        prev_received_channel,
        -1 as received_change,
        -prev_is_closed::integer as closed_change,
        -coalesce(prev_days_to_close, 0) as days_to_close_change
    from current_versions
    where prev_complaint_id is not null
),

final as (
    select
        business_date,
        source_city_code,
        scope,
        category,
        received_channel,
        sum(received_change)::integer as received_change,
        sum(closed_change)::integer as closed_change,
        sum(days_to_close_change) as days_to_close_change
    from paired
    group by business_date, source_city_code, scope, category, received_channel
)

select * from final
