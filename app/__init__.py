"""Thermoscope's dashboard (Streamlit). `thermoscope app` (or `make app`): only the holder of its token gets in.

    Home.py          rank and probe accuracy per layer, one line per temperature (the first page)
    pages/*.py       one file per view: Runs, Rank, Probes, κ/ρ, Logits norm, Alignment, Geometry/OOD,
                     Theory, Paper check, SQL, Jobs, Run detail, Compare, Curves
    data.py          the pages' cached door to warehouse/queries.py (read-only, cached per snapshot version)
    charts.py        pure Altair builders: Polars frame in, chart out (+ PNG/SVG through vl-convert)
    ui.py            page furniture: opening a page, empty states, the run picker, chart + CSV/PNG/SVG downloads
    gate.py          the token check every page runs first (through ui.page)
    state.py         one selection shared by every page, mirrored in the URL
    sidebar.py       the launch form: lab.sweeps (spec, plan, estimate, launch), the CLI's own code
    jobs.py          live sweep state read from shard files; cancel through lab.records.reconcile
    theory.py        the appendix demonstrations in numpy
    paper.py         the paper's reported κ/ρ/SR and the comparison with measured values
    report.py        `thermoscope report`: one self-contained HTML file for a selection (report_html.py: its
                     HTML pieces; reproduce.py: the launch commands that plan the same runs)

Never imports torch (tests/app/test_app_home.py checks every page in a fresh interpreter).
"""
