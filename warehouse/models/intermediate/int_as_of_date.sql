-- depends_on: {{ ref('stg_orders') }}
-- The as-of date: the configured one (the Dagster partition being built), or the latest order date.
-- Features use data up to the end of this day; churn labels look only at the days after it.
{% set configured = var('as_of') | trim %}
{% if configured %}
select cast('{{ configured }}' as date) as as_of_date
{% else %}
select max(order_date) as as_of_date from {{ ref('stg_orders') }}
{% endif %}
