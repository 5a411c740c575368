"""Holdout plots of a value model (PNG, Agg backend): predicted vs actual purchases by calibration frequency,
and the P(alive) calibration. Both take the dict ``evaluate_holdout`` returns."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _save(figure, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return path


def plot_by_frequency(evaluation: dict, folder: Path) -> Path:
    table = evaluation["by_frequency"]
    figure, axis = plt.subplots(figsize=(6.5, 4))
    labels = table["repeat_purchases"].to_list()
    for column, style in (("actual", "k-o"), ("model", "C0-s"), ("naive", "C1--^")):
        axis.plot(labels, table[column].to_list(), style, label=column)
    axis.set_xlabel("repeat purchases in the calibration period")
    axis.set_ylabel(f"mean purchases in the {evaluation['horizon_days']}-day holdout")
    axis.set_title("Predicted vs actual holdout purchases by frequency")
    axis.legend()
    axis.grid(alpha=0.3)
    return _save(figure, folder, "value_by_frequency.png")


def plot_p_alive_calibration(evaluation: dict, folder: Path) -> Path:
    table = evaluation["p_alive_calibration"]
    figure, axis = plt.subplots(figsize=(5.5, 4.5))
    axis.plot([0, 1], [0, 1], ":", color="grey", label="perfect")
    axis.plot(
        table["predicted_share_ordering"].to_list(),
        table["observed_share_ordering"].to_list(),
        "C0-o",
        label="P(order in holdout), by P(alive) bin",
    )
    axis.plot(
        table["mean_p_alive"].to_list(),
        table["observed_share_ordering"].to_list(),
        "C2--s",
        alpha=0.7,
        label="P(alive) itself (an upper bound)",
    )
    axis.set_xlabel("predicted")
    axis.set_ylabel("observed share who ordered in the holdout")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1)
    axis.set_title("P(alive) calibration")
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    return _save(figure, folder, "value_p_alive_calibration.png")


def write_plots(evaluation: dict, folder: Path) -> dict[str, Path]:
    return {
        "by_frequency": plot_by_frequency(evaluation, Path(folder)),
        "p_alive_calibration": plot_p_alive_calibration(evaluation, Path(folder)),
    }
