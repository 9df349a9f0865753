"""The shard writer: exact schema, clear one-line errors, atomic replace."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from warehouse import write_shard
from warehouse.schema import TABLES


def test_rows_become_exactly_the_tables_schema(tmp_home):
    path = write_shard("layer_metrics", [dict(run_id="a", epoch=1, layer_index=0, metric="rank", value=3)],
                       owner="a", name="analysis-e0001", where=tmp_home)
    assert path == tmp_home.shards / "layer_metrics" / "a" / "analysis-e0001.parquet"
    table = pq.read_table(path)
    assert table.schema.equals(TABLES["layer_metrics"].arrow_schema)
    assert table.column("value").to_pylist() == [3.0] and table.column("detail").to_pylist() == [None]


def test_arrow_input_is_cast_column_by_column(tmp_home):
    rows = pa.table({"run_id": ["a", "a"], "epoch": pa.array([1, 2], pa.int64()), "value": pa.array([1, 2])})
    path = write_shard("layer_metrics", rows, owner="a", name="x", where=tmp_home)
    table = pq.read_table(path)
    assert table.schema.equals(TABLES["layer_metrics"].arrow_schema)
    assert table.column("epoch").to_pylist() == [1, 2] and table.column("value").to_pylist() == [1.0, 2.0]


@pytest.mark.parametrize("table,rows,owner,fragment", [
    ("layer_metric", [{"run_id": "a"}], "a", "unknown warehouse table 'layer_metric'"),
    ("layer_metrics", [{"run_id": "a", "valeu": 1.0}], "a", "has no column(s) ['valeu']"),
    ("layer_metrics", [{"run_id": "a"}], "../etc", "may only hold letters"),
])
def test_mistakes_get_one_line_errors_and_write_nothing(tmp_home, table, rows, owner, fragment):
    with pytest.raises(ValueError) as err:
        write_shard(table, rows, owner=owner, name="x", where=tmp_home)
    assert fragment in str(err.value) and "\n" not in str(err.value)
    assert not tmp_home.shards.exists() or not any(tmp_home.shards.rglob("*.parquet"))


def test_rewriting_replaces_the_file_and_leaves_no_temporary(tmp_home):
    first = write_shard("epochs", [dict(run_id="a", epoch=0)], owner="a", name="epochs", where=tmp_home)
    inode = first.stat().st_ino
    again = write_shard("epochs", [dict(run_id="a", epoch=e) for e in range(3)], owner="a", name="epochs",
                        where=tmp_home)
    assert again == first and again.stat().st_ino != inode  # a new file renamed into place
    assert pq.read_table(again).num_rows == 3
    assert [p.name for p in again.parent.iterdir()] == ["epochs.parquet"]
