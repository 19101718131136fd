{#- The only place where a pseudonym meets the clear identity: schema restricted, which
    the analyst role cannot read. For authorised case work (re-identification). -#}
with

ledger as (
    select distinct
        {{ pseudonymise('student_id_no') }} as pseudonym,
        'fee_ledger.student_id_no' as identified_by,
        student_id_no,
        student_name,
        null::text as guardian_phone
    from {{ ref('stg_raw__fee_ledger_student_identities') }}
    where student_id_no is not null
),

refunds as (
    select distinct
        {{ pseudonymise(['student_name', 'guardian_phone']) }} as pseudonym,
        'refunds.student_name|guardian_phone' as identified_by,
        null::text as student_id_no,
        student_name,
        guardian_phone
    from {{ ref('stg_raw__refund_student_identities') }}
    where coalesce(student_name, guardian_phone) is not null
),

final as (
    select * from ledger
    union all
    select * from refunds
)

select * from final
