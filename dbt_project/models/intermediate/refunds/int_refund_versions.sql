{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook="{{ delete_build_dates() }}",
        indexes=[
            {'columns': ['business_date', 'source_city_code']},
            {'columns': ['source_city_code', 'refund_id', 'business_date'], 'unique': true},
        ],
    )
}}
{#- One row per refund case and business date it was delivered on (its state that
    day), with its age in working days on that date. The state of a case as of D is
    its version with the latest business date on or before D. -#}
with

refunds as (
    select * from {{ ref('stg_raw__refunds') }}
    where {{ on_build_dates() }}
),

calendar as (
    select * from {{ ref('int_calendar_days') }}
),

params as (
    select * from {{ ref('int_rule_parameters') }}
),

final as (
    select
        r.business_date,
        r.source_city_code,
        r.refund_id,
        r.institution_id,
        r.order_id,
        r.student_pseudonym,
        r.status,
        r.method,
        r.requested_amount_yuan,
        r.refunded_amount_yuan,
        r.requested_date,
        r.completed_date,
        r.updated_at,
        r.status in ('requested', 'in_progress') as is_open,
        r.status = 'completed' as is_completed,
        -- working days elapsed since the request, as of the business date
        (d.working_day_number - q.working_day_number) as working_days_since_request,
        (
            r.status = 'requested'
            and d.working_day_number - q.working_day_number > prm.refund_deemed_agreed_working_days
        ) as is_overdue
    from refunds as r
    cross join params as prm
    left join calendar as d on d.calendar_date = r.business_date
    left join calendar as q on q.calendar_date = r.requested_date
)

select * from final
