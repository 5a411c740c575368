-- Every date features are computed at: the as-of date (for scoring) and the past cutoffs whose churn window
-- has fully elapsed by the as-of date (for training). One feature computation serves both, so training and
-- scoring cannot drift apart.
{% set window = var('churn_window_days') | int %}
{% set step = var('churn_snapshot_step_days') | int %}
select as_of_date as cutoff_date, true as is_scoring_date
from {{ ref('int_as_of_date') }}
{% for i in range(var('churn_snapshots') | int) %}
union all
select cast(as_of_date - {{ window + i * step }} as date) as cutoff_date, false as is_scoring_date
from {{ ref('int_as_of_date') }}
{% endfor %}
