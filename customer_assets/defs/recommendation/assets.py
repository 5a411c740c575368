"""Product recommendations (group `recommendations`): a trained, registered recommender and the tables it serves.

- `recommendation_model` (unpartitioned) trains on the warehouse as of the latest built as-of date D (the max
  `as_of_date` of marts.customer_features). Evaluation uses a time split: purchases in the last
  CUSTOMER_ML_RECOMMEND_HOLDOUT_DAYS days up to D are held out, every model is fitted on the purchases before.
  The challenger (the configured recipe) and the current champion are compared on that same split. The
  registered champion has usually seen the held-out days (it was refit on everything up to its own as-of),
  so it is not scored as stored: its *recipe* (algorithm, parameters, weighting, recorded on the model) is refit
  on the same training part and evaluated on the same holdout. The winning recipe is then refit on all
  purchases up to D and registered as `product_recommender` with the `champion` alias, so the served model
  knows the latest history. If the champion's recipe wins, the challenger gets no alias and the run records
  why; the champion keeps serving as it is when it already knows history up to D (a rerun of the same day),
  otherwise its recipe is refit up to D and registered as a new version holding the alias ("champion kept,
  refreshed"). A challenger must also beat popularity on the holdout to be promoted. The gate check (WARN)
  passes when the serving model beats popularity on the holdout.
  The explicit rating model (`fit_rating_model`) is fitted on reviews before the cutoff and its RMSE on the
  held-out reviews, beside the global-mean baseline, is logged in the same MLflow run (it is not served).
- `product_recommendations` (daily, as-of date) -> marts.product_recommendations: top-k per customer of
  marts.customer_features for D, already-bought items excluded (checked against the warehouse, not only the
  model, and purchases the model never saw are removed before ranking), customers without history get their
  country's popular list. The last slots of every list follow the champion's exposure cap
  (CUSTOMER_ML_RECOMMEND_EXPOSURE_CAP, part of the recipe; see ml/recommend/exposure.py).
- `similar_products` (daily, as-of date) -> marts.similar_products: neighbours of every catalog product, with
  as_of_date and model_version so past days stay reproducible.
"""

import dataclasses
import datetime as dt
from dataclasses import asdict, dataclass
from pathlib import Path

import dagster as dg
import polars as pl

from customer_assets.config import SettingsError, read_section, section, setting
from customer_assets.defs.metadata import frame_metadata, markdown_table
from customer_assets.defs.model_assets import knob_config, run_knobs, scoring_asset, training_asset
from customer_assets.defs.resources import MlflowResource, WarehouseResource
from customer_assets.ml.recommend import POPULARITY, evaluate_on_holdout, interactions_from_order_items, time_split
from customer_assets.ml.recommend.plots import METRICS, plot_holdout_metrics
from customer_assets.ml.recommend.recipes import (
    Split,
    beats_popularity,
    evaluate_recipe,
    fit_recipe,
    is_popularity,
    passes_gate,
    rating_figures,
    resolved_recipe,
    weighted_interactions,
)
from customer_assets.mlops import lifecycle
from customer_assets.models import RECOMMENDATION
from customer_assets.warehouse.reads import recommendation as reads

MODEL = RECOMMENDATION
GROUP = MODEL.group
MODEL_NAME = MODEL.registry_name
MARTS = "marts"
GATE_CHECK = lifecycle.GATE_CHECK
RECOMMENDATIONS_KEY = MODEL.table_key("marts.product_recommendations")
SIMILAR_KEY = MODEL.table_key("marts.similar_products")
MIN_PRODUCTS = 2
STAGING_DEPS = [
    dg.AssetKey(["staging", t])
    for t in ("stg_orders", "stg_order_items", "stg_products", "stg_reviews", "stg_customers")
]
FEATURES = dg.AssetKey(["marts", "customer_features"])


@section("RECOMMEND")
@dataclass(frozen=True)
class Knobs:
    k: int = setting(10, "Recommendations per customer (also the k of the evaluation metrics).", low=1)
    include_seen: bool = setting(False, "true: products already bought may be recommended again.")
    holdout_days: float = setting(30.0, "Days before the as-of date held out for evaluation.", low=1)
    half_life_days: float = setting(180.0, "Recency half-life of purchase weights.", low=1)
    rating_weight: float = setting(
        0.5,
        "How strongly a review rating scales its purchase (0 = ignore ratings; "
        "below 1 so every purchase keeps a weight).",
        low=0,
        high=0.999999,
    )
    algorithm: str = setting(
        "auto",
        "auto (chosen on validation) or itemknn, ease, nmf, als (als needs the `implicit` package).",
        choices=("auto", "itemknn", "ease", "nmf", "als"),
    )
    model_params: dict = setting({}, 'JSON per algorithm, e.g. {"nmf": {"n_components": 64}}.')
    promotion_margin: float = setting(0.005, "NDCG@10 gain a challenger needs to take the `champion` alias.")
    coverage_floor: float = setting(0.2, "Catalog coverage below this raises a warning.", low=0, high=1)
    similar_k: int = setting(10, "Neighbours per product.", low=1)
    seed: int = setting(0, "Seed of samples and fits.")
    exposure_cap: str | dict | None = setting(
        "auto",
        "Spread the last slots of the daily lists over the catalog: "
        "auto (the widest setting whose validation precision@10 stays "
        "within 10 % of uncapped), off, or tail[:fair_share] such as "
        "4:1.0.",
    )


def knobs() -> Knobs:
    """CUSTOMER_ML_RECOMMEND_<KNOB> environment variables (docs/configuration.md)."""
    out = read_section(Knobs)
    return dataclasses.replace(out, exposure_cap=parse_exposure_cap(str(out.exposure_cap)))


def parse_exposure_cap(value: str) -> str | dict | None:
    """CUSTOMER_ML_RECOMMEND_EXPOSURE_CAP: off | auto | <tail slots>[:<fair share>] (e.g. 4 or 4:1.0).

    As a recipe value: None (off), "auto" (chosen on validation, see fit_recommender) or the ExposureCap's
    fields, so a champion's recipe refits with the same cap.
    """
    text = value.strip().lower()
    if text in ("off", "none", "false", "0"):
        return None
    if text == "auto":
        return "auto"
    tail, _, share = text.partition(":")
    try:
        cap = {"tail": int(tail), "fair_share": float(share) if share else 1.0}
    except ValueError:
        cap = None
    if cap is None or cap["tail"] < 1 or not cap["fair_share"] > 0:
        raise SettingsError(
            f"CUSTOMER_ML_RECOMMEND_EXPOSURE_CAP must be off, auto or <tail slots >= 1>[:<fair "
            f"share > 0>] such as 4:1.0, got {value!r}"
        )
    return cap


# --- presentation (recipes and the gate: ml/recommend/recipes.py; plots: ml/recommend/plots.py) ----------


def _comparison_table(rows: dict[str, dict], k: int) -> str:
    names = [f"{m}@{k}" for m in METRICS] + ["coverage", "n_customers"]
    frame = pl.DataFrame(
        {
            "metric": names,
            **{label: [None if m is None else round(float(m[n]), 4) for n in names] for label, m in rows.items()},
        }
    )
    return markdown_table(frame)


# --- assets ------------------------------------------------------------------------------------------------


def build_recommendation_assets(partitions_def: dg.PartitionsDefinition) -> list:

    @training_asset(
        MODEL,
        config_schema=knob_config(
            Knobs, ("k", "algorithm", "holdout_days", "half_life_days", "promotion_margin", "seed")
        ),
        deps=[FEATURES, *STAGING_DEPS],
        kinds={"mlflow", "scikit-learn", "polars"},
        description="Trains the product recommender (item-kNN / EASE / NMF chosen by validation, blended with "
        "content similarity and popularity) on completed purchases up to the latest as-of date, "
        "evaluates challenger and champion recipes on the same time split beside popularity, and "
        "registers `product_recommender` (champion alias per the promotion rule) refit on all "
        "history. The review rating model's RMSE is logged in the same MLflow run.",
        gate_description="The model that serves after the decision beats popularity on the holdout's primary "
        "metric (ndcg@k); the decision, its reason and both metric sets are in the metadata.",
    )
    def recommendation_model(context: dg.AssetExecutionContext, warehouse: WarehouseResource, mlflow: MlflowResource):
        from customer_assets.mlops import registry

        knob = run_knobs(context, knobs())
        client = warehouse.client()
        as_of = reads.latest_as_of(client)
        end = dt.datetime.combine(as_of, dt.time.max)
        cutoff = end - dt.timedelta(days=knob.holdout_days)
        lines = reads.order_lines(client, as_of)
        if lines.is_empty():
            raise dg.Failure(f"no completed order lines up to {as_of}: nothing to learn recommendations from")
        bought = lines["product_id"].n_unique()
        if bought < MIN_PRODUCTS:
            raise dg.Failure(
                f"only {bought} distinct product(s) bought up to {as_of}: recommendations need at "
                f"least {MIN_PRODUCTS} (a customer is never recommended what they bought)"
            )
        ratings = reads.ratings(client, as_of)
        customers = reads.customers(client, as_of)
        all_interactions = interactions_from_order_items(lines, as_of=end, half_life_days=knob.half_life_days)
        _, holdout = time_split(all_interactions, holdout_days=knob.holdout_days, as_of=end)
        split = Split(
            as_of,
            end,
            cutoff,
            lines,
            ratings,
            reads.products(client),
            holdout,
            customers.select("customer_id", pl.col("country").alias("group")),
        )

        base_recipe = {
            "algorithm": knob.algorithm,
            "model_params": knob.model_params,
            "new_product_weight": None,
            "half_life_days": knob.half_life_days,
            "rating_weight": knob.rating_weight,
            "seed": knob.seed,
            "exposure_cap": knob.exposure_cap,
        }
        challenger_split, challenger_eval = evaluate_recipe(base_recipe, split, knob.k)
        challenger_recipe = resolved_recipe(base_recipe, challenger_split)
        fitted_model_eval, served_note = None, "the fitted recipe is the challenger"
        if not beats_popularity(challenger_eval):
            # The plain baseline itself becomes the challenger: a model that cannot beat it never serves.
            primary = challenger_eval["primary_metric"]
            served_note = (
                f"the fitted {challenger_recipe['algorithm']} {primary} "
                f"{challenger_eval['model'][primary]:.4f} does not beat popularity "
                f"{challenger_eval['popularity'][primary]:.4f} on the holdout: popularity itself is "
                "the challenger"
            )
            context.log.warning(served_note)
            fitted_model_eval = challenger_eval
            popularity_recipe = {
                **base_recipe,
                "algorithm": POPULARITY,
                "model_params": {},
                "new_product_weight": 0.0,
                "exposure_cap": None,
            }
            challenger_split, challenger_eval = evaluate_recipe(popularity_recipe, split, knob.k)
            challenger_recipe = resolved_recipe(popularity_recipe, challenger_split)
        exposure_choice = {
            "setting": knob.exposure_cap,
            "chosen": challenger_recipe["exposure_cap"],
            "rule": challenger_split.report["exposure_rule"],
            "validation_sweep": challenger_split.report["exposure_sweep"],
        }

        champion = lifecycle.load_champion(mlflow.registry(), MODEL_NAME)
        champion_version = champion.version
        champion_recipe = champion.model.report.get("recipe") if champion.model is not None else None
        champion_note = "no champion yet" if not champion.exists else ""

        def evaluate_champion(model):
            nonlocal champion_note
            if champion_recipe == challenger_recipe:
                champion_note = f"v{champion_version}'s recipe equals the challenger's: same fit, same figures"
                return challenger_eval
            if champion_recipe:
                champion_note = f"v{champion_version}'s recipe refit on the same training part"
                return evaluate_recipe(champion_recipe, split, knob.k)[1]
            champion_note = f"v{champion_version} has no recipe: evaluated as stored (it may know the holdout)"
            return evaluate_on_holdout(model, holdout, k=knob.k, groups=split.groups)

        champion_eval, champion_error = lifecycle.evaluate_champion(champion, evaluate_champion)
        if champion_error:
            champion_note, champion_recipe = champion_error, None
            context.log.warning(f"recommendations: {champion_error}")

        primary = challenger_eval["primary_metric"]
        decision = lifecycle.decide(
            primary,
            challenger_eval["model"][primary],
            None if champion_eval is None else champion_eval["model"][primary],
            champion_exists=champion.exists,
            champion_error=champion_error,
            higher_is_better=True,
            margin=knob.promotion_margin,
        )
        if decision.promote and not passes_gate(challenger_recipe, challenger_eval):
            decision = registry.Decision(
                False,
                f"challenger {primary}={challenger_eval['model'][primary]:.4f} does not beat popularity "
                f"{challenger_eval['popularity'][primary]:.4f} on the holdout",
                decision.challenger_score,
                decision.champion_score,
            )
        challenger_wins = decision.promote
        if challenger_wins:
            serving_recipe, serving_eval = challenger_recipe, challenger_eval
        elif champion_recipe is not None:
            serving_recipe, serving_eval = champion_recipe, champion_eval
        else:
            serving_recipe, serving_eval = None, champion_eval  # no champion, or one without a recipe

        rating = rating_figures(ratings, cutoff, knob.seed)
        rows = {
            "challenger": challenger_eval["model"],
            "champion": champion_eval and champion_eval["model"],
            "popularity": challenger_eval["popularity"],
        }
        table = _comparison_table(rows, knob.k)
        plot = plot_holdout_metrics(rows, knob.k, Path(warehouse.home) / "plots" / GROUP / "holdout_metrics.png")

        shown = serving_eval or challenger_eval
        report = {
            "primary_metric": primary,
            "metrics": {**shown["model"], **({"rating_rmse": rating["rmse"]} if "rmse" in rating else {})},
            "baseline": {
                "popularity": shown["popularity"],
                **({"rating_global_mean": {"rmse": rating["global_mean_rmse"]}} if "rmse" in rating else {}),
            },
            "challenger": challenger_eval,
            "champion": champion_eval,
            "champion_note": champion_note,
            "comparison": {label: metrics for label, metrics in rows.items()},
            "challenger_promoted": challenger_wins,
            "decision": decision.reason,
            "rating_model": rating,
            "challenger_note": served_note,
            "fitted_model_holdout": fitted_model_eval,
            "exposure_choice": exposure_choice,
            "split": {
                "as_of": as_of.isoformat(),
                "cutoff": cutoff.isoformat(),
                "holdout_days": knob.holdout_days,
                "holdout_pairs": holdout.height,
            },
        }
        params = {**{f"recipe.{k}": v for k, v in (serving_recipe or challenger_recipe).items()}, **asdict(knob)}
        tags = {"as_of": as_of.isoformat(), "challenger_promoted": str(challenger_wins).lower()}
        champion_as_of = champion.model.report.get("as_of") if champion.model is not None else None
        # A kept champion is refit only when it has not seen history up to D yet: reruns of the same day
        # leave the registered champion version untouched.
        refit = challenger_wins or (champion_recipe is not None and champion_as_of != as_of.isoformat())
        serving_version = None if challenger_wins else champion_version
        if refit:
            # The served model has seen everything up to D; its figures are those of its recipe on the split.
            served = fit_recipe(
                serving_recipe, weighted_interactions(lines, ratings, end, serving_recipe), split.products, knob.k
            )
            served.report.update(
                {
                    "recipe": serving_recipe,
                    "as_of": as_of.isoformat(),
                    "holdout_evaluation": serving_eval,
                    "selection_on_inner_validation": {"metrics": served.report["metrics"], "why": served.report["why"]},
                }
            )
            report["model_report"] = served.report
            reason = (
                decision.reason
                if challenger_wins
                else (f"{decision.reason}; the champion recipe (v{champion_version}) refit on history up to {as_of}")
            )
            logged = mlflow.registry().log_and_register(
                MODEL_NAME,
                served,
                report,
                registry.Decision(True, reason, decision.challenger_score, decision.champion_score),
                params=params,
                artifacts={"holdout_metrics": plot},
                tags=tags,
            )
            run_id, serving_version = logged.run_id, logged.version
        else:
            reason = decision.reason + (
                f"; v{champion_version} already knows history up to {champion_as_of}, so it keeps serving unchanged"
                if champion_version
                else "; nothing was registered"
            )
            run_id = mlflow.registry().log_evaluation_run(
                MODEL_NAME,
                report,
                registry.Decision(False, reason, decision.challenger_score, decision.champion_score),
                params=params,
                artifacts={"holdout_metrics": plot},
                tags=tags,
            )

        gate_passed = serving_version is not None and passes_gate(serving_recipe, serving_eval)
        shown = serving_eval or challenger_eval
        if is_popularity(serving_recipe):
            vs_baseline = (
                f"serving v{serving_version} is popularity itself (the plain baseline, {primary} "
                f"{shown['popularity'][primary]:.4f} on the holdout): no fitted recipe has beaten it"
                + (f"; {served_note}" if fitted_model_eval is not None else "")
            )
        else:
            vs_baseline = (
                f"serving v{serving_version} {primary} {shown['model'][primary]:.4f} "
                f"{'beats' if gate_passed else 'does not beat'} popularity "
                f"{shown['popularity'][primary]:.4f} on the holdout"
            )
        verdict = "challenger promoted" if challenger_wins else "champion kept"
        gate = lifecycle.gate_check(
            metric=primary,
            higher_is_better=True,
            serving_version=serving_version,
            serving_score=serving_eval["model"][primary] if serving_eval else None,
            baselines={"popularity": shown["popularity"][primary]},
            decision=decision,
            passed=gate_passed,
            why=vs_baseline,
            asset_key="recommendation_model",
            decision_details={"verdict": verdict},
            extra={
                "serving_metrics": dg.MetadataValue.json(serving_eval["model"] if serving_eval else {}),
                "popularity_metrics": dg.MetadataValue.json(shown["popularity"]),
                "challenger_metrics": dg.MetadataValue.json(challenger_eval["model"]),
                "champion_metrics": dg.MetadataValue.json(champion_eval["model"] if champion_eval else {}),
            },
        )
        metadata = {
            "as_of_date": as_of.isoformat(),
            "holdout_cutoff": cutoff.isoformat(),
            "holdout_customers": challenger_eval["model"]["n_customers"],
            "interactions": all_interactions.height,
            "comparison": dg.MetadataValue.md(table),
            "decision": "challenger promoted" if challenger_wins else "champion kept",
            "decision_reason": decision.reason,
            "challenger_promoted": challenger_wins,
            "primary_metric": primary,
            "challenger_score": float(decision.challenger_score),
            "champion_score": (float(decision.champion_score) if decision.champion_score is not None else None),
            "promotion_margin": knob.promotion_margin,
            "champion_evaluation": champion_note,
            "challenger_recipe": dg.MetadataValue.json(challenger_recipe),
            "challenger_note": served_note,
            "serving_recipe": dg.MetadataValue.json(serving_recipe or {}),
            "exposure_cap_choice": dg.MetadataValue.json(exposure_choice),
            "rating_model": dg.MetadataValue.json(rating),
            "plot": dg.MetadataValue.path(str(plot)),
            "plot_preview": dg.MetadataValue.md(f"![holdout metrics]({plot.as_uri()})"),
        }
        metadata.update(
            {
                "mlflow_run_id": run_id,
                "serving_model_version": serving_version,
                "registered_new_version": refit,
                "record": reason,
            }
        )
        context.log.info(f"recommendations: {metadata['decision']}: {decision.reason}")
        yield dg.MaterializeResult(metadata=metadata, check_results=[gate])

    def _champion_or_fail(mlflow: MlflowResource):
        champion = mlflow.registry().load_champion(MODEL_NAME)
        if champion is None:
            raise dg.Failure(
                f"no `{MODEL_NAME}` champion in the MLflow registry: materialize recommendation_model first"
            )
        return champion

    def _day(context) -> dt.date:
        return dt.date.fromisoformat(context.partition_key)

    recommendation_checks = [
        dg.AssetCheckSpec(
            "every_customer_has_k_recommendations",
            asset=RECOMMENDATIONS_KEY,
            description="Each customer of marts.customer_features for the day has k rows, or as "
            "many as the catalog allows once bought items are excluded.",
        ),
        dg.AssetCheckSpec(
            "no_already_bought_items",
            asset=RECOMMENDATIONS_KEY,
            description="When seen items are excluded, no row names a product the customer bought "
            "(completed orders up to the as-of day, read from the warehouse).",
        ),
        dg.AssetCheckSpec(
            "catalog_coverage_above_floor",
            asset=RECOMMENDATIONS_KEY,
            description="Warns when the share of the catalog recommended to anyone falls below "
            "CUSTOMER_ML_RECOMMEND_COVERAGE_FLOOR.",
        ),
    ]

    @scoring_asset(
        MODEL,
        "marts.product_recommendations",
        partitions_def=partitions_def,
        config_schema=knob_config(Knobs, ("k", "include_seen", "coverage_floor")),
        deps=[recommendation_model, FEATURES, *STAGING_DEPS],
        kinds={"mlflow", "polars", "sql"},
        description="marts.product_recommendations: top-k products per customer as of the partition day "
        "(customer_id, as_of_date, rank, product_id, score, strategy, model_version) from the "
        "champion `product_recommender`; bought items excluded unless "
        "CUSTOMER_ML_RECOMMEND_INCLUDE_SEEN=true; customers without history get their country's "
        "popular list.",
        check_specs=recommendation_checks,
    )
    def product_recommendations(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, mlflow: MlflowResource
    ):
        knob = run_knobs(context, knobs())
        day = _day(context)
        client = warehouse.client()
        model, version = _champion_or_fail(mlflow)
        customers = reads.customers(client, day)
        if customers.is_empty():
            raise dg.Failure(
                f"marts.customer_features has no rows for {day}: build the dbt models for that partition first"
            )
        ids = customers["customer_id"]
        groups = customers.select("customer_id", pl.col("country").alias("group"))
        exclude = not knob.include_seen
        seen = reads.seen_pairs(client, day)
        # Every purchase in the warehouse, including those after the model was fitted, is excluded before
        # ranking, so lists stay k long and the exposure cap keeps its slots (no_already_bought_items checks it).
        recs = model.recommend(
            ids, k=knob.k, exclude_seen=exclude, groups=groups, also_exclude=seen if exclude else None
        )
        frame = recs.select(
            "customer_id",
            pl.lit(day).alias("as_of_date"),
            "rank",
            "product_id",
            "score",
            "strategy",
            pl.lit(version, dtype=pl.Int64).alias("model_version"),
        )
        replaced = client.replace_partitions(MARTS, "product_recommendations", frame, "as_of_date", day, day)

        written = client.read_table(MARTS, "product_recommendations", "as_of_date = ?", [day])
        catalog = len(model.items)
        counts = (
            customers.select("customer_id")
            .join(written.group_by("customer_id").len("n"), on="customer_id", how="left")
            .with_columns(pl.col("n").fill_null(0))
        )
        if exclude:
            bought = (
                seen.filter(pl.col("product_id").is_in(model.items.ids.implode())).group_by("customer_id").len("bought")
            )
            counts = counts.join(bought, on="customer_id", how="left").with_columns(pl.col("bought").fill_null(0))
        else:
            counts = counts.with_columns(bought=pl.lit(0))
        counts = counts.with_columns(expected=pl.min_horizontal(pl.lit(knob.k), catalog - pl.col("bought")))
        short = counts.filter(pl.col("n") != pl.col("expected"))
        violations = written.join(seen, on=["customer_id", "product_id"], how="semi") if exclude else written[:0]
        coverage = written["product_id"].n_unique() / max(catalog, 1)
        strategies = written.group_by("strategy").len().sort("strategy")
        yield dg.MaterializeResult(
            metadata={
                **frame_metadata(written),
                "as_of_date": day.isoformat(),
                "model_version": version,
                "rows_replaced": replaced,
                "customers": customers.height,
                "k": knob.k,
                "exclude_seen": exclude,
                "catalog_coverage": round(coverage, 4),
                "exposure_cap": dg.MetadataValue.json(
                    model.report.get("exposure_cap") or {"tail": 0, "note": "off: ranked by score only"}
                ),
                "strategies": dg.MetadataValue.json(dict(strategies.iter_rows())),
                "table": f"{MARTS}.product_recommendations",
            },
            check_results=[
                dg.AssetCheckResult(
                    asset_key=RECOMMENDATIONS_KEY,
                    check_name="every_customer_has_k_recommendations",
                    passed=short.is_empty(),
                    metadata={
                        "customers": customers.height,
                        "customers_short": short.height,
                        "examples": dg.MetadataValue.md(markdown_table(short.head(5))),
                    },
                ),
                dg.AssetCheckResult(
                    asset_key=RECOMMENDATIONS_KEY,
                    check_name="no_already_bought_items",
                    passed=violations.is_empty(),
                    metadata={
                        "exclude_seen": exclude,
                        "violations": violations.height,
                        "examples": dg.MetadataValue.md(markdown_table(violations.head(5))),
                    },
                ),
                dg.AssetCheckResult(
                    asset_key=RECOMMENDATIONS_KEY,
                    check_name="catalog_coverage_above_floor",
                    passed=coverage >= knob.coverage_floor,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={"coverage": round(coverage, 4), "floor": knob.coverage_floor, "catalog": catalog},
                ),
            ],
        )

    @scoring_asset(
        MODEL,
        "marts.similar_products",
        partitions_def=partitions_def,
        config_schema=knob_config(Knobs, ("similar_k",)),
        deps=[recommendation_model, dg.AssetKey(["staging", "stg_products"])],
        kinds={"mlflow", "polars", "sql"},
        description="marts.similar_products: for every catalog product its CUSTOMER_ML_RECOMMEND_SIMILAR_K "
        "neighbours (product_id, rank, similar_product_id, score; half co-purchase cosine, half "
        "content similarity, content only for products nobody bought), with as_of_date and "
        "model_version.",
        check_specs=(
            dg.AssetCheckSpec(
                "every_product_has_similar_products",
                asset=SIMILAR_KEY,
                description="Every product of staging.stg_products has at least one similar product on the day.",
            ),
        ),
    )
    def similar_products(context: dg.AssetExecutionContext, warehouse: WarehouseResource, mlflow: MlflowResource):
        knob = run_knobs(context, knobs())
        day = _day(context)
        client = warehouse.client()
        model, version = _champion_or_fail(mlflow)
        catalog = reads.products(client)["product_id"]
        neighbours = model.similar_products(catalog, k=knob.similar_k)
        frame = neighbours.select(
            "product_id",
            "rank",
            "similar_product_id",
            "score",
            pl.lit(day).alias("as_of_date"),
            pl.lit(version, dtype=pl.Int64).alias("model_version"),
        )
        replaced = client.replace_partitions(MARTS, "similar_products", frame, "as_of_date", day, day)
        missing = catalog.to_frame("product_id").join(frame, on="product_id", how="anti")
        yield dg.MaterializeResult(
            metadata={
                **frame_metadata(frame),
                "as_of_date": day.isoformat(),
                "model_version": version,
                "rows_replaced": replaced,
                "products": catalog.len(),
                "table": f"{MARTS}.similar_products",
            },
            check_results=[
                dg.AssetCheckResult(
                    asset_key=SIMILAR_KEY,
                    check_name="every_product_has_similar_products",
                    passed=missing.is_empty(),
                    metadata={
                        "products_without_neighbours": missing.height,
                        "examples": dg.MetadataValue.md(markdown_table(missing.head(5))),
                    },
                )
            ],
        )

    return [recommendation_model, product_recommendations, similar_products]
