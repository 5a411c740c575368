"""PNG-ready figures (Agg canvas, no pyplot state): segment scatter, profile bars, sizes over time.

Each function returns a matplotlib Figure and, when ``path`` is given, also writes it there as PNG.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .naming import OUTLIER_NAME, SEGMENT_NAMES

SEGMENT_COLOURS = {
    "Inactive": "#9e9e9e",
    "Low Value": "#90caf9",
    "Medium Value": "#42a5f5",
    "High Value": "#1565c0",
    "Premium": "#ff8f00",
    OUTLIER_NAME: "#d32f2f",
}


def _new_figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: str | Path | None) -> Figure:
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, format="png")
    return figure


def _segment_order(names: list[str]) -> list[str]:
    known = [n for n in (*SEGMENT_NAMES, OUTLIER_NAME) if n in names]
    return known + sorted(n for n in names if n not in known)


def plot_segment_scatter(
    embedding: pl.DataFrame,
    path: str | Path | None = None,
    x: str = "pca_x",
    y: str = "pca_y",
    max_points: int = 20_000,
    seed: int = 0,
) -> Figure:
    """Scatter of the 2-D embedding coloured by segment name (a random subset of at most max_points)."""
    frame = embedding.drop_nulls([x, y])
    if frame.height == 0:
        raise ValueError(f"embedding has no rows with both {x!r} and {y!r}")
    shares = dict(frame.group_by("segment_name").agg(pl.len() / frame.height).iter_rows())
    if frame.height > max_points:
        frame = frame.sample(max_points, seed=seed)
    figure = _new_figure(7, 6)
    axes = figure.add_subplot()
    for name in _segment_order(frame.get_column("segment_name").unique().to_list()):
        part = frame.filter(pl.col("segment_name") == name)
        axes.scatter(
            part[x], part[y], s=4, alpha=0.5, label=f"{name} ({shares[name]:.1%})", color=SEGMENT_COLOURS.get(name)
        )
    axes.set_xlabel(x)
    axes.set_ylabel(y)
    axes.set_title(f"Customer segments ({x.split('_')[0].upper()})")
    axes.legend(markerscale=3, fontsize=8)
    return _save(figure, path)


def plot_profile_bars(
    profiles: pl.DataFrame, path: str | Path | None = None, statistic: str = "median", columns: list[str] | None = None
) -> Figure:
    """One panel per feature: the segment's median (or mean) in original units, segments side by side."""
    prefix = f"{statistic}_"
    features = columns or [c[len(prefix) :] for c in profiles.columns if c.startswith(prefix)]
    if not features:
        raise ValueError(f"profiles have no {prefix}* columns")
    ordered = profiles.sort("segment_id")
    names = ordered.get_column("segment_name").to_list()
    labels = [f"{n}\n#{s}" for n, s in zip(names, ordered.get_column("segment_id").to_list())]
    n_cols = min(3, len(features))
    n_rows = math.ceil(len(features) / n_cols)
    figure = _new_figure(4.2 * n_cols, 3.2 * n_rows)
    for i, feature in enumerate(features):
        axes = figure.add_subplot(n_rows, n_cols, i + 1)
        values = ordered.get_column(f"{prefix}{feature}").cast(pl.Float64).fill_null(np.nan).to_numpy()
        axes.bar(range(len(values)), values, color=[SEGMENT_COLOURS.get(n, "#607d8b") for n in names])
        axes.set_xticks(range(len(values)), labels, fontsize=7, rotation=30)
        axes.set_title(f"{statistic} {feature}", fontsize=9)
    figure.suptitle("Segment profiles")
    return _save(figure, path)


def plot_segment_sizes_over_time(
    history: pl.DataFrame,
    path: str | Path | None = None,
    date_column: str = "as_of_date",
    segment_column: str = "segment_name",
    count_column: str | None = None,
) -> Figure:
    """Share of customers per segment at each as-of date.

    ``history`` is either one row per (date, segment) with ``count_column`` holding the customer count,
    or one row per customer and date (counted here when ``count_column`` is None).
    """
    missing = [c for c in (date_column, segment_column, count_column) if c and c not in history.columns]
    if missing:
        raise ValueError(f"history has no column(s) {missing}")
    counts = (
        history.group_by(date_column, segment_column)
        .agg((pl.col(count_column).sum() if count_column else pl.len()).alias("customers"))
        .with_columns((pl.col("customers") / pl.col("customers").sum().over(date_column)).alias("share"))
        .sort(date_column)
    )
    if counts.height == 0:
        raise ValueError("history is empty")
    figure = _new_figure(8, 4.5)
    axes = figure.add_subplot()
    for name in _segment_order(counts.get_column(segment_column).unique().to_list()):
        part = counts.filter(pl.col(segment_column) == name)
        axes.plot(
            part[date_column].to_list(),
            part["share"].to_list(),
            marker="o",
            label=name,
            color=SEGMENT_COLOURS.get(name),
        )
    axes.set_ylabel("share of customers")
    axes.set_title("Segment sizes over time")
    axes.legend(fontsize=8)
    figure.autofmt_xdate()
    return _save(figure, path)
