select distinct
    cast(customer_id as varchar) as customer_id,
    cast(event_ts as timestamp) as event_ts,
    cast(event_ts as date) as event_date,
    lower(cast(event_type as varchar)) as event_type,
    cast(session_id as varchar) as session_id
from {{ source('raw', 'events') }}
where customer_id is not null and event_ts is not null
