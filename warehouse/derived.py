"""Derived tables (see `schema.DERIVED`): recomputed by ingest for the config groups a batch touched.

`layer_stats` holds per-layer metrics already aggregated over seeds, sorted by (arch, dataset,
metric), so "rank vs temperature per layer, mean ± std over seeds" reads a few thousand rows from a
small table instead of joining 10 million `layer_metrics` rows with `run_configs` on every click.
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb

from warehouse.schema import CONFIG_GROUP_SQL

# One row per run with the group key and the config columns layer_stats carries.
_GROUPS = f"""
    SELECT c.run_id, {CONFIG_GROUP_SQL} AS config_group, c.arch, c.dataset, c.loss, c.preset, c.temperature, c.epochs
    FROM run_configs c
"""

_AGGREGATE = """
    SELECT g.config_group, any_value(g.arch) AS arch, any_value(g.dataset) AS dataset, any_value(g.loss) AS loss,
           any_value(g.preset) AS preset, any_value(g.temperature) AS temperature, any_value(g.epochs) AS epochs,
           m.epoch, m.layer_index, any_value(m.layer_name) AS layer_name, m.kind, m.dataset AS eval_dataset,
           m.split, m.metric, any_value(m.protocol) AS probe_protocol, count(*) AS n_runs, avg(m.value) AS mean, stddev_samp(m.value) AS std,
           min(m.value) AS min, max(m.value) AS max
    FROM (SELECT *, CASE WHEN metric = 'probe_acc' THEN coalesce(probe_protocol, 'paper') END AS protocol
          FROM layer_metrics) m JOIN _groups g USING (run_id)
    {where}
    GROUP BY g.config_group, m.epoch, m.layer_index, m.kind, m.dataset, m.split, m.metric, m.protocol
    ORDER BY arch, dataset, metric, config_group, epoch, layer_index
"""


def refresh(con: duckdb.DuckDBPyConnection, run_ids: Iterable[str] | None = None) -> None:
    """Recompute layer_stats for the groups of `run_ids` (all groups when None), in the caller's transaction."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE _groups AS {_GROUPS}")
    if run_ids is None:
        con.execute("DELETE FROM layer_stats")
        con.execute("INSERT INTO layer_stats " + _AGGREGATE.format(where=""))
        return
    ids = sorted(set(run_ids))
    if not ids:
        return
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _touched AS "
        "SELECT DISTINCT config_group FROM _groups WHERE run_id IN (SELECT unnest(?::VARCHAR[]))",
        [ids],
    )
    con.execute("DELETE FROM layer_stats WHERE config_group IN (SELECT config_group FROM _touched)")
    con.execute(
        "INSERT INTO layer_stats "
        + _AGGREGATE.format(where="WHERE g.config_group IN (SELECT config_group FROM _touched)")
    )
