with

source as (
    select * from {{ source('raw', 'fee_ledger') }}
),

renamed as (
    select
        business_date,
        source_city_code::text as source_city_code,
        delivery_id,
        movement_id,
        institution_id,
        account_no,
        movement_type,
        amount_yuan,
        occurred_at,
        order_id,
        {{ pseudonymise('student_id_no') }} as student_pseudonym,
        course_category,
        class_hours,
        unit_price_yuan,
        delivery_mode,
        class_type,
        service_start_date,
        service_end_date,
        channel,
        class_started_at,
        class_ended_at
    from source
)

select * from renamed
