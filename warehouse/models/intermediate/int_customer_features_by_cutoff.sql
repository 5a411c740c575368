-- Customer features at every cutoff date, computed only from data on or before that date.
-- Windows: "90d" means the 90 days ending on the cutoff (cutoff - 89 .. cutoff).
with cutoffs as (
    select cutoff_date, is_scoring_date from {{ ref('int_feature_cutoffs') }}
),

customers as (
    select c.customer_id, c.country, coalesce(c.signup_date, f.first_order_date) as signup_date
    from {{ ref('stg_customers') }} c
    left join (
        select customer_id, min(order_date) as first_order_date from {{ ref('stg_orders') }} group by 1
    ) f on f.customer_id = c.customer_id
),

population as (
    select k.cutoff_date, k.is_scoring_date, c.customer_id, c.country, c.signup_date
    from cutoffs k
    join customers c on c.signup_date is null or c.signup_date <= k.cutoff_date
),

order_facts as (
    select
        k.cutoff_date,
        o.customer_id,
        max(case when o.status = 'completed' then o.order_date end) as last_order_date,
        min(o.order_date) as first_order_date,
        min(case when o.status = 'completed' then o.order_date end) as first_completed_order_date,
        sum(case when o.status = 'completed' then 1 else 0 end) as frequency,
        sum(case when o.status = 'completed' then o.order_value else 0 end) as clv_to_date,
        sum(case when o.status = 'completed' and o.order_date > k.cutoff_date - 365 then o.order_value else 0 end)
            as monetary,
        sum(case when o.status = 'completed' and o.order_date > k.cutoff_date - 90 then 1 else 0 end) as orders_90d,
        sum(case when o.status = 'completed' and o.order_date > k.cutoff_date - 180
                  and o.order_date <= k.cutoff_date - 90 then 1 else 0 end) as orders_prev_90d,
        sum(case when o.status = 'completed' and o.order_date > k.cutoff_date - 365 then 1 else 0 end)
            as orders_365d,
        count(*) as all_orders,
        sum(case when o.status = 'returned' then 1 else 0 end) as returned_orders,
        sum(case when o.status = 'cancelled' then 1 else 0 end) as cancelled_orders
    from cutoffs k
    join {{ ref('int_orders_enriched') }} o on o.order_date <= k.cutoff_date
    group by 1, 2
),

category_facts as (
    select k.cutoff_date, o.customer_id, count(distinct p.category) as category_breadth
    from cutoffs k
    join {{ ref('stg_orders') }} o on o.order_date <= k.cutoff_date and o.status = 'completed'
    join {{ ref('stg_order_items') }} i on i.order_id = o.order_id
    join {{ ref('stg_products') }} p on p.product_id = i.product_id
    group by 1, 2
),

event_facts as (
    select
        k.cutoff_date,
        e.customer_id,
        sum(case when e.event_type = 'login' then 1 else 0 end) as logins_90d,
        count(distinct e.session_id) as sessions_90d,
        count(distinct case when e.event_type = 'purchase' then e.session_id end) as purchase_sessions_90d,
        sum(case when e.event_type = 'support_ticket' then 1 else 0 end) as support_tickets_90d
    from cutoffs k
    join {{ ref('stg_events') }} e on e.event_date <= k.cutoff_date and e.event_date > k.cutoff_date - 90
    group by 1, 2
),

review_facts as (
    select k.cutoff_date, r.customer_id, count(*) as review_count, avg(cast(r.rating as double precision)) as avg_rating
    from cutoffs k
    join {{ ref('stg_reviews') }} r on r.review_date <= k.cutoff_date
    group by 1, 2
)

select
    p.customer_id,
    p.cutoff_date,
    p.is_scoring_date,
    p.country,
    cast(p.cutoff_date - o.last_order_date as double precision) as recency_days,
    cast(coalesce(o.frequency, 0) as double precision) as frequency,
    coalesce(o.monetary, 0) as monetary,
    case when coalesce(o.frequency, 0) > 0 then o.clv_to_date / o.frequency end as avg_order_value,
    cast(p.cutoff_date - coalesce(p.signup_date, o.first_order_date, p.cutoff_date) as double precision) as tenure_days,
    -- Days since the first completed order (null without one): T of the purchase-process (BG/NBD) features.
    cast(p.cutoff_date - o.first_completed_order_date as double precision) as first_purchase_days,
    coalesce(o.clv_to_date, 0) as clv_to_date,
    cast(coalesce(o.orders_90d, 0) as double precision) as orders_90d,
    cast(coalesce(o.orders_prev_90d, 0) as double precision) as orders_prev_90d,
    cast(coalesce(o.orders_90d, 0) - coalesce(o.orders_prev_90d, 0) as double precision) as order_trend,
    coalesce(cast(o.returned_orders as double precision) / nullif(o.all_orders, 0), 0) as return_rate,
    coalesce(cast(o.cancelled_orders as double precision) / nullif(o.all_orders, 0), 0) as cancel_rate,
    cast(coalesce(c.category_breadth, 0) as double precision) as category_breadth,
    coalesce(e.logins_90d, 0) / 3.0 as login_frequency,
    cast(coalesce(e.sessions_90d, 0) as double precision) as sessions_90d,
    coalesce(cast(e.purchase_sessions_90d as double precision) / nullif(e.sessions_90d, 0), 0) as conversion_rate,
    cast(coalesce(e.support_tickets_90d, 0) as double precision) as support_tickets_90d,
    -- Engagement in [0, 1]: logins (4 per 30 days = full), sessions (12 in 90 days = full) and conversion.
    0.4 * least(coalesce(e.logins_90d, 0) / 3.0 / 4.0, 1.0)
        + 0.3 * least(coalesce(e.sessions_90d, 0) / 12.0, 1.0)
        + 0.3 * coalesce(cast(e.purchase_sessions_90d as double precision) / nullif(e.sessions_90d, 0), 0)
        as engagement_score,
    cast(coalesce(r.review_count, 0) as double precision) as review_count,
    r.avg_rating,
    coalesce(o.orders_365d, 0) > 0 as is_active
from population p
left join order_facts o on o.customer_id = p.customer_id and o.cutoff_date = p.cutoff_date
left join category_facts c on c.customer_id = p.customer_id and c.cutoff_date = p.cutoff_date
left join event_facts e on e.customer_id = p.customer_id and e.cutoff_date = p.cutoff_date
left join review_facts r on r.customer_id = p.customer_id and r.cutoff_date = p.cutoff_date
