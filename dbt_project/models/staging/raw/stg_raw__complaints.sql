with

source as (
    select * from {{ source('raw', 'complaints') }}
),

renamed as (
    select
        business_date,
        source_city_code::text as source_city_code,
        delivery_id,
        complaint_id,
        city_code,
        received_channel,
        scope,
        institution_id,
        category,
        received_at,
        status,
        closed_at,
        {{ pseudonymise('reporter_phone') }} as reporter_pseudonym,
        -- the free-text summary may name people: only whether there is one leaves raw
        (nullif(trim(summary), '') is not null) as has_summary,
        updated_at
    from source
)

select * from renamed
