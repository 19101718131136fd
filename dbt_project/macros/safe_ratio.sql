{#- numerator / denominator as an unrounded numeric fraction; null when the denominator is 0. -#}
{% macro safe_ratio(numerator, denominator) -%}
    (({{ numerator }})::numeric / nullif(({{ denominator }})::numeric, 0))
{%- endmacro %}
