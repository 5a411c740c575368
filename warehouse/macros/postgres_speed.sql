{#
  PostgreSQL plans from table statistics, and a table dbt has just created has none: the planner guessed one
  row for the deduplicated staging data and chose nested loops (a 3,000-customer `make run` took 35 minutes
  against 3 on DuckDB). These macros keep the engine difference out of the models.
#}

{# Statistics right after the build, before the next model reads it (autovacuum would be too late). #}
{% macro analyze_if_postgres() -%}
    {%- if target.type == 'postgres' and model.config.materialized in ('table', 'incremental') -%}
        analyze {{ this }}
    {%- endif -%}
{%- endmacro %}
