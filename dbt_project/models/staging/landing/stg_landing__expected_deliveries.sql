with

source as (
    select * from {{ source('delivery_plan', 'expected_deliveries') }}
),

renamed as (
    select
        business_date,
        source_city_code::text as source_city_code,
        kind,
        channel,
        deadline_at,
        is_configured,
        planned_at
    from source
)

select * from renamed
