{#- numerator / denominator as an unrounded numeric fraction; null when the denominator is 0. -#}
{% macro safe_ratio(numerator, denominator) -%}
    (({{ numerator }})::numeric / nullif(({{ denominator }})::numeric, 0))
{%- endmacro %}

{#- Coverage ratio = protected funds / outstanding liability; null when nothing is owed. -#}
{% macro coverage_ratio(protected, liability) -%}
    (case when ({{ liability }}) > 0 then ({{ protected }})::numeric / ({{ liability }})::numeric end)
{%- endmacro %}
