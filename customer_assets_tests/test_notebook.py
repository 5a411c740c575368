"""notebooks/walkthrough.ipynb executes top to bottom on reduced real data, every model beside its baseline.

Runs the notebook's own cells through the same runner as `make notebook` (nbclient, the venv's kernel), with
CUSTOMER_ML_NOTEBOOK_REDUCED=1, into a temporary copy (the committed file and its outputs stay untouched).
About 40 s on two cores. Skipped when the public data sets are absent.
"""

import nbformat
import pytest

from customer_assets.evaluation import shared_data_dir
from customer_assets.notebook import NOTEBOOK, execute

TASKS = ("segmentation", "churn", "recommend", "sentiment", "value")


def _outputs(cell):
    return cell.get("outputs", []) if cell.cell_type == "code" else []


def _text(cell) -> str:
    parts = []
    for output in _outputs(cell):
        if output.output_type == "stream":
            parts.append(output.text)
        parts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def _tagged(notebook, tag):
    cells = [c for c in notebook.cells if tag in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"expected one cell tagged {tag!r}"
    return cells[0]


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    shared = shared_data_dir()
    if not shared.is_dir():
        pytest.skip(f"public data sets not found at {shared} (set CUSTOMER_ML_SHARED_DATA; they sit beside the "
                    "repo in CI only)")
    out = tmp_path_factory.mktemp("notebook") / "walkthrough.ipynb"
    execute(NOTEBOOK, out=out, reduced=True, timeout=600)  # raises CellExecutionError on a failing cell
    return nbformat.read(out, as_version=4)


def test_every_cell_ran_without_error(executed):
    code_cells = [c for c in executed.cells if c.cell_type == "code"]
    assert code_cells and all(c.execution_count is not None for c in code_cells), "a cell was not executed"
    errors = [o for c in code_cells for o in _outputs(c) if o.output_type == "error"]
    assert not errors, [f"{e.ename}: {e.evalue}" for e in errors]


def test_first_cell_reads_the_data_path_and_reduced_switch(executed):
    text = _text(_tagged(executed, "config"))
    assert f"data: {shared_data_dir()}" in text
    assert "mode: REDUCED" in text


def test_every_task_is_compared_with_its_baseline(executed):
    text = _text(_tagged(executed, "summary"))
    assert "tasks: " + ", ".join(TASKS) in text, text
    # the summary line is "<n> comparisons, model better in <m>; ...": at least two per task
    count = int(text.split(" comparisons")[0].split()[-1])
    assert count >= 2 * len(TASKS), text


def test_plots_are_embedded_as_png(executed):
    pngs = [o for c in executed.cells for o in _outputs(c) if "image/png" in o.get("data", {})]
    # segment scatter, profile bars, churn calibration, aspects, value by frequency, P(alive) calibration
    assert len(pngs) >= 6, len(pngs)
    sources = "\n".join(c.source for c in executed.cells if c.cell_type == "code")
    for call in ("plot_segment_scatter", "plot_calibration", "plot_by_frequency", "fit_topics", "extract_aspects",
                 "churn_model.explain", "recommender.recommend"):
        assert call in sources, call


def test_committed_notebook_has_outputs_and_stays_small():
    committed = nbformat.read(NOTEBOOK, as_version=4)
    code_cells = [c for c in committed.cells if c.cell_type == "code"]
    assert all(_outputs(c) for c in code_cells), "the committed notebook must be executed (`make notebook`)"
    assert not any(o.output_type == "error" for c in code_cells for o in _outputs(c))
    assert NOTEBOOK.stat().st_size < 1_500_000
