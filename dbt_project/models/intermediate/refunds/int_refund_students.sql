{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['source_city_code', 'student_pseudonym'],
        indexes=[{'columns': ['source_city_code', 'student_pseudonym'], 'unique': true}],
    )
}}
{#- Students (by pseudonym) with a completed refund, per city, and the first business
    date on which one of their cases was delivered completed. A completed refund is
    final (the contract has no transition out of completed). -#}
with

completed as (
    select
        source_city_code,
        student_pseudonym,
        min(business_date) as first_completed_date
    from {{ ref('int_refund_versions') }}
    where is_completed and student_pseudonym is not null
        and {{ on_build_dates() }}
    group by source_city_code, student_pseudonym
),

final as (
    {% if is_incremental() %}
    select
        c.source_city_code,
        c.student_pseudonym,
        least(c.first_completed_date, t.first_completed_date) as first_completed_date
    from completed as c
    left join {{ this }} as t
        on t.source_city_code = c.source_city_code and t.student_pseudonym = c.student_pseudonym
    {% else %}
    select * from completed
    {% endif %}
)

select * from final
