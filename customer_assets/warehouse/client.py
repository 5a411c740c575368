"""One small client for both warehouses: DuckDB (embedded file) and PostgreSQL.

Connections are opened per call and closed at once: dbt runs in its own process against the same DuckDB file,
and DuckDB allows one writer at a time. Every write is atomic: a whole table is built under a staging name and
swapped in one transaction; a partition range is deleted and re-inserted in one transaction.
Identifiers are checked against a strict pattern; values always travel as parameters.
"""

from __future__ import annotations

import contextlib
import io
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import polars as pl

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def ident(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a safe SQL identifier: {name!r}")
    return f'"{name}"'


def qualified(schema: str, table: str) -> str:
    return f"{ident(schema)}.{ident(table)}"


_PG_TYPES = {
    pl.String: "TEXT",
    pl.Int64: "BIGINT",
    pl.Int32: "INTEGER",
    pl.Int16: "SMALLINT",
    pl.Int8: "SMALLINT",
    pl.UInt32: "BIGINT",
    pl.UInt64: "NUMERIC",
    pl.UInt8: "SMALLINT",
    pl.UInt16: "INTEGER",
    pl.Float64: "DOUBLE PRECISION",
    pl.Float32: "REAL",
    pl.Boolean: "BOOLEAN",
    pl.Date: "DATE",
}


def _pg_type(dtype: pl.DataType) -> str:
    if isinstance(dtype, pl.Datetime):
        return "TIMESTAMP"
    if isinstance(dtype, (pl.List, pl.Struct, pl.Array)):
        return "JSONB"
    return _PG_TYPES.get(dtype.base_type() if hasattr(dtype, "base_type") else dtype, "TEXT")


@dataclass(frozen=True)
class Warehouse:
    """`url` None means the DuckDB file at `duckdb_path`; otherwise a postgresql:// URL."""

    duckdb_path: Path | None = None
    url: str | None = None

    @property
    def backend(self) -> str:
        return "postgres" if self.url and self.url.startswith("postgres") else "duckdb"

    # --- connections ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def connect(self, read_only: bool = False) -> Iterator:
        if self.backend == "duckdb":
            import duckdb

            self.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
            if read_only and not self.duckdb_path.exists():
                read_only = False
            con = duckdb.connect(str(self.duckdb_path), read_only=read_only)
            try:
                yield con
            finally:
                con.close()
        else:
            import psycopg2

            con = psycopg2.connect(self.psycopg2_dsn)
            try:
                yield con
                con.commit()
            except BaseException:
                con.rollback()
                raise
            finally:
                con.close()

    @property
    def psycopg2_dsn(self) -> str:
        return re.sub(r"^postgres(ql)?(\+psycopg2)?://", "postgresql://", self.url)

    # --- reads ----------------------------------------------------------------------------------------

    def query(self, sql: str, params: Sequence | None = None) -> pl.DataFrame:
        """Rows of ``sql`` as a polars frame; ``?`` placeholders on every backend (as ``scalar``)."""
        with self.connect(read_only=True) as con:
            if self.backend == "duckdb":
                return con.execute(sql, params or []).pl()
            return pl.read_database(
                sql.replace("?", "%s"),
                con,
                execute_options={"parameters": params} if params else None,
                infer_schema_length=None,
            )

    def scalar(self, sql: str, params: Sequence | None = None):
        with self.connect(read_only=True) as con:
            if self.backend == "duckdb":
                row = con.execute(sql, params or []).fetchone()
            else:
                cur = con.cursor()
                cur.execute(sql.replace("?", "%s"), params or None)
                row = cur.fetchone()
            return row[0] if row else None

    def table_exists(self, schema: str, table: str) -> bool:
        sql = "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?"
        return bool(self.scalar(sql, [schema, table]))

    def columns(self, schema: str, table: str) -> set[str]:
        """The column names of schema.table (empty when the table does not exist)."""
        sql = "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?"
        return set(self.query(sql, [schema, table])["column_name"])

    def read_table(self, schema: str, table: str, where: str = "", params: Sequence | None = None) -> pl.DataFrame:
        sql = f"SELECT * FROM {qualified(schema, table)}" + (f" WHERE {where}" if where else "")
        return self.query(sql, params)

    def row_count(self, schema: str, table: str) -> int:
        return int(self.scalar(f"SELECT count(*) FROM {qualified(schema, table)}"))

    # --- writes ---------------------------------------------------------------------------------------

    def replace_table(self, schema: str, table: str, frame: pl.DataFrame) -> None:
        """Build under a staging name, then swap in one transaction: readers never see a half table."""
        staging = f"{table}__staging_{uuid.uuid4().hex[:8]}"
        with self.connect() as con:
            self._ensure_schema(con, schema)
            try:
                self._create_from_frame(con, schema, staging, frame)
                self._begin(con)
                self._exec(con, f"DROP TABLE IF EXISTS {qualified(schema, table)}")
                self._exec(con, f"ALTER TABLE {qualified(schema, staging)} RENAME TO {ident(table)}")
                self._commit(con)
            except BaseException:
                self._rollback(con)
                self._exec(con, f"DROP TABLE IF EXISTS {qualified(schema, staging)}")
                self._commit(con)
                raise
            self._analyze(con, schema, [table])

    def replace_tables(self, schema: str, frames: dict[str, pl.DataFrame]) -> None:
        """Publish several tables as one set: all are built under staging names, then swapped in one transaction.

        A failure or a kill while staging leaves every table of the previous set in place, so readers never
        see raw.customers from a new source beside raw.orders from the old one.
        """
        suffix = uuid.uuid4().hex[:8]
        staged = {table: f"{table}__staging_{suffix}" for table in frames}
        with self.connect() as con:
            self._ensure_schema(con, schema)
            self._drop_leftover_staging(con, schema, list(frames))
            try:
                for table, frame in frames.items():
                    self._create_from_frame(con, schema, staged[table], frame)
                self._begin(con)
                for table, staging in staged.items():
                    self._exec(con, f"DROP TABLE IF EXISTS {qualified(schema, table)}")
                    self._exec(con, f"ALTER TABLE {qualified(schema, staging)} RENAME TO {ident(table)}")
                self._commit(con)
            except BaseException:
                self._rollback(con)
                for staging in staged.values():
                    self._exec(con, f"DROP TABLE IF EXISTS {qualified(schema, staging)}")
                self._commit(con)
                raise
            self._analyze(con, schema, list(frames))

    def _drop_leftover_staging(self, con, schema: str, tables: list[str]) -> None:
        """Staging copies of these tables left by a killed load (a kill skips the cleanup in replace_tables)."""
        leftover = re.compile(rf"({'|'.join(re.escape(t) for t in tables)})__staging_[0-9a-f]{{8}}")
        sql = f"SELECT table_name FROM information_schema.tables WHERE table_schema = {self._p}"
        if self.backend == "duckdb":
            names = [row[0] for row in con.execute(sql, [schema]).fetchall()]
        else:
            cur = con.cursor()
            cur.execute(sql, [schema])
            names = [row[0] for row in cur.fetchall()]
        for name in filter(leftover.fullmatch, names):
            self._exec(con, f"DROP TABLE IF EXISTS {qualified(schema, name)}")
        self._commit(con)

    def _analyze(self, con, schema: str, tables: list[str]) -> None:
        """PostgreSQL plans from statistics: a freshly loaded table without them is guessed at a handful of
        rows, and the staging models' joins then ran as nested loops (a 3,000-customer run took 35 minutes)."""
        if self.backend != "postgres":
            return
        for table in tables:
            self._exec(con, f"ANALYZE {qualified(schema, table)}")
        self._commit(con)

    def replace_partitions(self, schema: str, table: str, frame: pl.DataFrame, column: str, start, end) -> int:
        """Delete the rows whose `column` lies in [start, end] and insert `frame`, in one transaction."""
        staging = f"{table}__load_{uuid.uuid4().hex[:8]}"
        with self.connect() as con:
            self._ensure_schema(con, schema)
            self._create_from_frame(con, schema, staging, frame)
            try:
                self._begin(con)
                if not self._exists(con, schema, table):
                    self._exec(
                        con,
                        f"CREATE TABLE {qualified(schema, table)} AS "
                        f"SELECT * FROM {qualified(schema, staging)} WHERE 1 = 0",
                    )
                deleted = self._exec(
                    con,
                    f"DELETE FROM {qualified(schema, table)} WHERE {ident(column)} BETWEEN {self._p} AND {self._p}",
                    [start, end],
                )
                self._exec(con, f"INSERT INTO {qualified(schema, table)} SELECT * FROM {qualified(schema, staging)}")
                self._exec(con, f"DROP TABLE {qualified(schema, staging)}")
                self._commit(con)
                return deleted
            except BaseException:
                self._rollback(con)
                self._exec(con, f"DROP TABLE IF EXISTS {qualified(schema, staging)}")
                self._commit(con)
                raise

    def execute(self, sql: str, params: Sequence | None = None) -> None:
        with self.connect() as con:
            self._exec(con, sql, params)
            self._commit(con)

    # --- backend details ------------------------------------------------------------------------------

    @property
    def _p(self) -> str:
        return "?" if self.backend == "duckdb" else "%s"

    def _exec(self, con, sql: str, params: Sequence | None = None) -> int:
        if self.backend == "duckdb":
            result = con.execute(sql, params or [])
            try:
                row = result.fetchone()
                return int(row[0]) if row and sql.lstrip().upper().startswith("DELETE") else 0
            except Exception:
                return 0
        cur = con.cursor()
        cur.execute(sql, params or None)
        return cur.rowcount

    def _begin(self, con) -> None:
        if self.backend == "duckdb":
            con.execute("BEGIN TRANSACTION")

    def _commit(self, con) -> None:
        if self.backend == "duckdb":
            with contextlib.suppress(Exception):
                con.execute("COMMIT")
        else:
            con.commit()

    def _rollback(self, con) -> None:
        if self.backend == "duckdb":
            with contextlib.suppress(Exception):
                con.execute("ROLLBACK")
        else:
            con.rollback()

    def _exists(self, con, schema: str, table: str) -> bool:
        sql = (
            f"SELECT count(*) FROM information_schema.tables WHERE table_schema = {self._p} AND table_name = {self._p}"
        )
        if self.backend == "duckdb":
            return bool(con.execute(sql, [schema, table]).fetchone()[0])
        cur = con.cursor()
        cur.execute(sql, [schema, table])
        return bool(cur.fetchone()[0])

    def _ensure_schema(self, con, schema: str) -> None:
        self._exec(con, f"CREATE SCHEMA IF NOT EXISTS {ident(schema)}")
        self._commit(con)

    def _create_from_frame(self, con, schema: str, table: str, frame: pl.DataFrame) -> None:
        target = qualified(schema, table)
        if self.backend == "duckdb":
            arrow = frame.to_arrow()  # noqa: F841 - referenced by name in the SQL below
            con.execute(f"CREATE OR REPLACE TABLE {target} AS SELECT * FROM arrow")
            return
        nested = [name for name, dtype in frame.schema.items() if isinstance(dtype, (pl.List, pl.Struct, pl.Array))]
        if nested:
            frame = frame.with_columns([_json_text(n) for n in nested])
        columns = ", ".join(
            f"{ident(name)} {_pg_type(dtype) if name not in nested else 'JSONB'}"
            for name, dtype in frame.schema.items()
        )
        cur = con.cursor()
        cur.execute(f"DROP TABLE IF EXISTS {target}")
        cur.execute(f"CREATE TABLE {target} ({columns})")
        buffer = io.BytesIO()
        frame.write_csv(buffer, null_value="\\N", datetime_format="%Y-%m-%d %H:%M:%S%.f")
        buffer.seek(0)
        cur.copy_expert(f"COPY {target} FROM STDIN WITH (FORMAT csv, HEADER true, NULL '\\N')", buffer)
        con.commit()


def _json_text(column: str) -> pl.Expr:
    """A nested column as JSON text: encode {"v": value} and keep only the value part."""
    encoded = pl.struct(pl.col(column).alias("v")).struct.json_encode()
    return encoded.str.slice(5, encoded.str.len_chars() - 6).alias(column)
