with ranked as (
    select
        cast(product_id as varchar) as product_id,
        coalesce(nullif(trim(cast(name as varchar)), ''), cast(product_id as varchar)) as product_name,
        coalesce(nullif(trim(cast(category as varchar)), ''), 'uncategorized') as category,
        cast(description as varchar) as description,
        cast(price as double precision) as price,
        row_number() over (partition by product_id order by price desc nulls last) as copy_rank
    from {{ source('raw', 'products') }}
    where product_id is not null
)
select product_id, product_name, category, description, price
from ranked
where copy_rank = 1
