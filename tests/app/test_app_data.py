"""The dashboard's data layer (app/data.py): one attached snapshot per warehouse version, shared by sessions."""

from __future__ import annotations

import gc
import os

import duckdb
import pytest

from tests.warehouse.wh_helpers import write_run
from warehouse import home
from warehouse.ingest import ingest

COUNT = "SELECT count(*) AS n FROM run_configs"


def test_an_ingest_shows_on_the_next_query_through_a_new_attachment(tmp_path):
    from app import data

    where = home(tmp_path / "h")
    write_run(where, "a")
    ingest(where)
    assert data.q(COUNT, where=where)["n"][0] == 1
    before = data._snapshot(str(where.database), data.db_version(where))
    assert data._snapshot(str(where.database), data.db_version(where)) is before  # held, not reopened per query
    write_run(where, "b")
    ingest(where)
    assert data.q(COUNT, where=where)["n"][0] == 2  # a new version: a new attachment answers
    assert data._snapshot(str(where.database), data.db_version(where)) is not before
    # and the replaced file is let go: no descriptor of this process still holds it (its disk space comes back)
    del before
    gc.collect()
    held = [os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
            if os.path.exists(f"/proc/self/fd/{fd}")]
    assert not [p for p in held if p.startswith(str(where.database)) and p.endswith("(deleted)")], held


def test_a_read_that_fails_on_the_held_file_attaches_it_anew_once(tmp_path, monkeypatch):
    """A fault injected where NFS would answer a stale handle: the held attachment's read fails with an
    IOException; the query attaches the file again and answers, and a failure after that is not swallowed."""
    from app import data

    where = home(tmp_path / "h")
    write_run(where, "a")
    ingest(where)
    db, version = str(where.database), data.db_version(where)
    held = data._snapshot(db, version)
    real, failed = data._query, []

    def stale_on_the_held_one(attached, sql, params):
        if attached is held:
            failed.append(sql)
            raise duckdb.IOException("Stale file handle")
        return real(attached, sql, params)

    monkeypatch.setattr(data, "_query", stale_on_the_held_one)
    assert data._run(db, version, COUNT, ())["n"][0] == 1
    assert failed == [COUNT] and data._snapshot(db, version) is not held

    def always_stale(attached, sql, params):
        raise duckdb.IOException("Stale file handle")

    monkeypatch.setattr(data, "_query", always_stale)
    with pytest.raises(duckdb.IOException):
        data._run(db, version, COUNT, ())


def test_sessions_query_the_held_snapshot_from_several_threads_at_once(tmp_path):
    """Streamlit runs each session's script in its own thread: every query takes its own cursor of the one
    attachment (DuckDB connections are not shared between threads)."""
    import threading

    from app import data

    where = home(tmp_path / "h")
    write_run(where, "a")
    ingest(where)
    db, version = str(where.database), data.db_version(where)
    answers, errors = [], []

    def session():
        for _ in range(25):
            try:
                answers.append(data._run(db, version, COUNT, ())["n"][0])
            except Exception as exc:  # collected: an exception in a thread would not fail the test by itself
                errors.append(repr(exc))

    threads = [threading.Thread(target=session) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and answers == [1] * 100
