{#-
  Rows of a table a Python model asset writes (source 'scored'), or no rows with the same columns when that
  table does not exist yet: a model that could not train must leave customer_360 built with nulls in its
  columns, not fail it. `columns` is a list of [name, type] pairs; the types are portable SQL.
-#}
{% macro scored_or_empty(table, columns) %}
  {%- set relation = load_relation(source('scored', table)) if execute else source('scored', table) -%}
  {%- if relation is not none -%}
    select {% for name, type in columns %}cast({{ name }} as {{ type }}) as {{ name }}{{ ", " if not loop.last }}{% endfor %}
    from {{ source('scored', table) }}
  {%- else -%}
    select {% for name, type in columns %}cast(null as {{ type }}) as {{ name }}{{ ", " if not loop.last }}{% endfor %}
    where 1 = 0
  {%- endif -%}
{% endmacro %}
