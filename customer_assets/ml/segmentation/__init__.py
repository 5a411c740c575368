"""Customer segmentation: three algorithms compared, one chosen by rule, segments named by profile.

Pure library (Polars/NumPy in and out; no Dagster, warehouse or MLflow).

    from customer_assets.ml.segmentation import segment_customers, evaluate_on_holdout
    result = segment_customers(features, id_column="customer_id", seed=0)
    result.labels          # polars: customer_id, segment_id, segment_name
    result.report          # JSON-safe dict: comparison table, chosen algorithm, rules, transform, metrics,
                           # feature_selection (columns used and why others were skipped), repair (merges)
    result.assign(new)     # labels for unseen customers (fitted transform + chosen model)
    result.profiles()      # per segment: size, share, mean/median of each feature
    result.embedding()     # PCA 2-D for all rows, t-SNE 2-D for a sample
    result.model           # SegmentModel (transform + clusterer + naming): the object to register
    evaluate_on_holdout(model_or_result, holdout_features)  # champion/challenger figures on one holdout

Rules, each recorded in the report: columns and transform (``transform``), k choice
(``algorithms.K_SELECTION_RULE``), DBSCAN eps (k-distance knee), small-cluster repair
(``repair.REPAIR_RULE``), algorithm choice (``compare.SELECTION_RULE``), baseline
(``baseline.BASELINE_RULE``), names (``naming.NAMING_RULE``). The primary metric is silhouette on a
sample (higher is better).
"""

from .algorithms import K_SELECTION_RULE
from .baseline import BASELINE_NAME, BASELINE_RULE
from .checks import segment_share_shifts, segment_share_violations, stability_check
from .compare import SELECTION_RULE
from .evaluate import beats_baseline, evaluate_on_holdout, serve_baseline_unless_beaten
from .model import SegmentModel
from .naming import NAMING_RULE, OUTLIER_NAME, SEGMENT_NAMES
from .pipeline import segment_customers
from .plots import plot_profile_bars, plot_segment_scatter, plot_segment_sizes_over_time
from .repair import REPAIR_RULE
from .result import SegmentationResult
from .transform import DEFAULT_FEATURE_COLUMNS

__all__ = [
    "BASELINE_NAME",
    "BASELINE_RULE",
    "REPAIR_RULE",
    "DEFAULT_FEATURE_COLUMNS",
    "K_SELECTION_RULE",
    "NAMING_RULE",
    "OUTLIER_NAME",
    "SEGMENT_NAMES",
    "SELECTION_RULE",
    "SegmentModel",
    "SegmentationResult",
    "beats_baseline",
    "evaluate_on_holdout",
    "serve_baseline_unless_beaten",
    "plot_profile_bars",
    "plot_segment_scatter",
    "plot_segment_sizes_over_time",
    "segment_customers",
    "segment_share_shifts",
    "segment_share_violations",
    "stability_check",
]
