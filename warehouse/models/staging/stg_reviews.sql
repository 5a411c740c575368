with ranked as (
    select
        cast(review_id as varchar) as review_id,
        cast(customer_id as varchar) as customer_id,
        cast(product_id as varchar) as product_id,
        cast(rating as integer) as rating,
        cast(review_ts as timestamp) as review_ts,
        cast(review_ts as date) as review_date,
        cast(review_text as varchar) as review_text,
        row_number() over (partition by review_id order by review_ts) as copy_rank
    from {{ source('raw', 'reviews') }}
    where review_id is not null
)
select review_id, customer_id, product_id, rating, review_ts, review_date, review_text
from ranked
where copy_rank = 1
