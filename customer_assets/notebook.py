"""`make notebook`: execute notebooks/walkthrough.ipynb in place with nbclient, outputs saved.

    python -m customer_assets.notebook [--reduced] [--out PATH] [--timeout SECONDS]

The kernel is this interpreter (the project's venv): a kernel spec pointing at ``sys.executable`` is written to a
temporary folder put first on JUPYTER_PATH, so no global kernel is registered and a global ``python3`` kernel of
another Python is never picked up. ``--reduced`` sets CUSTOMER_ML_NOTEBOOK_REDUCED=1 for the kernel (subsampled
data, cheapest settings); the data folder is CUSTOMER_ML_SHARED_DATA (default ../shared/data beside the repo).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from customer_assets.config import REPO_ROOT

NOTEBOOK = REPO_ROOT / "notebooks" / "walkthrough.ipynb"
KERNEL_NAME = "customer-ml-venv"


def execute(path: Path = NOTEBOOK, out: Path | None = None, reduced: bool = False, timeout: int = 1800):
    """Run every cell of ``path`` top to bottom and write the executed notebook to ``out`` (default: in place).
    Raises nbclient's CellExecutionError on the first failing cell (the partial notebook is still written)."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    saved_env = {k: os.environ.get(k) for k in ("JUPYTER_PATH", "CUSTOMER_ML_NOTEBOOK_REDUCED")}
    with tempfile.TemporaryDirectory(prefix="customer-ml-kernel-") as folder:
        spec = Path(folder) / "kernels" / KERNEL_NAME
        spec.mkdir(parents=True)
        (spec / "kernel.json").write_text(
            json.dumps(
                {
                    "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                    "display_name": "Python 3 (customer-ml venv)",
                    "language": "python",
                }
            )
        )
        os.environ["JUPYTER_PATH"] = os.pathsep.join(p for p in (folder, saved_env["JUPYTER_PATH"]) if p)
        if reduced:
            os.environ["CUSTOMER_ML_NOTEBOOK_REDUCED"] = "1"
        client = NotebookClient(
            notebook, timeout=timeout, kernel_name=KERNEL_NAME, resources={"metadata": {"path": str(path.parent)}}
        )
        try:
            client.execute()
        finally:
            for key, value in saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            # keep the committed file's kernel metadata generic (GitHub renders "python3")
            notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
            nbformat.write(notebook, out or path)
    return notebook


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="customer_assets.notebook", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--path", type=Path, default=NOTEBOOK)
    parser.add_argument(
        "--out", type=Path, default=None, help="where to write the executed notebook (default: in place)"
    )
    parser.add_argument("--reduced", action="store_true", help="subsampled data, cheapest settings")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    execute(args.path, args.out, args.reduced, args.timeout)
    target = args.out or args.path
    print(
        f"executed {args.path} in {time.perf_counter() - started:.0f} s -> {target} "
        f"({target.stat().st_size / 1e6:.2f} MB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
