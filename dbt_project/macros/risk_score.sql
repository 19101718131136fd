{#- Composite risk score of marts.institution_risk, 0 to 100: the sum of the weights of
    the signals that are on, capped at 100. Weights reflect how directly a signal
    points at money parents may lose: funds already short (30), money taken after
    deregistration (30) and unexplained withdrawals (20) weigh most; sales without
    classes (20) and a reserve below 3 months (15) next; demand-side warnings
    (refund surge, complaint spike, overdue refunds, sales spike: 10 each), hidden
    training clues and residential premises (10, 5); supervision gaps (unsupervised
    15, off-platform 10, over the caps 5). -#}
{% macro risk_score_weights() -%}
    {{ return({
        'has_protected_below_liability': 30,
        'has_activity_after_deregistration': 30,
        'has_unusual_withdrawal': 20,
        'has_consumption_stall': 20,
        'has_reserve_below_3_months': 15,
        'is_unsupervised': 15,
        'has_refund_surge': 10,
        'has_complaint_spike': 10,
        'has_refund_overdue': 10,
        'has_sales_spike': 10,
        'has_hidden_training_complaints': 10,
        'has_off_platform_collection': 10,
        'has_residential_premises': 5,
        'has_collection_over_caps': 5,
    }) }}
{%- endmacro %}

{% macro risk_score() -%}
    least(100, 0
    {%- for signal, weight in risk_score_weights().items() %}
        + case when {{ signal }} then {{ weight }} else 0 end
    {%- endfor %}
    )
{%- endmacro %}
