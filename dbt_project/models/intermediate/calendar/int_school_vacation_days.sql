{#- One row per province and day of a school vacation (winter or summer), from the
    configurable seed school_vacations. -#}
with

vacations as (
    select * from {{ ref('school_vacations') }}
),

final as (
    select distinct on (province_code, vacation_date)
        province_code::text as province_code,
        d::date as vacation_date,
        vacation_name
    from vacations
    cross join lateral generate_series(start_date::date, end_date::date, interval '1 day') as d
    order by province_code, vacation_date, vacation_name
)

select * from final
