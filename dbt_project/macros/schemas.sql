{#- The transformer role may create objects in the derived schemas but not schemas
    themselves (no database CREATE): migrations create them. A model's custom schema
    is used verbatim (no "<target>_" prefix) and dbt never runs "create schema". -#}

{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema | trim }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}

{% macro postgres__create_schema(relation) -%}
    {#- verify instead of create: a missing schema means the migrations were not applied -#}
    {%- call statement('verify_schema', fetch_result=True) -%}
        select count(*) from pg_namespace where nspname = '{{ relation.without_identifier().schema }}'
    {%- endcall -%}
    {%- set found = load_result('verify_schema')['data'][0][0] -%}
    {%- if found == 0 -%}
        {{ exceptions.raise_compiler_error("schema " ~ relation.without_identifier().schema ~ " does not exist: run `oversight db migrate` (dbt never creates schemas)") }}
    {%- endif -%}
{%- endmacro %}
