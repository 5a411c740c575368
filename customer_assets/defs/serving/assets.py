"""`online_snapshot`: publish what the live scoring service reads (see `customer_assets.serving.snapshot`).

The service (bentos/service.py) never opens the warehouse: DuckDB allows one writer or several readers, never
both. This asset writes a new immutable Parquet version under `$CUSTOMER_ML_HOME/online/` and switches the
`current` pointer atomically; the running service notices the switch and loads it without a restart.
"""

import dagster as dg

from customer_assets.defs.policies import DAILY_FRESHNESS, OWNER
from customer_assets.defs.resources import MlflowResource, WarehouseResource
from customer_assets.models import SERVED_MODEL_NAMES
from customer_assets.serving import snapshot

GROUP = "serving"
SERVED_MODELS = SERVED_MODEL_NAMES
UPSTREAM = [
    dg.AssetKey(["marts", "customer_features"]),
    dg.AssetKey(["marts", "churn_scores"]),
    dg.AssetKey(["marts", "customer_segments"]),
    dg.AssetKey(["marts", "product_recommendations"]),
    dg.AssetKey(["marts", "similar_products"]),
    dg.AssetKey(["marts", "customer_value"]),
    dg.AssetKey(["marts", "retention_targets"]),
]


def build_serving_assets() -> list:
    @dg.asset(
        name="online_snapshot",
        group_name=GROUP,
        owners=[OWNER],
        deps=UPSTREAM,
        kinds={"parquet", "polars"},
        freshness_policy=DAILY_FRESHNESS,
        description="Immutable, versioned Parquet snapshot for the live scoring service: customer features at the "
        "latest as-of date, the latest churn scores, segments, recommendations, similar products, "
        "customer value, the retention worklist and bought items, with a manifest (as_of, "
        "created_at, row counts, champion versions); "
        "`$CUSTOMER_ML_HOME/online/current` is switched atomically and the last "
        "CUSTOMER_ML_ONLINE_KEEP_VERSIONS (3) versions are kept.",
    )
    def online_snapshot(context: dg.AssetExecutionContext, warehouse: WarehouseResource, mlflow: MlflowResource):
        models = mlflow.registry()
        champions = {name: models.champion_version(name) for name in SERVED_MODELS}
        try:
            published = snapshot.publish(warehouse.client(), snapshot.online_dir(warehouse.home), champions)
        except snapshot.SnapshotError as error:
            raise dg.Failure(description=str(error)) from error
        tables = published.manifest["tables"]
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(published.path)),
                "version": published.version,
                "as_of": published.manifest["as_of"],
                "dagster/row_count": tables["features"]["rows"],
                "row_counts": dg.MetadataValue.json({name: t["rows"] for name, t in tables.items()}),
                "missing_tables": dg.MetadataValue.json(published.manifest["missing_tables"]),
                "champion_versions": dg.MetadataValue.json(champions),
            }
        )

    return [online_snapshot]
