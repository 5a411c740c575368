"""python -m customer_assets.evaluation [--reduced] [--task NAME ...]: print the real-data table, write JSON."""

import argparse
import sys
import time
from pathlib import Path

from customer_assets.config import load_settings
from customer_assets.evaluation import TASKS, evaluate, format_table, shared_data_dir, write_json


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="customer_assets.evaluation", description=__doc__)
    parser.add_argument("--shared", type=Path, default=shared_data_dir())
    parser.add_argument("--reduced", action="store_true", help="the small version make test runs")
    parser.add_argument("--task", action="append", choices=TASKS, help="one task (repeatable); default all")
    args = parser.parse_args(argv)
    if not args.shared.is_dir():
        print(
            f"error: no real data at {args.shared}; set CUSTOMER_ML_SHARED_DATA to the folder of the public "
            "data sets (see README, 'Real-data evaluation')",
            file=sys.stderr,
        )
        return 2
    started = time.perf_counter()
    rows = evaluate(args.shared, reduced=args.reduced, tasks=tuple(args.task or TASKS))
    print(format_table(rows))
    name = "eval" + ("_" + "_".join(args.task) if args.task else "") + ("_reduced" if args.reduced else "")
    path = write_json(rows, load_settings().home / "eval" / f"{name}.json")
    print(f"\n{len(rows)} rows in {time.perf_counter() - started:.0f} s; written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
