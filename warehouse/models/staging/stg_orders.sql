with ranked as (
    select
        cast(order_id as varchar) as order_id,
        cast(customer_id as varchar) as customer_id,
        cast(order_ts as timestamp) as order_ts,
        cast(order_ts as date) as order_date,
        lower(coalesce(cast(status as varchar), 'completed')) as status,
        row_number() over (partition by order_id order by order_ts) as copy_rank
    from {{ source('raw', 'orders') }}
    where order_id is not null and order_ts is not null
)
select order_id, customer_id, order_ts, order_date, status
from ranked
where copy_rank = 1
