-- One row per customer as of the as-of date. is_active: at least one completed order in the last 365 days,
-- the population churn is scored on.
select
    customer_id,
    cutoff_date as as_of_date,
    country,
    recency_days, frequency, monetary, avg_order_value, tenure_days, first_purchase_days, clv_to_date,
    orders_90d, orders_prev_90d, order_trend, return_rate, cancel_rate, category_breadth,
    login_frequency, sessions_90d, conversion_rate, support_tickets_90d, engagement_score,
    review_count, avg_rating, is_active
from {{ ref('int_customer_features_by_cutoff') }}
where is_scoring_date
