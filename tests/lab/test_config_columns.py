"""The warehouse's run_configs columns are derived from RunConfig (warehouse/config_columns.py is generated)."""

from lab.records.config_columns import main
from training.config import FIELD_NAMES, make_config
from warehouse.schema import TABLES


def test_the_generated_columns_are_current():
    assert main(["--check"]) == 0, "run `python -m lab.records.config_columns` after changing RunConfig"


def test_every_config_field_is_a_column_and_a_row_fits_the_schema(tmp_home):
    import pyarrow.parquet as pq

    from analysis import AnalysisSettings
    from lab.records.configs import config_row
    from warehouse import write_shard

    assert set(FIELD_NAMES) <= set(TABLES["run_configs"].column_names)
    cfg = make_config(preset="demo", checkpoint_epochs=(3, 5), milestones=(10,))
    path = write_shard("run_configs", [config_row(cfg, "s", "abc", AnalysisSettings(max_samples=7))],
                       owner=cfg.run_id, name="config", where=tmp_home)
    row = pq.read_table(path).to_pylist()[0]
    assert {k: row[k] for k in FIELD_NAMES} == {k: (list(v) if isinstance(v, tuple) else v)
                                                 for k, v in cfg.to_dict().items()}
