"""`make eval`: every library on every real data set in ../shared/data, each beside its plain baseline.

Each task module (sentiment, churn, ratings, segmentation, recommend, value) exposes
``evaluate(shared: Path, reduced: bool) -> list[EvalRow]``: the model and the baseline a data scientist writes
first, scored in the same harness (same folds or holdout). ``reduced`` is the small version `make test` runs so
that a regression on real data fails CI.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
from pathlib import Path

from customer_assets.config import REPO_ROOT

TASKS = ("sentiment", "churn", "ratings", "segmentation", "recommend", "value")


@dataclasses.dataclass(frozen=True)
class EvalRow:
    dataset: str
    task: str
    metric: str
    baseline_name: str
    baseline: float
    model_name: str
    model: float
    higher_is_better: bool = True
    target: str = ""  # the bar the model must clear, in words (e.g. "baseline + 0.01")
    notes: str = ""

    @property
    def delta(self) -> float:
        """How much better the model is than the baseline, in the metric's own units (positive = better)."""
        return (self.model - self.baseline) if self.higher_is_better else (self.baseline - self.model)

    def as_dict(self) -> dict:
        return {**dataclasses.asdict(self), "delta": self.delta}


def shared_data_dir() -> Path:
    """Where the real public data sets sit: beside the repo, or CUSTOMER_ML_SHARED_DATA."""
    return Path(os.environ.get("CUSTOMER_ML_SHARED_DATA", REPO_ROOT.parent / "shared" / "data")).resolve()


def evaluate(shared: Path, reduced: bool = False, tasks=TASKS) -> list[EvalRow]:
    rows: list[EvalRow] = []
    for task in tasks:
        module = importlib.import_module(f"customer_assets.evaluation.{task}")
        rows.extend(module.evaluate(shared, reduced=reduced))
    return rows


def format_table(rows: list[EvalRow]) -> str:
    header = ("data set", "task", "metric", "baseline", "", "model", "", "delta")
    body = [
        (
            r.dataset,
            r.task,
            r.metric,
            r.baseline_name,
            f"{r.baseline:.4f}",
            r.model_name,
            f"{r.model:.4f}",
            f"{r.delta:+.4f}",
        )
        for r in rows
    ]
    widths = [max(len(str(line[i])) for line in [header, *body]) for i in range(len(header))]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths)).rstrip() for line in [header, *body]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def write_json(rows: list[EvalRow], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([row.as_dict() for row in rows], indent=2))
    return path
