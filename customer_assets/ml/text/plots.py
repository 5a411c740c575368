"""Review analytics plots written as PNGs (Agg backend; pure, no Dagster): the sentiment holdout comparison and
the topic coherence by k."""

from pathlib import Path

import numpy as np
import polars as pl


def plot_comparison(rows: list[dict], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = [k for k in rows[0] if k != "metric"]
    x = np.arange(len(rows))
    width = 0.8 / max(len(models), 1)
    fig, ax = plt.subplots(figsize=(8, 4))
    for i, model in enumerate(models):
        ax.bar(x + i * width, [row[model] for row in rows], width, label=model)
    ax.set_xticks(x + width * (len(models) - 1) / 2, [row["metric"] for row in rows], rotation=20)
    ax.set_ylim(0, 1.05)
    ax.set_title("Review sentiment: challenger, champion and baseline on the same holdout rows")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_coherence(coherence: pl.DataFrame, chosen_k: int, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, left = plt.subplots(figsize=(6, 3.5))
    left.plot(coherence["k"], coherence["c_v"], marker="o", label="c_v")
    left.set_xlabel("number of topics k")
    left.set_ylabel("c_v")
    right = left.twinx()
    right.plot(coherence["k"], coherence["u_mass"], marker="s", color="tab:orange", label="u_mass")
    right.set_ylabel("u_mass")
    left.axvline(chosen_k, color="grey", linestyle="--")
    left.set_title(f"Topic coherence (chosen k = {chosen_k})")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
