"""`python -m warehouse ingest | rebuild | export | sql "SELECT …"` — see --help."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from warehouse import ingest as ingest_mod
from warehouse import read
from warehouse.paths import home


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m warehouse",
        description="Thermoscope's DuckDB warehouse. Jobs write Parquet shards under "
        "$THERMOSCOPE_HOME/shards; these commands load, rebuild, query and export them.",
    )
    parser.add_argument("--home", help="Thermoscope home (default: $THERMOSCOPE_HOME or ./thermoscope-home)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("ingest", help="load new and re-written shards into the DuckDB file (idempotent)")
    sub.add_parser("rebuild", help="rebuild the DuckDB file from the shards alone")
    exp = sub.add_parser("export", help="write every table and view to Parquet files")
    exp.add_argument("--out", default=None, help="folder to write to (default: $THERMOSCOPE_HOME/export)")
    sql = sub.add_parser("sql", help="run a SQL query against the warehouse (read-only)")
    sql.add_argument("query", help='e.g. "SELECT arch, temperature, count(*) FROM runs GROUP BY ALL"')
    sql.add_argument("--format", choices=["table", "csv", "json", "parquet"], default="table")
    sql.add_argument("--out", help="file to write for csv/json/parquet (default: standard output; parquet needs it)")
    args = parser.parse_args(argv)
    where = home(args.home)

    try:
        if args.command == "ingest":
            print(ingest_mod.ingest(where))
        elif args.command == "rebuild":
            print(ingest_mod.rebuild(where))
        elif args.command == "export":
            out = Path(args.out) if args.out else where.root / "export"
            out.mkdir(parents=True, exist_ok=True)
            con = read.connect(where)
            names = [r[0] for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_name NOT LIKE '\\_%' ESCAPE '\\'"
            ).fetchall()]
            for name in names:
                con.sql(f'SELECT * FROM "{name}"').write_parquet(str(out / f"{name}.parquet"))
            con.close()
            print(f"wrote {len(names)} table(s) to {out}")
        elif args.command == "sql":
            frame = read.query(args.query, where=where)
            if args.format == "table":
                import polars as pl

                with pl.Config(tbl_rows=200, tbl_cols=30, fmt_str_lengths=60):
                    print(frame)
            elif args.format == "parquet":
                if not args.out:
                    raise SystemExit("--format parquet needs --out FILE.parquet")
                frame.write_parquet(args.out)
            else:
                text = frame.write_csv() if args.format == "csv" else frame.write_json()
                if args.out:
                    Path(args.out).write_text(text)
                else:
                    sys.stdout.write(text + ("\n" if not text.endswith("\n") else ""))
    except (read.WarehouseMissing, ingest_mod.IngestBusy) as exc:
        print(f"warehouse: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # one line for the user; the rows already written stay where they are
        print(f"warehouse: {type(exc).__name__}: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
