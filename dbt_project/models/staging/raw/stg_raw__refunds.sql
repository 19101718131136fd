with

source as (
    select * from {{ source('raw', 'refunds') }}
),

renamed as (
    select
        business_date,
        source_city_code::text as source_city_code,
        delivery_id,
        refund_id,
        institution_id,
        order_id,
        -- refunds carry no id number: a student is the pair (name, guardian phone)
        {{ pseudonymise(['student_name', 'guardian_phone']) }} as student_pseudonym,
        requested_amount_yuan,
        refunded_amount_yuan,
        method,
        status,
        requested_date,
        completed_date,
        updated_at
    from source
)

select * from renamed
