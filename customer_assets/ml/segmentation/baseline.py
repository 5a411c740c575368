"""The baseline a clustering model has to beat: one feature cut into equal-frequency groups.

Column (``BASELINE_RULE``): ``monetary`` when present, else the first other value column present
(clv_to_date, frequency, avg_order_value), else the column with the largest variance in the transformed
(robust-scaled) space among those with at least as many distinct values as groups. The edges are the
fit-row quantiles of that column, learnt once and applied to any later rows, like the model. The
transform is monotone per column, so the split equals a quantile split of the raw column. Tied values
stay together, so a column with few distinct values can give fewer groups than asked
(``n_groups_realised``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .naming import VALUE_COLUMNS

BASELINE_NAME = "value_quantile_baseline"
BASELINE_RULE = (
    "equal-frequency split of one transformed feature into as many groups as the model has segments: "
    "monetary if present, else clv_to_date/frequency/avg_order_value, else the highest-variance column "
    "(transformed space) with enough distinct values; edges = fit-row quantiles"
)


@dataclass
class QuantileBaseline:
    column: str
    position: int
    edges: np.ndarray
    n_groups: int

    @property
    def n_groups_realised(self) -> int:
        return int(len(self.edges) + 1)

    # The clusterer interface (`SegmentModel.clusterer`), so the baseline itself can serve.
    @property
    def algorithm(self) -> str:
        return BASELINE_NAME

    @property
    def n_clusters(self) -> int:
        return self.n_groups_realised

    @property
    def params(self) -> dict:
        return {"column": self.column, "n_groups": int(self.n_groups)}

    def predict(self, points: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.edges, points[:, self.position], side="right").astype(np.int64)

    def describe(self) -> dict:
        return {
            "rule": BASELINE_RULE,
            "column": self.column,
            "n_groups": int(self.n_groups),
            "n_groups_realised": self.n_groups_realised,
            "edges_transformed": [float(e) for e in self.edges],
        }


def baseline_column(points: np.ndarray, columns: list[str], n_groups: int) -> int:
    for name in ("monetary", *[c for c in VALUE_COLUMNS if c != "monetary"]):
        if name in columns:
            return columns.index(name)
    distinct = np.array([len(np.unique(points[:, j])) for j in range(points.shape[1])])
    variance = np.where(distinct >= n_groups, points.var(axis=0), -np.inf)
    if not np.isfinite(variance).any():
        variance = points.var(axis=0)
    return int(np.argmax(variance))


def fit_quantile_baseline(points: np.ndarray, columns: list[str], n_groups: int) -> QuantileBaseline:
    n_groups = max(2, int(n_groups))
    position = baseline_column(points, columns, n_groups)
    values = points[:, position]
    edges = np.unique(np.quantile(values, np.linspace(0, 1, n_groups + 1)[1:-1]))
    # An edge at the minimum would leave its lower group empty (side="right" puts the minimum above it).
    edges = edges[edges > values.min()]
    return QuantileBaseline(columns[position], position, edges, n_groups)
