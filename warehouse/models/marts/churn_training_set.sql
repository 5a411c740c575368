-- Labelled snapshots for churn training: features at each past cutoff (data on or before it) and the label
-- from the churn window after it (no completed order in cutoff+1 .. cutoff+window). Only customers active
-- at the cutoff (an order in the previous 365 days) can churn. Every window ends on or before the as-of date.
{% set window = var('churn_window_days') | int %}
with future_orders as (
    select distinct k.cutoff_date, o.customer_id
    from {{ ref('int_feature_cutoffs') }} k
    join {{ ref('stg_orders') }} o
      on o.status = 'completed'
     and o.order_date > k.cutoff_date
     and o.order_date <= k.cutoff_date + {{ window }}
    where not k.is_scoring_date
)
select
    f.customer_id,
    f.cutoff_date,
    f.country,
    f.recency_days, f.frequency, f.monetary, f.avg_order_value, f.tenure_days, f.first_purchase_days, f.clv_to_date,
    f.orders_90d, f.orders_prev_90d, f.order_trend, f.return_rate, f.cancel_rate, f.category_breadth,
    f.login_frequency, f.sessions_90d, f.conversion_rate, f.support_tickets_90d, f.engagement_score,
    f.review_count, f.avg_rating,
    case when fo.customer_id is null then 1 else 0 end as churned
from {{ ref('int_customer_features_by_cutoff') }} f
left join future_orders fo on fo.customer_id = f.customer_id and fo.cutoff_date = f.cutoff_date
where not f.is_scoring_date and f.is_active
