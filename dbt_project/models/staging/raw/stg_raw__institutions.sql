with

source as (
    select * from {{ source('raw', 'institutions') }}
),

renamed as (
    select
        business_date,
        source_city_code::text as source_city_code,
        delivery_id,
        institution_id,
        institution_name,
        city_code,
        district,
        category,
        non_subject_field,
        stage,
        delivery_mode,
        baseline_category,
        status,
        nonprofit as is_nonprofit,
        approved_date,
        status_changed_date,
        license_no,
        coalesce(residential_premises, false) as is_residential_premises,
        fund_supervision_mode,
        custodian_bank,
        on_platform as is_on_platform,
        uses_model_contract as is_using_model_contract
    from source
)

select * from renamed
