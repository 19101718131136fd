{#- The rule parameters in force, one column each (latest effective row per parameter).
    Change a rule by adding a seed row with its effective date, not by editing SQL. -#}
with

parameters as (
    select distinct on (parameter_id)
        parameter_id,
        value,
        effective_date
    from {{ ref('rule_parameters') }}
    where effective_date::date <= current_date
    order by parameter_id asc, effective_date desc
),

final as (
    select
        max(case when parameter_id = 'max_prepaid_class_hours' then value::numeric end) as max_prepaid_class_hours,
        max(case when parameter_id = 'max_prepaid_months' then value::integer end) as max_prepaid_months,
        max(case when parameter_id = 'max_non_subject_prepaid_yuan' then value::numeric end)
            as max_non_subject_prepaid_yuan,
        max(case when parameter_id = 'max_non_subject_prepaid_yuan' then effective_date::date end)
            as non_subject_cap_effective_date,
        max(case when parameter_id = 'offline_latest_end' then value::time end) as offline_latest_end,
        max(case when parameter_id = 'online_latest_end' then value::time end) as online_latest_end,
        max(case when parameter_id = 'online_max_session_minutes' then value::numeric end)
            as online_max_session_minutes,
        max(case when parameter_id = 'refund_deemed_agreed_working_days' then value::integer end)
            as refund_deemed_agreed_working_days,
        max(case when parameter_id = 'class_deemed_confirmed_working_days' then value::integer end)
            as class_deemed_confirmed_working_days,
        max(case when parameter_id = 'reserve_period_months' then value::integer end) as reserve_period_months,
        max(case when parameter_id = 'surge_lookback_days' then value::integer end) as surge_lookback_days,
        max(case when parameter_id = 'surge_min_count' then value::integer end) as surge_min_count,
        max(case when parameter_id = 'surge_factor' then value::numeric end) as surge_factor,
        max(case when parameter_id = 'stall_min_days' then value::integer end) as stall_min_days,
        max(case when parameter_id = 'reserve_floor_ratio' then value::numeric end) as reserve_floor_ratio
    from parameters
)

select * from final
