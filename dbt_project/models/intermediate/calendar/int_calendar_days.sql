{#- One row per calendar day: working day or rest day (with swapped working days, 调休),
    and a running working-day number for ageing in working days. Days after the seed's
    last date (chinesecalendar publishes a year once the State Council's notice is out)
    fall back to Monday-Friday until the seed is regenerated (`oversight.dbt_build.write_seeds`). -#}
with

seeded as (
    select
        calendar_date::date as calendar_date,
        is_working_day::boolean as is_working_day,
        is_holiday::boolean as is_holiday,
        nullif(holiday_name, '') as holiday_name,
        is_swapped_working_day::boolean as is_swapped_working_day,
        source
    from {{ ref('working_calendar') }}
),

fallback as (
    select
        d::date as calendar_date,
        extract(isodow from d) < 6 as is_working_day,
        false as is_holiday,
        null::text as holiday_name,
        false as is_swapped_working_day,
        'fallback: Monday to Friday (date beyond the seeded calendar)' as source
    from
        generate_series(
            (select max(calendar_date) + 1 from seeded),
            '{{ var("calendar_fallback_until", "2030-12-31") }}'::date,
            interval '1 day'
        ) as d
),

days as (
    select * from seeded
    union all
    select * from fallback
),

final as (
    select
        calendar_date,
        is_working_day,
        not is_working_day as is_rest_day,
        is_holiday,
        holiday_name,
        is_swapped_working_day,
        sum(case when is_working_day then 1 else 0 end) over (order by calendar_date)::integer as working_day_number,
        source
    from days
)

select * from final
