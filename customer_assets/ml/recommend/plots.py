"""Recommendation plots written as PNGs (Agg backend; pure, no Dagster): holdout metrics per model."""

from pathlib import Path

import numpy as np

METRICS = ("precision", "recall", "ndcg", "map")


def plot_holdout_metrics(rows: dict[str, dict], k: int, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [f"{m}@{k}" for m in METRICS] + ["coverage"]
    present = {label: m for label, m in rows.items() if m is not None}
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(present)
    for i, (label, metrics) in enumerate(present.items()):
        ax.bar(np.arange(len(names)) + i * width, [metrics[n] for n in names], width, label=label)
    ax.set_xticks(np.arange(len(names)) + width * (len(present) - 1) / 2, names)
    ax.set_title("Recommendations on the time-split holdout")
    ax.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
