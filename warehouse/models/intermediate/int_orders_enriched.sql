-- One row per order with its value, item count and categories, the grain every feature starts from.
select
    o.order_id,
    o.customer_id,
    o.order_ts,
    o.order_date,
    o.status,
    coalesce(sum(i.line_value), 0) as order_value,
    coalesce(sum(i.quantity), 0) as items
from {{ ref('stg_orders') }} o
left join {{ ref('stg_order_items') }} i on i.order_id = o.order_id
group by 1, 2, 3, 4, 5
