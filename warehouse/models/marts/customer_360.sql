{{ config(tags=['scored']) }}
-- One row per customer as of the as-of date: features, churn risk, segment, review sentiment, the top 3
-- recommended products and the value model's P(alive), expected orders / value (over the churn window) and
-- 12-month CLV side by side, for people who want one table to query. Built after the model assets
-- (tag `scored`), from the same as-of date as marts.customer_features; a customer not scored by a model
-- (e.g. inactive customers have no churn score) has nulls there, and so does every customer when a model's
-- table does not exist yet (scored_or_empty): one model that could not train never stops this table.
with features as (
    select * from {{ ref('customer_features') }}
),
churn as (
    select customer_id, as_of_date, churn_probability, risk_level, model_version as churn_model_version
    from ({{ scored_or_empty('churn_scores', [['customer_id', 'varchar'], ['as_of_date', 'date'],
          ['churn_probability', 'double precision'], ['risk_level', 'varchar'], ['model_version', 'bigint']]) }}) t
),
segments as (
    select customer_id, as_of_date, segment_name, model_version as segment_model_version
    from ({{ scored_or_empty('customer_segments', [['customer_id', 'varchar'], ['as_of_date', 'date'],
          ['segment_name', 'varchar'], ['model_version', 'bigint']]) }}) t
),
sentiment as (
    select customer_id, as_of_date, avg_sentiment, last_sentiment
    from ({{ scored_or_empty('customer_sentiment', [['customer_id', 'varchar'], ['as_of_date', 'date'],
          ['avg_sentiment', 'double precision'], ['last_sentiment', 'double precision']]) }}) t
),
value as (
    select customer_id, as_of_date, p_alive, expected_orders, expected_value, clv_12m,
           model_version as value_model_version
    from ({{ scored_or_empty('customer_value', [['customer_id', 'varchar'], ['as_of_date', 'date'],
          ['p_alive', 'double precision'], ['expected_orders', 'double precision'],
          ['expected_value', 'double precision'], ['clv_12m', 'double precision'], ['model_version', 'bigint']]) }}) t
),
recommended as (
    select customer_id, as_of_date,
           string_agg(cast(product_id as varchar), ',' order by rank) as top_recommended_products
    from ({{ scored_or_empty('product_recommendations', [['customer_id', 'varchar'], ['as_of_date', 'date'],
          ['product_id', 'varchar'], ['rank', 'integer']]) }}) t
    where rank <= 3
    group by customer_id, as_of_date
)
select
    f.customer_id,
    f.as_of_date,
    f.country,
    f.is_active,
    f.recency_days,
    f.frequency,
    f.monetary,
    f.clv_to_date,
    f.engagement_score,
    f.review_count,
    f.avg_rating,
    c.churn_probability,
    c.risk_level,
    c.churn_model_version,
    s.segment_name,
    s.segment_model_version,
    t.avg_sentiment,
    t.last_sentiment,
    r.top_recommended_products,
    v.p_alive,
    v.expected_orders,
    v.expected_value,
    v.clv_12m,
    v.value_model_version
from features f
left join churn c on c.customer_id = f.customer_id and c.as_of_date = f.as_of_date
left join segments s on s.customer_id = f.customer_id and s.as_of_date = f.as_of_date
left join sentiment t on t.customer_id = f.customer_id and t.as_of_date = f.as_of_date
left join recommended r on r.customer_id = f.customer_id and r.as_of_date = f.as_of_date
left join value v on v.customer_id = f.customer_id and v.as_of_date = f.as_of_date
