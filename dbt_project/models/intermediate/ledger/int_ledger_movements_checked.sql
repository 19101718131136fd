{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook="{{ delete_build_dates() }}",
        indexes=[
            {'columns': ['business_date', 'source_city_code']},
            {'columns': ['source_city_code', 'order_id']},
            {'columns': ['institution_id', 'business_date']},
        ],
    )
}}
{#- Every ledger movement with the rule checks of regulatory-rules.md sections 2-4.
    A release carries the attributes of the prepaid order it pays for (course
    category, unit price, delivery mode), looked up by order id in the movements
    already built (indexed) and the day's own. Incremental by business date. -#}
with

movements as (
    select * from {{ ref('stg_raw__fee_ledger') }}
    where {{ on_build_dates() }}
),

known_orders as (
    {% if is_incremental() %}
    select
        source_city_code,
        order_id,
        course_category,
        unit_price_yuan,
        delivery_mode,
        class_type
    from {{ this }}
    where movement_type = 'prepaid'
        and (source_city_code, order_id) in (
            select
                m.source_city_code,
                m.order_id
            from movements as m
            where m.order_id is not null
        )
        and not business_date in {{ build_dates() }}
    union all
    {% endif %}
    select
        source_city_code,
        order_id,
        course_category,
        unit_price_yuan,
        delivery_mode,
        class_type
    from movements
    where movement_type = 'prepaid'
),

orders as (
    select distinct on (source_city_code, order_id) *
    from known_orders
    where order_id is not null
    order by source_city_code, order_id
),

params as (
    select * from {{ ref('int_rule_parameters') }}
),

calendar as (
    select * from {{ ref('int_calendar_days') }}
),

cities as (
    select
        city_code::text as city_code,
        province_code::text as province_code
    from {{ ref('cities') }}
),

prices as (
    select
        region_code::text as region_code,
        delivery_mode,
        class_type,
        benchmark_yuan_per_hour::numeric as benchmark_yuan_per_hour,
        allowed_float::numeric as allowed_float,
        floor_yuan_per_hour::numeric as floor_yuan_per_hour,
        effective_date::date as effective_date,
        is_illustrative::boolean as is_illustrative
    from {{ ref('guided_prices') }}
),

vacations as (
    select * from {{ ref('int_school_vacation_days') }}
),

enriched as (
    select
        m.*,
        c.province_code,
        coalesce(m.course_category, o.course_category) as order_course_category,
        coalesce(m.unit_price_yuan, o.unit_price_yuan) as order_unit_price_yuan,
        coalesce(m.delivery_mode, o.delivery_mode) as order_delivery_mode,
        coalesce(m.class_type, o.class_type) as order_class_type,
        m.class_started_at::date as class_date,
        extract(epoch from (m.class_ended_at - m.class_started_at)) / 60.0 as class_minutes
    from movements as m
    left join orders as o
        on o.source_city_code = m.source_city_code and o.order_id = m.order_id
    left join cities as c on c.city_code = m.source_city_code
),

priced as (
    select
        e.*,
        p.benchmark_yuan_per_hour,
        p.allowed_float,
        p.floor_yuan_per_hour,
        p.is_illustrative as is_price_illustrative
    from enriched as e
    left join lateral (
        select *
        from prices as gp
        -- lateral, correlated with the outer row: every reference stays qualified
        where gp.region_code in (e.source_city_code, e.province_code)  -- noqa: RF03
            and gp.delivery_mode = e.order_delivery_mode
            and gp.class_type = e.order_class_type
            and gp.effective_date <= e.occurred_at::date
        -- a city's own table wins over its province's; the latest effective row applies
        order by length(gp.region_code) desc, gp.effective_date desc
        limit 1
    ) as p on e.movement_type = 'prepaid' and e.order_course_category = 'subject'
),

final as (
    select
        p.business_date,
        p.source_city_code,
        p.province_code,
        p.delivery_id,
        p.movement_id,
        p.institution_id,
        p.account_no,
        p.movement_type,
        p.amount_yuan,
        p.occurred_at,
        p.order_id,
        p.student_pseudonym,
        p.order_course_category as course_category,
        p.class_hours,
        p.order_unit_price_yuan as unit_price_yuan,
        p.order_delivery_mode as delivery_mode,
        p.order_class_type as class_type,
        p.service_start_date,
        p.service_end_date,
        p.channel,
        p.class_started_at,
        p.class_ended_at,
        p.class_date,
        p.class_minutes,
        -- value of the classes a release pays for: hours x the order's unit price; when the
        -- order's prepaid row is unknown (e.g. its delivery was rejected) the released amount
        case
            when p.movement_type = 'release'
                then coalesce(round(p.class_hours * p.order_unit_price_yuan, 2), p.amount_yuan)
        end as consumed_value_yuan,
        (p.movement_type <> 'release' or p.order_unit_price_yuan is not null) as has_known_order,
        -- prepaid caps (section 2)
        (p.movement_type = 'prepaid' and p.class_hours > prm.max_prepaid_class_hours) as is_over_60_hours,
        (
            p.movement_type = 'prepaid'
            and p.service_end_date > (p.service_start_date + make_interval(months => prm.max_prepaid_months))::date
        ) as is_over_3_months,
        (
            p.movement_type = 'prepaid' and p.order_course_category = 'non_subject'
            and p.occurred_at::date >= prm.non_subject_cap_effective_date
            and p.amount_yuan > prm.max_non_subject_prepaid_yuan
        ) as is_non_subject_over_5000,
        (p.movement_type = 'prepaid' and p.channel in ('cash', 'other')) as is_off_platform,
        -- guided price (section 3): at most benchmark x (1 + allowed float), not below a floor
        round(p.benchmark_yuan_per_hour * (1 + p.allowed_float), 2) as price_cap_yuan,
        p.is_price_illustrative,
        (
            p.movement_type = 'prepaid' and p.order_course_category = 'subject'
            and p.unit_price_yuan > round(p.benchmark_yuan_per_hour * (1 + p.allowed_float), 2)
        ) as is_price_above_cap,
        (
            p.movement_type = 'prepaid' and p.order_course_category = 'subject'
            and p.unit_price_yuan < p.floor_yuan_per_hour
        ) as is_price_below_floor,
        (
            p.movement_type = 'prepaid' and p.order_course_category = 'subject'
            and p.benchmark_yuan_per_hour is not null
        ) as has_guided_price,
        -- time rules (section 4): subject classes not on rest days, holidays or vacations
        coalesce(cal.is_rest_day, false) as is_class_on_rest_day,
        (vac.vacation_date is not null) as is_class_in_school_vacation,
        (
            p.movement_type = 'release' and p.order_course_category = 'subject'
            and (coalesce(cal.is_rest_day, false) or vac.vacation_date is not null)
        ) as is_subject_class_on_rest_day,
        (
            p.movement_type = 'release' and p.class_ended_at is not null
            and (
                p.class_ended_at::date > p.class_started_at::date
                or p.class_ended_at::time > (
                    case
                        when p.order_delivery_mode = 'online' then prm.online_latest_end
                        else prm.offline_latest_end
                    end
                )
            )
        ) as is_class_ending_too_late,
        (
            p.movement_type = 'release' and p.order_delivery_mode = 'online'
            and p.class_minutes > prm.online_max_session_minutes
        ) as is_online_session_too_long
    from priced as p
    cross join params as prm
    left join calendar as cal on cal.calendar_date = p.class_date
    left join vacations as vac on vac.province_code = p.province_code and vac.vacation_date = p.class_date
)

select * from final
