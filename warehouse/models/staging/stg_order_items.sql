-- Lines of one order that name the same product are merged into one line.
select
    cast(order_id as varchar) as order_id,
    cast(product_id as varchar) as product_id,
    sum(cast(quantity as bigint)) as quantity,
    sum(cast(quantity as double precision) * cast(unit_price as double precision))
        / nullif(sum(cast(quantity as double precision)), 0) as unit_price,
    sum(cast(quantity as double precision) * cast(unit_price as double precision)) as line_value
from {{ source('raw', 'order_items') }}
where order_id is not null and product_id is not null
group by 1, 2
