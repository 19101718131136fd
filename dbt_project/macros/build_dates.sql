{#- Incremental builds: which business dates this run (re)builds.

    Every publish of a delivery writes audit.rebuild_dates (business_date, city, kind,
    delivery, reason new/late/redelivery, built_at null). A run rebuilds exactly the
    dates given in var build_dates (the warehouse DAG passes the pending dates it saw
    when it started, then marks those rows built), or, when the var is empty (a manual
    `dbt build`), every pending date. Incremental facts delete the rows of those dates
    and insert them again from raw (pre-hook + append, in one transaction), so a late
    or corrected delivery rebuilds only the dates it touched and a re-run never
    double counts. A first build or --full-refresh builds every date.

    The one source() outside models/staging/: audit.rebuild_dates is the build's own
    bookkeeping (which dates this run rebuilds), not data a model transforms. It is
    read where the macro is rendered, in the filter and pre-hook of the incremental
    models; a ref() to a staging view of it would make every incremental model depend
    on that view (and rebuild it first) only to learn its own dates. -#}

{% macro build_dates() -%}
    {%- set given = var('build_dates', '') | string | trim -%}
    {%- if given -%}
        ({% for d in given.split(',') %}'{{ d | trim }}'::date{% if not loop.last %}, {% endif %}{% endfor %})
    {%- else -%}
        (select distinct business_date from {{ source('audit', 'rebuild_dates') }} where built_at is null)
    {%- endif -%}
{%- endmacro %}

{#- The filter an incremental model applies to its day-partitioned input. -#}
{% macro on_build_dates(column='business_date') -%}
    {%- if is_incremental() -%}{{ column }} in {{ build_dates() }}{%- else -%}true{%- endif -%}
{%- endmacro %}

{#- Pre-hook of the day-partitioned incremental models: drop the dates being rebuilt. -#}
{% macro delete_build_dates(column='business_date') -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ column }} in {{ build_dates() }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
