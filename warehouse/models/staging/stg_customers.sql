-- One row per customer; the latest loaded copy wins if a key was loaded twice.
with ranked as (
    select
        cast(customer_id as varchar) as customer_id,
        cast(signup_date as date) as signup_date,
        nullif(trim(cast(country as varchar)), '') as country,
        row_number() over (partition by customer_id order by signup_date desc nulls last) as copy_rank
    from {{ source('raw', 'customers') }}
    where customer_id is not null
)
select customer_id, signup_date, coalesce(country, 'unknown') as country
from ranked
where copy_rank = 1
