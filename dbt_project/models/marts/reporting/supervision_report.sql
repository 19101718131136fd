{#- The figures a provincial report publishes, per city and province and business date
    (warehouse-interface.md). Built in full from the small daily aggregates
    (cities x dates rows), so its cost does not grow with the raw history. -#}
with

institution_counts as (
    select * from {{ ref('int_institution_counts_daily') }}
),

refund_changes as (
    select * from {{ ref('int_refund_changes_daily') }}
),

refund_students as (
    select * from {{ ref('int_refund_students') }}
),

complaint_changes as (
    select
        business_date,
        source_city_code,
        sum(received_change) as received_change,
        sum(received_change) filter (where scope = 'in_school') as in_school_change,
        sum(received_change) filter (where scope = 'out_of_school') as out_of_school_change,
        sum(closed_change) as closed_change
    from {{ ref('int_complaint_changes_daily') }}
    group by business_date, source_city_code
),

cities as (
    select
        city_code::text as city_code,
        city_name,
        province_code::text as province_code,
        province_name
    from {{ ref('cities') }}
),

-- every business date with data, and every city from its first date with data
activity as (
    select
        business_date,
        source_city_code
    from institution_counts
    union
    select
        business_date,
        source_city_code
    from refund_changes
    union
    select
        business_date,
        source_city_code
    from complaint_changes
),

dates as (
    select distinct business_date as as_of_date from activity
),

city_first as (
    select
        source_city_code,
        min(business_date) as first_date
    from activity
    group by source_city_code
),

grid as (
    select
        d.as_of_date,
        f.source_city_code,
        c.city_name,
        c.province_code,
        c.province_name
    from dates as d
    inner join city_first as f on f.first_date <= d.as_of_date
    inner join cities as c on c.city_code = f.source_city_code
),

new_students_city as (
    select
        source_city_code,
        first_completed_date as business_date,
        count(*) as new_students
    from refund_students
    group by source_city_code, first_completed_date
),

new_students_province as (
    select
        province_code,
        first_completed_date as business_date,
        count(*) as new_students
    from (
        select
            c.province_code,
            s.student_pseudonym,
            min(s.first_completed_date) as first_completed_date
        from refund_students as s
        inner join cities as c on c.city_code = s.source_city_code
        group by c.province_code, s.student_pseudonym
    ) as per_student
    group by province_code, first_completed_date
),

city_running as (
    select
        g.as_of_date,
        g.source_city_code,
        g.city_name,
        g.province_code,
        sum(coalesce(r.completed_change, 0)) over w as refunds_completed,
        sum(coalesce(r.refunded_change_yuan, 0)) over w as refund_amount_yuan,
        sum(coalesce(r.refunded_cash_change_yuan, 0)) over w as refund_amount_cash_yuan,
        sum(coalesce(r.refunded_course_exchange_change_yuan, 0)) over w as refund_amount_course_exchange_yuan,
        sum(coalesce(r.refunded_judicial_change_yuan, 0)) over w as refund_amount_judicial_yuan,
        sum(coalesce(s.new_students, 0)) over w as refund_students,
        sum(coalesce(k.received_change, 0)) over w as complaints_received,
        sum(coalesce(k.in_school_change, 0)) over w as complaints_in_school,
        sum(coalesce(k.out_of_school_change, 0)) over w as complaints_out_of_school,
        sum(coalesce(k.closed_change, 0)) over w as complaints_closed
    from grid as g
    left join refund_changes as r
        on r.source_city_code = g.source_city_code and r.business_date = g.as_of_date
    left join new_students_city as s
        on s.source_city_code = g.source_city_code and s.business_date = g.as_of_date
    left join complaint_changes as k
        on k.source_city_code = g.source_city_code and k.business_date = g.as_of_date
    window w as (partition by g.source_city_code order by g.as_of_date rows between unbounded preceding and current row)
),

city_rows as (
    select
        r.as_of_date,
        'city' as scope_level,
        r.source_city_code as scope_code,
        r.city_name as scope_name,
        r.province_code,
        coalesce(i.subject_baseline, 0) as subject_baseline,
        coalesce(i.subject_baseline_offline, 0) as subject_baseline_offline,
        coalesce(i.subject_baseline_online, 0) as subject_baseline_online,
        coalesce(i.deregistered, 0) as deregistered,
        coalesce(i.converted, 0) as converted,
        coalesce(i.remaining_nonprofit, 0) as remaining_nonprofit,
        coalesce(i.remaining_supervised, 0) as remaining_supervised,
        coalesce(i.remaining_model_contract, 0) as remaining_model_contract,
        coalesce(i.non_subject_active, 0) as non_subject_active,
        coalesce(i.non_subject_supervised, 0) as non_subject_supervised,
        r.refund_students,
        r.refund_amount_yuan,
        r.refund_amount_cash_yuan,
        r.refund_amount_course_exchange_yuan,
        r.refund_amount_judicial_yuan,
        r.complaints_received,
        r.complaints_in_school,
        r.complaints_out_of_school,
        r.complaints_closed
    from city_running as r
    -- institutions: the city's latest snapshot on or before the date
    left join lateral (
        select *
        from institution_counts as ic
        -- lateral, correlated with the outer row: every reference stays qualified
        where ic.source_city_code = r.source_city_code and ic.business_date <= r.as_of_date  -- noqa: RF03
        order by ic.business_date desc
        limit 1
    ) as i on true
),

province_students as (
    select
        p.as_of_date,
        p.province_code,
        sum(coalesce(n.new_students, 0)) over (
            partition by p.province_code order by p.as_of_date rows between unbounded preceding and current row
        ) as refund_students
    from (
        select distinct
            as_of_date,
            province_code
        from grid
    ) as p
    left join new_students_province as n
        on n.province_code = p.province_code and n.business_date = p.as_of_date
),

province_names as (
    select distinct
        province_code,
        province_name
    from cities
),

province_rows as (
    select
        c.as_of_date,
        'province' as scope_level,
        c.province_code as scope_code,
        max(pn.province_name) as scope_name,
        c.province_code,
        sum(c.subject_baseline) as subject_baseline,
        sum(c.subject_baseline_offline) as subject_baseline_offline,
        sum(c.subject_baseline_online) as subject_baseline_online,
        sum(c.deregistered) as deregistered,
        sum(c.converted) as converted,
        sum(c.remaining_nonprofit) as remaining_nonprofit,
        sum(c.remaining_supervised) as remaining_supervised,
        sum(c.remaining_model_contract) as remaining_model_contract,
        sum(c.non_subject_active) as non_subject_active,
        sum(c.non_subject_supervised) as non_subject_supervised,
        max(ps.refund_students) as refund_students,
        sum(c.refund_amount_yuan) as refund_amount_yuan,
        sum(c.refund_amount_cash_yuan) as refund_amount_cash_yuan,
        sum(c.refund_amount_course_exchange_yuan) as refund_amount_course_exchange_yuan,
        sum(c.refund_amount_judicial_yuan) as refund_amount_judicial_yuan,
        sum(c.complaints_received) as complaints_received,
        sum(c.complaints_in_school) as complaints_in_school,
        sum(c.complaints_out_of_school) as complaints_out_of_school,
        sum(c.complaints_closed) as complaints_closed
    from city_rows as c
    inner join province_names as pn on pn.province_code = c.province_code
    inner join province_students as ps on ps.province_code = c.province_code and ps.as_of_date = c.as_of_date
    group by c.as_of_date, c.province_code
),

unioned as (
    select * from city_rows
    union all
    select * from province_rows
),

final as (
    select
        as_of_date::date as as_of_date,
        scope_level::text as scope_level,
        scope_code::text as scope_code,
        scope_name::text as scope_name,
        subject_baseline::integer as subject_baseline,
        subject_baseline_offline::integer as subject_baseline_offline,
        subject_baseline_online::integer as subject_baseline_online,
        deregistered::integer as deregistered,
        converted::integer as converted,
        (deregistered + converted)::integer as reduced,
        {{ safe_ratio('deregistered + converted', 'subject_baseline') }} as reduction_rate,
        (subject_baseline - deregistered - converted)::integer as remaining_subject,
        remaining_nonprofit::integer as remaining_nonprofit,
        remaining_supervised::integer as remaining_supervised,
        remaining_model_contract::integer as remaining_model_contract,
        non_subject_active::integer as non_subject_active,
        non_subject_supervised::integer as non_subject_supervised,
        {{ safe_ratio('non_subject_supervised', 'non_subject_active') }} as non_subject_supervision_rate,
        refund_students::integer as refund_students,
        refund_amount_yuan::numeric(18, 2) as refund_amount_yuan,
        refund_amount_cash_yuan::numeric(18, 2) as refund_amount_cash_yuan,
        refund_amount_course_exchange_yuan::numeric(18, 2) as refund_amount_course_exchange_yuan,
        refund_amount_judicial_yuan::numeric(18, 2) as refund_amount_judicial_yuan,
        complaints_received::integer as complaints_received,
        complaints_in_school::integer as complaints_in_school,
        complaints_out_of_school::integer as complaints_out_of_school,
        complaints_closed::integer as complaints_closed,
        {{ safe_ratio('complaints_closed', 'complaints_received') }} as complaint_closure_rate
    from unioned
)

select * from final
