{#- Generic tests written here (no dbt hub packages can be fetched offline). -#}

{#- Every value lies in [min_value, max_value] (either bound optional); nulls pass. -#}
{% test accepted_range(model, column_name, min_value=none, max_value=none, inclusive=true) %}
select *
from {{ model }}
where {{ column_name }} is not null
  and (false
    {%- if min_value is not none %} or {{ column_name }} {{ '<' if inclusive else '<=' }} {{ min_value }}{% endif %}
    {%- if max_value is not none %} or {{ column_name }} {{ '>' if inclusive else '>=' }} {{ max_value }}{% endif %}
  )
{% endtest %}

{#- A boolean SQL expression holds on every row (optionally only where `where_clause`). -#}
{% test expression_is_true(model, expression, column_name=none, where_clause=none) %}
select *
from {{ model }}
where not ({{ expression }})
{%- if where_clause %} and ({{ where_clause }}){% endif %}
{% endtest %}

{#- The combination of columns is unique. -#}
{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as n
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}

{#- Values look like a keyed pseudonym (64 lowercase hex characters), never clear text. -#}
{% test is_pseudonym(model, column_name) %}
select *
from {{ model }}
where {{ column_name }} is not null and {{ column_name }} !~ '^[0-9a-f]{64}$'
{% endtest %}
