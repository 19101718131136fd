{#- Keyed pseudonym (HMAC-SHA256, hex) of personal data. The key is configuration, not
    code: dbt's connections carry it as the session setting oversight.pseudonym_key
    (PGOPTIONS, set by oversight.dbt from OVERSIGHT_PSEUDONYM_KEY or the local secret),
    so it appears in no SQL, view definition or log. A missing key is an error
    ("unrecognized configuration parameter"), never a silent unkeyed hash.
    Values are trimmed; several columns are joined with '|'; null in, null out. -#}
{% macro pseudonymise(columns) -%}
    {%- if columns is string -%}{%- set columns = [columns] -%}{%- endif -%}
    {%- set parts = [] -%}
    {%- for c in columns -%}{%- do parts.append("coalesce(trim(" ~ c ~ "), '')") -%}{%- endfor -%}
    case when {% for c in columns %}nullif(trim({{ c }}), '') is null{% if not loop.last %} and {% endif %}{% endfor %} then null
         else encode(sha256(
                (select reference.hmac_key_pad(current_setting('oversight.pseudonym_key'), 92))
                || sha256((select reference.hmac_key_pad(current_setting('oversight.pseudonym_key'), 54))
                          || convert_to({{ parts | join(" || '|' || ") }}, 'UTF8'))), 'hex')
    end
{%- endmacro %}
