"""SQL: a console over the warehouse (read-only, sandboxed back end), results as a table with a spreadsheet-safe CSV download."""

import time

import polars as pl
import streamlit as st

from app import ui
from warehouse.console import run_safe  # the sandbox: one SELECT, no file/network access, row cap, time limit
from warehouse.csv_out import csv_bytes
from warehouse.paths import home
from warehouse.schema import TABLES

ui.open_page("SQL console", needs_runs="the SQL console")

with st.expander("Tables and columns"):
    table = st.selectbox("table", list(TABLES), key="sql-table")
    st.caption(TABLES[table].doc)
    st.dataframe(pl.DataFrame({"column": [c.name for c in TABLES[table].columns], "type": [str(c.type) for c in
                 TABLES[table].columns], "meaning": [c.doc for c in TABLES[table].columns]}),
                 hide_index=True, width="stretch")
    st.caption("Views: `runs` (config + latest status, one row per run), `jobs_latest`.")

EXAMPLE = ("SELECT arch, dataset, temperature, count(*) AS runs, avg(test_acc) AS final_test_acc\n"
           "FROM runs JOIN (SELECT run_id, test_acc FROM epochs QUALIFY epoch = max(epoch) OVER (PARTITION BY run_id))\n"
           "  USING (run_id)\nGROUP BY ALL ORDER BY ALL")
with st.form("sql-form"):
    sql = st.text_area("SELECT …", EXAMPLE, height=140, key="sql-text")
    c1, c2 = st.columns([1, 4])
    cap = c2.number_input("row cap", 1, 100_000, 10_000, key="sql-cap")
    go = c1.form_submit_button("Run", type="primary")
if go:
    t0 = time.perf_counter()
    result = run_safe(sql, row_cap=int(cap), where=home())
    st.session_state["sql-result"] = (sql, result, time.perf_counter() - t0)

if "sql-result" in st.session_state:
    ran, result, seconds = st.session_state["sql-result"]
    if isinstance(result, str):
        st.error(result)
    else:
        st.caption(f"{result.height:,} row(s) in {seconds * 1000:.0f} ms" +
                   (f" (capped at {int(cap):,})" if result.height >= int(cap) else ""))
        st.dataframe(result, hide_index=True, width="stretch")
        st.download_button("CSV", csv_bytes(result), "query.csv", "text/csv", key="sql-csv")
