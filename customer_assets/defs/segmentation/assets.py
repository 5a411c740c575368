"""Segmentation assets: train and register the segmentation model, then segment customers as of each day.

- `segmentation_model` (unpartitioned): fits `segment_customers` on marts.customer_features (the as-of date
  just built) minus a fixed holdout of customers (md5 of customer_id, so the same customers are held out at
  every training and neither champion nor challenger ever saw them), scores the new model and the current
  champion on that holdout, registers the new one in MLflow and moves the `champion` alias per the rule in
  `promotion_decision`. Warning gate check: the serving model beats its baseline on the holdout.
- `marts.customer_segments`, `marts.segment_profiles`, `marts.customer_embedding` (daily partitions, key =
  as-of date): the champion's segments, per-segment profiles and 2-D coordinates as of that day.

The ML lives in `customer_assets.ml.segmentation`; this module reads, decides, writes and reports.
"""

import dataclasses
import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import polars as pl

from customer_assets.config import SettingsError, read_section, section, setting
from customer_assets.defs.metadata import frame_metadata, markdown_table, plot_metadata, plots_dir
from customer_assets.defs.model_assets import knob_config, run_knobs, scoring_asset, training_asset
from customer_assets.defs.resources import MlflowResource, WarehouseResource
from customer_assets.ml.segmentation import (
    BASELINE_NAME,
    DEFAULT_FEATURE_COLUMNS,
    NAMING_RULE,
    SELECTION_RULE,
    beats_baseline,
    evaluate_on_holdout,
    plot_profile_bars,
    plot_segment_scatter,
    plot_segment_sizes_over_time,
    segment_customers,
    segment_share_shifts,
    segment_share_violations,
    serve_baseline_unless_beaten,
)
from customer_assets.ml.segmentation.embedding import embedding_frame
from customer_assets.ml.segmentation.feature_columns import usable_feature_columns
from customer_assets.ml.segmentation.profiles import segment_profiles
from customer_assets.ml.segmentation.promotion import MIN_STABILITY, PROMOTION_RULE, primary_score, promotion_decision
from customer_assets.ml.segmentation.report_tables import comparison_frame, holdout_frame, rounded
from customer_assets.mlops import lifecycle, registry
from customer_assets.models import SEGMENTATION
from customer_assets.warehouse.reads.segmentation import (
    previous_segments,
    read_features,
    read_segments,
    segment_history,
)

MODEL = SEGMENTATION
GROUP = MODEL.group
MODEL_NAME = MODEL.registry_name
MARTS = "marts"
FEATURES_KEY = dg.AssetKey([MARTS, "customer_features"])
SEGMENTS_KEY = MODEL.table_key("marts.customer_segments")
PROFILES_KEY = MODEL.table_key("marts.segment_profiles")
EMBEDDING_KEY = MODEL.table_key("marts.customer_embedding")
ID = "customer_id"

GATE_CHECK = lifecycle.GATE_CHECK
STABILITY_CHECK = "stability_ari_at_least_0_8"
SHARE_CHECK = "every_segment_at_least_min_share"
SHIFT_CHECK = "segment_share_shift_vs_previous_partition"

SEGMENT_COLUMNS = ("customer_id", "as_of_date", "segment_id", "segment_name", "algorithm", "model_version")
EMBEDDING_COLUMNS = ("customer_id", "as_of_date", "segment_name", "pca_x", "pca_y", "tsne_x", "tsne_y")


# --- knobs ----------------------------------------------------------------------------------------------


@section("SEGMENTATION")
@dataclass(frozen=True)
class SegmentationKnobs:
    seed: int = setting(0, "Seed for samples, fits and t-SNE.")
    k_min: int = setting(3, "Smallest k tried by K-Means and Ward.", low=2)
    k_max: int = setting(8, "Largest k tried by K-Means and Ward.", low=2)
    feature_columns: tuple[str, ...] | None = setting(
        None,
        "Comma list of feature columns (unset: the RFM / value / engagement columns).",
        env="CUSTOMER_ML_SEGMENTATION_FEATURES",
    )
    quadratic_sample_size: int = setting(
        10_000,
        "Sample DBSCAN and Ward are fitted on (the rest is assigned).",
        env="CUSTOMER_ML_SEGMENTATION_SAMPLE_SIZE",
        low=10,
    )
    kmeans_selection_size: int = setting(50_000, "Sample on which K-Means chooses k.", low=10)
    silhouette_sample_size: int = setting(5_000, "Rows per silhouette.", low=10)
    stability_resamples: int = setting(5, "Bootstrap refits for the stability figure.", low=1)
    stability_sample_size: int = setting(5_000, "Rows per stability refit.", low=10)
    holdout_percent: int = setting(
        10, "Share of customers (by id hash) held out for champion / challenger.", low=1, high=50
    )
    promotion_margin: float = setting(0.01, "Silhouette gain a challenger needs to take the `champion` alias.")
    min_segment_share: float = setting(
        0.02, "Smallest allowed segment (selection rule, repair at training, WARN check).", low=0, high=0.5
    )
    max_share_shift: float = setting(
        0.05,
        "Segment share move between partitions that raises the WARN check.",
        env="CUSTOMER_ML_SEGMENT_MAX_SHARE_SHIFT",
        low=0,
        high=1,
    )
    tsne_sample_size: int = setting(2_000, "Customers given t-SNE coordinates.", low=0)

    def __post_init__(self):
        if self.k_min > self.k_max:
            raise SettingsError(f"need CUSTOMER_ML_SEGMENTATION_K_MIN <= _K_MAX, got {self.k_min} > {self.k_max}")


def segmentation_knobs() -> SegmentationKnobs:
    """Every tunable of the segmentation assets, from CUSTOMER_ML_SEGMENTATION_* (docs/configuration.md)."""
    knobs = read_section(SegmentationKnobs)
    return dataclasses.replace(knobs, feature_columns=knobs.feature_columns or None)


TRAINING_RUN_KNOBS = ("k_min", "k_max", "seed", "promotion_margin", "stability_resamples", "holdout_percent")


# --- checks (the decision is pure: customer_assets/ml/segmentation/promotion.py) -----------------------


def segment_share_check(
    labels: pl.DataFrame, min_share: float, asset_key: dg.AssetKey = SEGMENTS_KEY
) -> dg.AssetCheckResult:
    """Passes when every segment (DBSCAN outliers excepted) holds at least `min_share` of the rows given."""
    violations = segment_share_violations(labels, min_share)
    shares = (
        labels.group_by("segment_id", "segment_name")
        .agg(pl.len().alias("size"))
        .with_columns((pl.col("size") / labels.height).round(4).alias("share"))
        .sort("segment_id")
    )
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=SHARE_CHECK,
        passed=not violations,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"every segment holds >= {min_share:.1%} of customers"
        if not violations
        else f"{len(violations)} segment(s) below {min_share:.1%} of customers",
        metadata={
            "min_share": min_share,
            "violations": dg.MetadataValue.json(violations),
            "shares": dg.MetadataValue.md(markdown_table(shares)),
        },
    )


def share_shift_check(
    previous: pl.DataFrame | None, current: pl.DataFrame, max_shift: float, asset_key: dg.AssetKey = SEGMENTS_KEY
) -> dg.AssetCheckResult:
    """WARN when a segment's share moved by more than `max_shift` since the previous partition."""
    if previous is None:
        return dg.AssetCheckResult(
            asset_key=asset_key,
            check_name=SHIFT_CHECK,
            passed=True,
            severity=dg.AssetCheckSeverity.WARN,
            description="no earlier partition to compare with",
            metadata={"max_shift": max_shift},
        )
    shifts = segment_share_shifts(previous, current, max_shift)
    previous_date = previous["as_of_date"][0] if "as_of_date" in previous.columns else None
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=SHIFT_CHECK,
        passed=not shifts,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"no segment share moved by more than {max_shift:.1%} since {previous_date}"
            if not shifts
            else f"{len(shifts)} segment share(s) moved by more than {max_shift:.1%} since {previous_date}"
        ),
        metadata={
            "max_shift": max_shift,
            "previous_as_of_date": str(previous_date),
            "shifts": dg.MetadataValue.json(
                [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()} for row in shifts]
            ),
        },
    )


# --- presentation ---------------------------------------------------------------------------------------


def _json_metrics(evaluation: dict | None) -> dict | None:
    return None if evaluation is None else registry.jsonable(evaluation)


# --- assets ---------------------------------------------------------------------------------------------


def build_segmentation_assets(partitions_def: dg.PartitionsDefinition) -> list:
    @training_asset(
        MODEL,
        config_schema=knob_config(SegmentationKnobs, TRAINING_RUN_KNOBS),
        deps=[FEATURES_KEY],
        kinds={"mlflow", "scikitlearn", "polars"},
        description="Customer segmentation model: K-Means, DBSCAN and Ward compared on marts.customer_features "
        "(latest as-of date), one chosen by the library's selection rule, named by profile; "
        "registered in MLflow as `customer_segmentation` (transform + clusterer) and promoted to "
        "`champion` only if it wins on a fixed customer holdout (see PROMOTION_RULE).",
        check_specs=(
            dg.AssetCheckSpec(
                STABILITY_CHECK,
                asset="segmentation_model",
                description="The serving model's bootstrap stability (mean adjusted Rand index "
                "between refits on resamples) is at least 0.8.",
            ),
        ),
        gate_description="The model that serves after the promotion decision beats its "
        "value-quantile baseline (silhouette) on the held-out customers.",
    )
    def segmentation_model(context: dg.AssetExecutionContext, warehouse: WarehouseResource, mlflow: MlflowResource):
        knobs = run_knobs(context, segmentation_knobs())
        features = read_features(warehouse.client())
        as_of = features["as_of_date"][0]
        is_holdout = pl.col("holdout_bucket") < knobs.holdout_percent
        train = features.filter(~is_holdout).drop("holdout_bucket")
        holdout = features.filter(is_holdout).drop("holdout_bucket")
        if holdout.height < 20:
            raise dg.Failure(
                description=f"only {holdout.height} held-out customers ({knobs.holdout_percent}% of "
                f"{features.height}): too few to compare models; raise "
                "CUSTOMER_ML_SEGMENTATION_HOLDOUT_PERCENT or load more customers"
            )

        columns, constant_columns = usable_feature_columns(train, knobs.feature_columns)
        if constant_columns:
            context.log.warning(
                f"feature columns with a single value are left out of clustering: "
                f"{constant_columns} (e.g. no web events in the source)"
            )
        result = segment_customers(
            train,
            id_column=ID,
            seed=knobs.seed,
            feature_columns=columns,
            k_range=(knobs.k_min, knobs.k_max),
            sample_size=knobs.quadratic_sample_size,
            kmeans_selection_size=knobs.kmeans_selection_size,
            silhouette_sample_size=knobs.silhouette_sample_size,
            n_resamples=knobs.stability_resamples,
            stability_sample_size=knobs.stability_sample_size,
            holdout_fraction=0.0,
            min_segment_share=knobs.min_segment_share,
            min_stability=MIN_STABILITY,
        )
        report = result.report
        evaluate = lambda model: evaluate_on_holdout(model, holdout, knobs.silhouette_sample_size, knobs.seed)  # noqa: E731
        # The challenger is the clustering, or the quantile baseline itself when the clustering does not beat it.
        challenger_model, challenger_eval, served_reason = serve_baseline_unless_beaten(
            result.model, evaluate(result.model), train, holdout, knobs.silhouette_sample_size, knobs.seed
        )
        context.log.info(served_reason)
        champion = lifecycle.load_champion(mlflow.registry(), MODEL_NAME)
        champion_eval, champion_error = lifecycle.evaluate_champion(champion, evaluate)
        challenger_stability = (
            report["baseline"].get("stability_ari")
            if challenger_model.is_baseline
            else report["metrics"].get("stability_ari")
        )
        decision = promotion_decision(
            challenger_eval, champion_eval, challenger_stability, knobs.promotion_margin, champion_error
        )
        context.log.info(decision.reason)

        folder = plots_dir(warehouse.home, GROUP)
        stamp = f"{as_of}_{dt.datetime.now():%Y%m%dT%H%M%S}"
        scatter = folder / f"model_{stamp}_scatter.png"
        bars = folder / f"model_{stamp}_profiles.png"
        plot_segment_scatter(result.embedding(tsne_sample_size=0, seed=knobs.seed), scatter, seed=knobs.seed)
        plot_profile_bars(result.profiles(), bars)

        comparison = comparison_frame(report)
        champion_version_before = champion.version
        holdout_table = holdout_frame(challenger_eval, champion_eval, champion_version_before)
        mlflow_report = {
            **report,
            # Logged as MLflow metrics: the training figures and the holdout figures of both models.
            "metrics": {
                **report["metrics"],
                "holdout": challenger_eval["metrics"],
                # the served model's (the baseline's own when it serves); the clustering's stays below
                "stability_ari": challenger_stability,
                "clustering_stability_ari": report["metrics"].get("stability_ari"),
                **({"champion_holdout": champion_eval["metrics"]} if champion_eval else {}),
            },
            "baseline": {**report["baseline"], "holdout": challenger_eval["baseline"]},
            "holdout": {
                "rule": PROMOTION_RULE,
                "challenger": _json_metrics(challenger_eval),
                "champion": _json_metrics(champion_eval),
                "champion_version": champion_version_before,
                "promotion_margin": knobs.promotion_margin,
            },
            "decision": {"promote": decision.promote, "reason": decision.reason},
            "served": {"algorithm": challenger_model.algorithm, "reason": served_reason},
        }
        with tempfile.TemporaryDirectory() as tmp:
            comparison_md = Path(tmp) / "comparison.md"
            comparison_md.write_text(markdown_table(comparison) + "\n\n" + markdown_table(holdout_table) + "\n")
            logged = mlflow.registry().log_and_register(
                MODEL_NAME,
                challenger_model,
                mlflow_report,
                decision,
                params={
                    "as_of_date": as_of,
                    "chosen_algorithm": report["chosen_algorithm"],
                    "n_clusters": report["metrics"]["n_clusters"],
                    "k_range": report["k_range"],
                    "feature_columns": ",".join(report["feature_columns"]),
                    "transform": report["transform"]["method"],
                    "seed": knobs.seed,
                    "train_rows": train.height,
                    "holdout_rows": holdout.height,
                    "holdout_percent": knobs.holdout_percent,
                    "promotion_margin": knobs.promotion_margin,
                    "selection_fallback": report["selection_fallback"],
                },
                artifacts={"scatter": scatter, "profiles": bars, "comparison": comparison_md},
                tags={"as_of_date": str(as_of), "chosen_algorithm": report["chosen_algorithm"]},
            )

        serving_eval = challenger_eval if logged.promoted else champion_eval
        serving_version = logged.version if logged.promoted else champion_version_before
        serving_stability = (
            challenger_stability
            if logged.promoted
            else mlflow.registry().version_metrics(MODEL_NAME, serving_version).get("stability_ari")
        )
        gate_passed = serving_eval is not None and beats_baseline(serving_eval)
        decision_metadata = {
            "promoted": logged.promoted,
            "reason": decision.reason,
            "challenger_version": logged.version,
            "serving_version": serving_version,
            "challenger_score": decision.challenger_score,
            "champion_score": decision.champion_score,
            "primary_metric": challenger_eval["primary_metric"],
            "margin": knobs.promotion_margin,
        }
        vs_baseline = "no model holds the champion alias"
        if serving_eval is not None and serving_eval["algorithm"] == BASELINE_NAME:
            vs_baseline = (
                f"serving v{serving_version} is the single-feature quantile baseline itself "
                f"({serving_eval['primary_metric']} {rounded(primary_score(serving_eval))} on the "
                f"holdout): no clustering has beaten it" + (f"; {served_reason}" if logged.promoted else "")
            )
        elif serving_eval is not None:
            metric = serving_eval["primary_metric"]
            vs_baseline = (
                f"serving v{serving_version} ({serving_eval.get('algorithm')}) {metric} "
                f"{rounded(primary_score(serving_eval))} {'beats' if gate_passed else 'does not beat'} "
                f"the single-feature quantile baseline {rounded(serving_eval['baseline'].get(metric))} "
                "on the holdout"
            )
        serving_metric = challenger_eval["primary_metric"]
        gate = lifecycle.gate_check(
            metric=serving_metric,
            higher_is_better=challenger_eval["primary_metric_higher_is_better"],
            serving_version=serving_version if serving_eval is not None else None,
            serving_score=primary_score(serving_eval),
            baselines={BASELINE_NAME: None if serving_eval is None else serving_eval["baseline"].get(serving_metric)},
            decision=decision,
            passed=gate_passed,
            why=vs_baseline,
            decision_details=decision_metadata,
            extra={
                "serving": dg.MetadataValue.json(_json_metrics(serving_eval)),
                "challenger": dg.MetadataValue.json(_json_metrics(challenger_eval)),
                "champion_before": dg.MetadataValue.json(_json_metrics(champion_eval)),
                "holdout_comparison": dg.MetadataValue.md(markdown_table(holdout_table)),
            },
        )
        stable = serving_stability is not None and serving_stability >= MIN_STABILITY
        stability = dg.AssetCheckResult(
            check_name=STABILITY_CHECK,
            passed=stable,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"serving model v{serving_version} stability ARI {serving_stability} "
            f"{'>=' if stable else '<'} {MIN_STABILITY}",
            metadata={
                "stability_ari": serving_stability,
                "min_ari": MIN_STABILITY,
                "serving_version": serving_version,
                "challenger_stability_ari": challenger_stability,
            },
        )
        yield dg.MaterializeResult(
            metadata={
                "as_of_date": str(as_of),
                "train_rows": train.height,
                "holdout_rows": holdout.height,
                "chosen_algorithm": report["chosen_algorithm"],
                "challenger_serves": challenger_model.algorithm,
                "served_reason": served_reason,
                "n_clusters": report["metrics"]["n_clusters"],
                "selection_fallback": report["selection_fallback"],
                "comparison": dg.MetadataValue.md(markdown_table(comparison)),
                "holdout_comparison": dg.MetadataValue.md(markdown_table(holdout_table)),
                "decision": dg.MetadataValue.json(registry.jsonable(decision_metadata)),
                "promoted": logged.promoted,
                "mlflow_run_id": logged.run_id,
                "model_version": logged.version,
                "champion_version": serving_version,
                "segments": dg.MetadataValue.json(report["segments"]),
                "transform": dg.MetadataValue.json(report["transform"]),
                "selection_rule": SELECTION_RULE,
                "naming_rule": NAMING_RULE,
                "promotion_rule": PROMOTION_RULE,
                **plot_metadata("scatter", scatter),
                **plot_metadata("profiles", bars),
            },
            check_results=[gate, stability],
        )

    def champion_or_fail(mlflow: MlflowResource) -> tuple:
        champion = mlflow.registry().load_champion(MODEL_NAME)
        if champion is None:
            raise dg.Failure(
                description=f"no `{MODEL_NAME}` model holds the champion alias: materialize segmentation_model first"
            )
        return champion

    @scoring_asset(
        MODEL,
        "marts.customer_segments",
        partitions_def=partitions_def,
        config_schema=knob_config(SegmentationKnobs, ("min_segment_share", "max_share_shift")),
        deps=[FEATURES_KEY, segmentation_model],
        kinds={"mlflow", "polars", "sql"},
        description="One row per customer and as-of date: the champion segmentation model's segment "
        "(customer_id, as_of_date, segment_id, segment_name, algorithm, model_version). Partition = "
        "as-of date; a backfill builds segment history.",
        check_specs=(
            dg.AssetCheckSpec(
                SHARE_CHECK,
                asset=SEGMENTS_KEY,
                description="Warns when a segment (DBSCAN outliers excepted) holds less than "
                "CUSTOMER_ML_SEGMENTATION_MIN_SEGMENT_SHARE (2%) of the partition's "
                "customers. Training repairs small segments; a day whose new "
                "customers leave one small is still written, and reported.",
            ),
            dg.AssetCheckSpec(
                SHIFT_CHECK,
                asset=SEGMENTS_KEY,
                description="Warns when a segment's share moved by more than "
                "CUSTOMER_ML_SEGMENT_MAX_SHARE_SHIFT (0.05) since the previous "
                "partition in the table.",
            ),
        ),
    )
    def customer_segments(context: dg.AssetExecutionContext, warehouse: WarehouseResource, mlflow: MlflowResource):
        knobs = run_knobs(context, segmentation_knobs())
        as_of = dt.date.fromisoformat(context.partition_key)
        client = warehouse.client()
        features = read_features(client, as_of)
        model, version = champion_or_fail(mlflow)
        labels = model.assign(features, ID)
        frame = labels.with_columns(
            as_of_date=pl.lit(as_of, dtype=pl.Date),
            algorithm=pl.lit(model.algorithm),
            model_version=pl.lit(version, dtype=pl.Int64),
        ).select(SEGMENT_COLUMNS)
        share = segment_share_check(frame, knobs.min_segment_share)
        if not share.passed:  # a quality verdict, not broken data: written and reported, never a lost day
            context.log.warning(f"marts.customer_segments {as_of}: {share.description}")
        shift = share_shift_check(previous_segments(client, as_of), frame, knobs.max_share_shift)
        replaced = client.replace_partitions(MARTS, "customer_segments", frame, "as_of_date", as_of, as_of)

        history_plot = plots_dir(warehouse.home, GROUP) / f"segment_sizes_over_time_{as_of}.png"
        history = segment_history(client)
        plot_segment_sizes_over_time(history, history_plot, count_column="customers")
        run_id = mlflow.registry().log_plots_run(
            MODEL_NAME,
            f"segments {as_of}",
            {"sizes_over_time": history_plot},
            tags={"as_of_date": str(as_of), "model_version": str(version)},
        )
        shares = frame.group_by("segment_name").agg(pl.len().alias("customers")).sort("segment_name")
        yield dg.MaterializeResult(
            metadata={
                **frame_metadata(frame),
                "table": f"{MARTS}.customer_segments",
                "as_of_date": str(as_of),
                "rows_replaced": replaced,
                "model_version": version,
                "algorithm": model.algorithm,
                "segment_sizes": dg.MetadataValue.md(markdown_table(shares)),
                "history_dates": history["as_of_date"].n_unique(),
                "mlflow_plots_run_id": run_id,
                **plot_metadata("sizes_over_time", history_plot),
            },
            check_results=[share, shift],
        )

    @scoring_asset(
        MODEL,
        "marts.segment_profiles",
        partitions_def=partitions_def,
        deps=[FEATURES_KEY, customer_segments],
        kinds={"polars", "sql"},
        description="Per segment and as-of date: size, share and the mean and median of the key RFM, value and "
        "engagement features (original units), from marts.customer_segments and "
        "marts.customer_features of the same day.",
    )
    def segment_profiles_table(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        as_of = dt.date.fromisoformat(context.partition_key)
        client = warehouse.client()
        features = read_features(client, as_of)
        labels = read_segments(client, as_of).select(ID, "segment_id", "segment_name")
        key_features = [c for c in DEFAULT_FEATURE_COLUMNS if c in features.columns]
        profiles = segment_profiles(features, labels, key_features, ID)
        frame = profiles.select(pl.lit(as_of, dtype=pl.Date).alias("as_of_date"), pl.all()).with_columns(
            pl.col("size").cast(pl.Int64)
        )
        replaced = client.replace_partitions(MARTS, "segment_profiles", frame, "as_of_date", as_of, as_of)
        bars = plots_dir(warehouse.home, GROUP) / f"segment_profiles_{as_of}.png"
        plot_profile_bars(profiles, bars)
        return dg.MaterializeResult(
            metadata={
                **frame_metadata(frame, preview_rows=10),
                "table": f"{MARTS}.segment_profiles",
                "as_of_date": str(as_of),
                "rows_replaced": replaced,
                **plot_metadata("profiles", bars),
            }
        )

    @scoring_asset(
        MODEL,
        "marts.customer_embedding",
        partitions_def=partitions_def,
        config_schema=knob_config(SegmentationKnobs, ("tsne_sample_size", "seed")),
        deps=[FEATURES_KEY, customer_segments],
        kinds={"scikitlearn", "polars", "sql"},
        description="2-D coordinates for plotting, per customer and as-of date: PCA of the champion's transformed "
        "features for every customer, t-SNE for a seeded sample (CUSTOMER_ML_SEGMENTATION_TSNE_SAMPLE_"
        "SIZE; null elsewhere), with the customer's segment name.",
    )
    def customer_embedding(context: dg.AssetExecutionContext, warehouse: WarehouseResource, mlflow: MlflowResource):
        knobs = run_knobs(context, segmentation_knobs())
        as_of = dt.date.fromisoformat(context.partition_key)
        client = warehouse.client()
        labelled = read_features(client, as_of).join(
            read_segments(client, as_of).select(ID, "segment_id", "segment_name", "model_version"), on=ID
        )
        model, version = champion_or_fail(mlflow)
        table_versions = labelled["model_version"].unique().to_list()
        if table_versions != [version]:
            context.log.warning(
                f"segments of {as_of} were written by model version(s) {table_versions}; "
                f"coordinates use the current champion v{version}'s transform"
            )
        embedded, info = embedding_frame(
            labelled[ID],
            model.transform.transform(labelled),
            labelled["segment_id"].to_numpy(),
            labelled["segment_name"].to_numpy(),
            tsne_sample_size=knobs.tsne_sample_size,
            seed=knobs.seed,
        )
        frame = embedded.with_columns(as_of_date=pl.lit(as_of, dtype=pl.Date)).select(EMBEDDING_COLUMNS)
        replaced = client.replace_partitions(MARTS, "customer_embedding", frame, "as_of_date", as_of, as_of)
        folder = plots_dir(warehouse.home, GROUP)
        pca_plot, tsne_plot = folder / f"scatter_pca_{as_of}.png", folder / f"scatter_tsne_{as_of}.png"
        plot_segment_scatter(frame, pca_plot, seed=knobs.seed)
        plots = plot_metadata("scatter_pca", pca_plot)
        if info["tsne_rows"]:
            plot_segment_scatter(frame, tsne_plot, x="tsne_x", y="tsne_y", seed=knobs.seed)
            plots.update(plot_metadata("scatter_tsne", tsne_plot))
        return dg.MaterializeResult(
            metadata={
                **frame_metadata(frame),
                "table": f"{MARTS}.customer_embedding",
                "as_of_date": str(as_of),
                "rows_replaced": replaced,
                "model_version": version,
                "tsne_rows": info["tsne_rows"],
                "pca_explained_variance_ratio": dg.MetadataValue.json(info["pca_explained_variance_ratio"]),
                **plots,
            }
        )

    return [segmentation_model, customer_segments, segment_profiles_table, customer_embedding]
