"""The dashboard's data layer (app/data.py): one attached snapshot per warehouse version, shared by sessions."""

from __future__ import annotations

from tests.warehouse.wh_helpers import write_run
from warehouse import home
from warehouse.ingest import ingest


def test_an_ingest_shows_on_the_next_query_through_a_new_attachment(tmp_path):
    from app import data

    where = home(tmp_path / "h")
    write_run(where, "a")
    ingest(where)
    count = "SELECT count(*) AS n FROM run_configs"
    assert data.q(count, where=where)["n"][0] == 1
    before = data._snapshot(str(where.database), data.db_version(where))
    assert data._snapshot(str(where.database), data.db_version(where)) is before  # held, not reopened per query
    write_run(where, "b")
    ingest(where)
    assert data.q(count, where=where)["n"][0] == 2  # a new version: a new attachment answers
    assert data._snapshot(str(where.database), data.db_version(where)) is not before
