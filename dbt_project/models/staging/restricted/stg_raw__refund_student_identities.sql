{#- Clear student identities of the refund cases (name, guardian phone): schema
    restricted, which the analyst role cannot read. Only restricted_student_identities
    uses it. -#}
with

source as (
    select * from {{ source('raw', 'refunds') }}
),

renamed as (
    select
        business_date,
        source_city_code::text as source_city_code,
        refund_id,
        student_name,
        guardian_phone
    from source
)

select * from renamed
