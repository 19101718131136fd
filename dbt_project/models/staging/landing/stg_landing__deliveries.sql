with

source as (
    select * from {{ source('landing', 'deliveries') }}
),

renamed as (
    select
        delivery_id,
        business_date,
        city_code::text as city_code,
        kind,
        channel,
        original_name,
        bytes,
        sha256,
        stored_path,
        received_at,
        delivered_at,
        status,
        status_reason
    from source
)

select * from renamed
