with

source as (
    select * from {{ source('alerting', 'acknowledgements') }}
),

renamed as (
    select
        alert_id,
        acknowledged_by,
        note,
        acknowledged_at
    from source
)

select * from renamed
