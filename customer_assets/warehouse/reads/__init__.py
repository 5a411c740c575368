"""Warehouse reads of the model domains: SQL in, Polars frames out, no Dagster.

One module per domain (`churn`, `segmentation`, `recommendation`, `review`, `value`); every function takes a
`Warehouse` client (customer_assets/warehouse/client.py). A read whose input table is absent or holds no rows
for the day raises `MissingInput` with the sentence a user sees: the asset that needed it reports that
message as its degraded reason (customer_assets/defs/degrade.py).
"""


class MissingInput(RuntimeError):
    """An input table is absent or empty for the day; the message says what to materialize first."""
