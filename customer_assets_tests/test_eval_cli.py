"""`make eval`'s entry point: the table is printed and written as JSON under the home, one row per comparison."""

import json
import os
import subprocess
import sys

from customer_assets.evaluation import EvalRow, format_table


def test_eval_prints_the_table_and_writes_json(tmp_path, shared_data):
    env = {**os.environ, "CUSTOMER_ML_HOME": str(tmp_path / "home"), "CUSTOMER_ML_SHARED_DATA": str(shared_data)}
    done = subprocess.run([sys.executable, "-m", "customer_assets.evaluation", "--reduced", "--task", "ratings"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "data set" in done.stdout and "movielens" in done.stdout.lower() and "rmse" in done.stdout
    rows = json.loads((tmp_path / "home" / "eval" / "eval_ratings_reduced.json").read_text())
    assert rows and {"dataset", "task", "metric", "baseline", "model", "delta"} <= set(rows[0])
    rmse = next(r for r in rows if r["metric"] == "rmse")
    assert rmse["delta"] == rmse["baseline"] - rmse["model"] > 0  # lower is better: positive delta = better


def test_missing_data_is_a_clear_error(tmp_path):
    env = {**os.environ, "CUSTOMER_ML_HOME": str(tmp_path / "home"), "CUSTOMER_ML_SHARED_DATA": str(tmp_path / "none")}
    done = subprocess.run([sys.executable, "-m", "customer_assets.evaluation"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and "no real data" in done.stderr and "Traceback" not in done.stderr


def test_table_shows_baseline_model_and_delta():
    text = format_table([EvalRow("d", "t", "auc", "lr", 0.70, "lib", 0.75)])
    assert "lr" in text and "0.7000" in text and "0.7500" in text and "+0.0500" in text
