"""`python -m warehouse ingest | rebuild | migrate | export | sql "SELECT …" | schema-doc` — see --help.

`sql` runs one read-only statement (SELECT, EXPLAIN and the SELECT-like DESCRIBE / SHOW / SUMMARIZE) on a
read-only connection: COPY, EXPORT, ATTACH, INSTALL/LOAD, SET, PRAGMA, CALL, DDL and DML are refused by
their statement type before anything runs (EXPLAIN's inner statement too: EXPLAIN ANALYZE runs it), so it
writes nothing but what --out asks for. Unlike `--safe`
it may read files (read_parquet of your own exports) and has no row, byte, memory or time limit.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import polars as pl

from warehouse import console, csv_out, docs, read, sandbox
from warehouse import ingest as ingest_mod
from warehouse.migrate import WarehouseTooNew
from warehouse.paths import home

_USER_ERRORS = (read.WarehouseMissing, read.WarehouseOutdated, ingest_mod.IngestBusy, WarehouseTooNew)


class _Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line (what was wrong, what to do) instead of usage + error."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"warehouse: {message}; see `{self.prog} --help`\n")


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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
    sql = sub.add_parser("sql", help="run one read-only query against the warehouse (SELECT, EXPLAIN, DESCRIBE, "
                         "SHOW, SUMMARIZE; statements that write or change settings are refused)")
    sql.add_argument("query", nargs="?", help='e.g. "SELECT arch, temperature, count(*) FROM runs GROUP BY ALL"; '
                     "- reads it from standard input")
    sql.add_argument("-f", "--file", help="read the query from FILE (- = standard input), e.g. one too long for the "
                     "command line")
    sql.add_argument("--format", choices=["table", "csv", "json", "parquet"], default="table",
                     help="csv: text cells starting with = + - @ get a leading ' (spreadsheets show, not run, them)")
    sql.add_argument("--out", help="file to write for csv/json/parquet (default: standard output; parquet needs it)")
    sql.add_argument("--safe", action="store_true",
                     help="the dashboard console's sandbox: one SELECT, no file/network access, a private "
                     "temporary folder, row, byte and spill caps, memory and time limits, THERMOSCOPE_SQL_SLOTS "
                     "queries at once")
    sql.add_argument("--row-cap", type=_at_least_one, default=console.ROW_CAP,
                     help=f"--safe: most rows returned (default {console.ROW_CAP})")
    sql.add_argument("--byte-cap-mb", type=_at_least_one, default=console.BYTE_CAP // 2**20,
                     help=f"--safe: largest result in MB, refused beyond (default {console.BYTE_CAP // 2**20})")
    sql.add_argument("--timeout", type=_seconds, default=console.TIMEOUT_S,
                     help=f"--safe: seconds for the whole answer before it is stopped (default {console.TIMEOUT_S:g})")
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


def _emit(frame: pl.DataFrame, fmt: str, out: str | None) -> None:
    if fmt == "table":
        with pl.Config(tbl_rows=200, tbl_cols=30, fmt_str_lengths=60):
            print(frame)
    elif fmt == "parquet":
        if not out:
            raise SystemExit("warehouse: --format parquet needs --out FILE.parquet")
        frame.write_parquet(out)
    else:
        text = csv_out.csv_text(frame) if fmt == "csv" else frame.write_json()
        if out:
            Path(out).write_text(text)
        else:
            sys.stdout.write(text + ("" if text.endswith("\n") else "\n"))


class QueryInput(ValueError):
    """The query could not be read: no query, two queries, a missing or unreadable file."""


def _query_text(args: argparse.Namespace) -> str:
    """The query from the argument, `-` (standard input) or --file FILE."""
    if (args.query is None) == (args.file is None):
        raise QueryInput("give the query as one argument, as - (standard input) or with --file FILE, not "
                         + ("none" if args.query is None else "both"))
    source = args.file if args.file is not None else args.query
    if args.file is None and source != "-":
        return source
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else (exc.strerror or str(exc))
        raise QueryInput(f"cannot read the query from {source!r} ({reason}); give a readable UTF-8 .sql file") from None
    if not text.strip():
        raise QueryInput(f"the query from {'standard input' if source == '-' else repr(source)} is empty")
    return text


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    where = home(args.home)
    try:
        if args.command in ("ingest", "rebuild"):
            report = (ingest_mod.ingest(where, batch_size=args.batch, lock_wait_s=args.wait) if args.command == "ingest"
                      else ingest_mod.rebuild(where, lock_wait_s=args.wait))
            print(report)
            if report.warning():  # the same line from both: an unreadable shard's rows are in neither
                print(f"warehouse: {report.warning()}", file=sys.stderr)
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
            text = _query_text(args)
            if args.safe:
                answer = console.answer(text, row_cap=args.row_cap, timeout_s=args.timeout,
                                        byte_cap=args.byte_cap_mb * 2**20, where=where)
                if answer.refusal is not None:
                    print(f"warehouse: {answer.refusal}", file=sys.stderr)
                    return 2
                frame = answer.frame
                if answer.truncated:
                    print(f"warehouse: showing the first {args.row_cap} rows only (--row-cap)", file=sys.stderr)
            else:
                refusal = sandbox.refuse_statement(text)
                if refusal:
                    print(f"warehouse: {refusal} (sql is read-only; write a result with --format csv|json|parquet "
                          "--out FILE)", file=sys.stderr)
                    return 2
                frame = read.query(text, where=where)
            _emit(frame, args.format, args.out)
    except QueryInput as exc:
        print(f"warehouse: {exc}", file=sys.stderr)
        return 2
    except _USER_ERRORS as exc:
        print(f"warehouse: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # one line for the user; the rows already written stay where they are
        print(f"warehouse: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
