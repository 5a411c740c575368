{# Small generic tests kept here rather than pulling dbt_utils, which would need a download at run time. #}

{% test non_negative(model, column_name) %}
select * from {{ model }} where {{ column_name }} < 0
{% endtest %}

{% test within_range(model, column_name, min_value, max_value) %}
select * from {{ model }} where {{ column_name }} < {{ min_value }} or {{ column_name }} > {{ max_value }}
{% endtest %}

{% test single_row(model) %}
select count(*) as n from {{ model }} having count(*) <> 1
{% endtest %}

{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as n
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}

{# Point-in-time guard: a snapshot's recency must come from an order on or before its cutoff. #}
{% test features_not_after_cutoff(model) %}
select * from {{ model }} where recency_days < 0 or tenure_days < 0
{% endtest %}
