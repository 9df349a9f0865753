"""Thermoscope's warehouse: plain rows in, SQL out.

Jobs write Parquet *shards* (never the DuckDB file); `python -m warehouse ingest` loads them into
one DuckDB file that the dashboard and users read. This package imports neither torch nor any
of `training` / `analysis`: it is rows, Arrow, Polars and DuckDB only.
"""

from warehouse.paths import Home, home
from warehouse.schema import SCHEMA_VERSION, TABLES
from warehouse.shards import write_shard

__all__ = ["Home", "home", "SCHEMA_VERSION", "TABLES", "write_shard"]
