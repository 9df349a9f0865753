"""`python -m warehouse ingest | rebuild | migrate | export | sql "SELECT …" | schema-doc` — see --help."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import polars as pl

from warehouse import console, docs, read
from warehouse import ingest as ingest_mod
from warehouse.migrate import WarehouseTooNew
from warehouse.paths import home

_USER_ERRORS = (read.WarehouseMissing, read.WarehouseOutdated, ingest_mod.IngestBusy, WarehouseTooNew)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m warehouse",
        description="Thermoscope's DuckDB warehouse. Jobs write Parquet shards under "
        "$THERMOSCOPE_HOME/shards; these commands load, rebuild, query and export them. "
        "Tables and columns: warehouse/SCHEMA.md.",
    )
    parser.add_argument("--home", help="Thermoscope home (default: $THERMOSCOPE_HOME or ./thermoscope-home)")
    sub = parser.add_subparsers(dest="command", required=True)
    ing = sub.add_parser("ingest", help="load new and re-written shards, then publish warehouse.duckdb (idempotent)")
    ing.add_argument("--wait", type=float, default=60.0, metavar="S",
                     help="seconds to wait for another running ingest (0: exit at once; default 60)")
    ing.add_argument("--batch", type=int, default=2000, help="shards per transaction (default 2000)")
    reb = sub.add_parser("rebuild", help="rebuild the DuckDB file from the shards alone")
    reb.add_argument("--wait", type=float, default=60.0, metavar="S", help="seconds to wait for a running ingest")
    mig = sub.add_parser("migrate", help="upgrade a warehouse made by older code to this code's schema")
    mig.add_argument("--wait", type=float, default=60.0, metavar="S", help="seconds to wait for a running ingest")
    exp = sub.add_parser("export", help="write tables and views to Parquet files")
    exp.add_argument("--out", default=None, help="folder to write to (default: $THERMOSCOPE_HOME/export)")
    exp.add_argument("tables", nargs="*", help="tables/views to export (default: all)")
    sql = sub.add_parser("sql", help="run a SQL query against the warehouse (read-only)")
    sql.add_argument("query", help='e.g. "SELECT arch, temperature, count(*) FROM runs GROUP BY ALL"')
    sql.add_argument("--format", choices=["table", "csv", "json", "parquet"], default="table")
    sql.add_argument("--out", help="file to write for csv/json/parquet (default: standard output; parquet needs it)")
    sql.add_argument("--safe", action="store_true",
                     help="the dashboard console's sandbox: one SELECT, no file/network access, row cap, time limit")
    sql.add_argument("--row-cap", type=int, default=10_000, help="--safe: most rows returned (default 10000)")
    sql.add_argument("--timeout", type=float, default=10.0, help="--safe: seconds before the query is stopped")
    doc = sub.add_parser("schema-doc", help="write warehouse/SCHEMA.md from warehouse/schema.py")
    doc.add_argument("--check", action="store_true", help="exit 1 if SCHEMA.md is out of date instead of writing")
    return parser


def _export(where, out_arg: str | None, only: list[str]) -> str:
    out = Path(out_arg) if out_arg else where.root / "export"
    out.mkdir(parents=True, exist_ok=True)
    con = read.connect(where)
    try:
        names = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_name NOT LIKE '\\_%' ESCAPE '\\' "
            "ORDER BY table_name"
        ).fetchall()]
        unknown = sorted(set(only) - set(names))
        if unknown:
            raise SystemExit(f"warehouse: no table {unknown[0]!r}; choose from {', '.join(names)}")
        for name in only or names:
            con.sql(f'SELECT * EXCLUDE (_shard) FROM "{name}"' if _has_shard(con, name) else f'SELECT * FROM "{name}"'
                    ).write_parquet(str(out / f"{name}.parquet"))
    finally:
        con.close()
    return f"wrote {len(only or names)} table(s) to {out}"


def _has_shard(con, name: str) -> bool:
    return bool(con.execute("SELECT 1 FROM information_schema.columns WHERE table_name = ? AND column_name = '_shard'",
                            [name]).fetchall())


def _flat(frame: pl.DataFrame) -> pl.DataFrame:
    """CSV holds no lists or structs: write them as '[a, b]' / JSON text instead of failing."""
    exprs = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.List | pl.Array):
            inner = pl.col(name).cast(pl.List(dtype.inner)).list.eval(pl.element().cast(pl.String)).list.join(", ")
            exprs.append(pl.format("[{}]", inner).alias(name))
        elif isinstance(dtype, pl.Struct):
            exprs.append(pl.col(name).struct.json_encode().alias(name))
    return frame.with_columns(exprs) if exprs else frame


def _emit(frame: pl.DataFrame, fmt: str, out: str | None) -> None:
    if fmt == "table":
        with pl.Config(tbl_rows=200, tbl_cols=30, fmt_str_lengths=60):
            print(frame)
    elif fmt == "parquet":
        if not out:
            raise SystemExit("warehouse: --format parquet needs --out FILE.parquet")
        frame.write_parquet(out)
    else:
        text = _flat(frame).write_csv() if fmt == "csv" else frame.write_json()
        if out:
            Path(out).write_text(text)
        else:
            sys.stdout.write(text + ("" if text.endswith("\n") else "\n"))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    where = home(args.home)
    try:
        if args.command == "ingest":
            print(ingest_mod.ingest(where, batch_size=args.batch, lock_wait_s=args.wait))
        elif args.command == "rebuild":
            print(ingest_mod.rebuild(where, lock_wait_s=args.wait))
        elif args.command == "migrate":
            report = ingest_mod.migrate_home(where, lock_wait_s=args.wait)
            print(report if report.migrated else "the warehouse is already at this code's schema version")
        elif args.command == "export":
            print(_export(where, args.out, args.tables))
        elif args.command == "schema-doc":
            if args.check:
                if docs.SCHEMA_MD.read_text() != docs.render():
                    print("warehouse: SCHEMA.md is out of date; run `python -m warehouse schema-doc`", file=sys.stderr)
                    return 1
                print("SCHEMA.md is current")
            else:
                print(f"wrote {docs.write()}")
        elif args.command == "sql":
            if args.safe:
                answer = console.answer(args.query, row_cap=args.row_cap, timeout_s=args.timeout, where=where)
                if answer.refusal is not None:
                    print(f"warehouse: {answer.refusal}", file=sys.stderr)
                    return 2
                frame = answer.frame
                if answer.truncated:
                    print(f"warehouse: showing the first {args.row_cap} rows only (--row-cap)", file=sys.stderr)
            else:
                frame = read.query(args.query, where=where)
            _emit(frame, args.format, args.out)
    except _USER_ERRORS as exc:
        print(f"warehouse: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # one line for the user; the rows already written stay where they are
        print(f"warehouse: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
