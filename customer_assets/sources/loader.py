"""Reading a source (synthetic or a folder of files) into validated canonical tables."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from customer_assets.sources import contract as c
from customer_assets.sources.synthetic import SyntheticSpec, generate


@dataclass
class SourceTables:
    tables: dict[str, pl.DataFrame]
    notes: list[str] = field(default_factory=list)
    dropped_orphans: dict[str, int] = field(default_factory=dict)


SUFFIXES = (".parquet", ".csv", ".csv.gz")
# Polars renames a repeated header name to "<name>_duplicated_<n>" instead of failing.
DUPLICATED_HEADER = re.compile(r"^(?P<name>.+)_duplicated_\d+$")


def find_file(folder: Path, table: str) -> Path | None:
    for suffix in SUFFIXES:
        candidate = folder / f"{table}{suffix}"
        if candidate.exists():
            return candidate
    return None


def read_file(path: Path) -> pl.DataFrame:
    if path.name.endswith(".parquet"):
        return pl.read_parquet(path)
    # Everything as text first, so that a value which does not parse can be reported with its row.
    return pl.read_csv(path, infer_schema=False, try_parse_dates=False)


def read_checked(table: str, path: Path) -> tuple[pl.DataFrame | None, list[c.Violation]]:
    """The file's frame, or the reason it cannot be read in words that name the file (no Polars exception)."""

    def problem(text: str) -> tuple[None, list[c.Violation]]:
        return None, [c.Violation(table, str(path), None, text)]

    if not path.is_file():
        return problem("is not a regular file (a directory?): expected a csv or parquet file")
    if path.stat().st_size == 0:
        return problem("the file is empty (no header, no data rows)")
    try:
        frame = read_file(path)
    except (pl.exceptions.PolarsError, OSError) as error:
        if "utf-8" in str(error).lower():
            return problem("is not valid UTF-8 text: save it as UTF-8 (Excel: 'CSV UTF-8')")
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return problem(f"cannot be read: {reason}")
    repeated = sorted(
        {m["name"] for col in frame.columns if (m := DUPLICATED_HEADER.match(col)) and m["name"] in frame.columns}
    )
    if repeated:
        return problem(f"the header repeats column(s) {', '.join(repeated)}: each column name must appear once")
    return frame, []


def unknown_table_files(folder: Path) -> list[str]:
    """Data files in the folder whose name is not a contract table: named in a note, never silently skipped."""
    known = {f"{name}{suffix}" for name in c.TABLE_ORDER for suffix in SUFFIXES}
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(SUFFIXES) and p.name not in known)


def load_folder(folder: Path, orphan_tolerance: float = 0.01) -> SourceTables:
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"CUSTOMER_ML_SOURCE folder does not exist: {folder}")
    raw, files, notes, unreadable = {}, {}, [], []
    for name in c.TABLE_ORDER:
        path = find_file(folder, name)
        if path is None:
            continue
        files[name] = str(path)
        frame, problems = read_checked(name, path)
        unreadable += problems
        if frame is not None:
            raw[name] = frame
    for required in ("orders", "order_items"):
        if required not in files:
            unreadable.append(
                c.Violation(
                    required, str(folder / f"{required}.csv"), None, "required file is missing (csv or parquet)"
                )
            )
    if unreadable:
        raise c.ContractError(unreadable)
    for unknown in unknown_table_files(folder):
        notes.append(f"ignored {folder / unknown}: not a known table ({', '.join(c.TABLE_ORDER)})")
    return validate(raw, files, orphan_tolerance, notes)


def load_synthetic(customers: int, seed: int, end_date) -> SourceTables:
    tables = generate(SyntheticSpec(customers=customers, seed=seed, end_date=end_date))
    files = {name: f"synthetic:{name}" for name in tables}
    return validate(tables, files, 0.0, [f"synthetic data: {customers} customers, seed {seed}, ends {end_date}"])


def validate(raw: dict[str, pl.DataFrame], files: dict[str, str], tolerance: float, notes: list[str]) -> SourceTables:
    violations: list[c.Violation] = []
    typed: dict[str, pl.DataFrame] = {}
    for name, frame in raw.items():
        contract = c.CONTRACTS[name]
        cast, problems = c.coerce_table(contract, frame, files[name])
        violations += problems
        if not problems:
            violations += c.check_values(contract, cast, files[name])
            typed[name] = cast
    if violations:
        raise c.ContractError(violations)
    _derive_missing_dimensions(typed, notes)
    for name in ("reviews", "events"):
        if name not in typed:
            notes.append(f"optional table '{name}' not provided: its downstream tables will be empty")
            typed[name] = _empty(c.CONTRACTS[name])
    typed, fk_violations, dropped = c.check_foreign_keys(typed, files, tolerance)
    if fk_violations:
        raise c.ContractError(fk_violations)
    for key, count in dropped.items():
        notes.append(f"dropped {count} orphan row(s) in {key} (below the tolerance)")
    if "status" not in typed["orders"].columns:
        typed["orders"] = typed["orders"].with_columns(status=pl.lit("completed"))
        notes.append("orders have no status column: every order counts as completed")
    typed["orders"] = typed["orders"].with_columns(pl.col("status").fill_null("completed"))
    return SourceTables(tables=typed, notes=notes, dropped_orphans=dropped)


def _empty(contract: c.TableContract) -> pl.DataFrame:
    return pl.DataFrame(schema={col.name: col.dtype for col in contract.columns})


def _derive_missing_dimensions(tables: dict[str, pl.DataFrame], notes: list[str]) -> None:
    if "customers" not in tables:
        tables["customers"] = (
            tables["orders"]
            .group_by("customer_id")
            .agg(signup_date=pl.col("order_ts").min().dt.date())
            .with_columns(country=pl.lit(None, dtype=pl.String))
        )
        notes.append("no customers file: customers derived from orders (signup = first order)")
    if "products" not in tables:
        tables["products"] = (
            tables["order_items"]
            .group_by("product_id")
            .agg(price=pl.col("unit_price").median())
            .with_columns(
                name=pl.col("product_id"),
                category=pl.lit(None, dtype=pl.String),
                description=pl.lit(None, dtype=pl.String),
            )
        )
        notes.append("no products file: products derived from order items (price = median unit price)")
    for name in ("customers", "products"):
        for col in c.CONTRACTS[name].columns:
            if col.name not in tables[name].columns:
                tables[name] = tables[name].with_columns(pl.lit(None, dtype=col.dtype).alias(col.name))
