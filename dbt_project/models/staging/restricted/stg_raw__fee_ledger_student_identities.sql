{#- Clear student identities of the fee ledger (id number, name): schema restricted,
    which the analyst role cannot read. Only restricted_student_identities uses it. -#}
with

source as (
    select * from {{ source('raw', 'fee_ledger') }}
),

renamed as (
    select
        business_date,
        source_city_code::text as source_city_code,
        movement_id,
        student_id_no,
        student_name
    from source
)

select * from renamed
