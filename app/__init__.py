"""Thermoscope's dashboard (Streamlit). `thermoscope app` (or `make app`): only the holder of its token gets in.

    Home.py          rank and probe accuracy per layer, one line per temperature (the first page)
    pages/*.py       one file per view: Runs, Rank, Probes, κ/ρ, Logits norm, Alignment, Geometry/OOD,
                     Theory, Paper check, SQL, Jobs, Run detail
    data.py          every SQL the pages run (read-only, cached per snapshot version, aggregated over seeds)
    charts.py        pure Altair builders: Polars frame in, chart out (+ PNG/SVG through vl-convert)
    ui.py            page furniture: empty states, the run picker, chart + CSV/PNG/SVG downloads
    gate.py          the token check every page runs first (through ui.page)
    sidebar.py       the launch form: training.sweep / training.launch (the CLI's own code)
    jobs.py          live sweep state read from shard files; cancel through the launcher
    theory.py        the appendix demonstrations in numpy
    paper.py         the paper's reported κ/ρ/SR and the comparison with measured values

Never imports torch (tests/app/test_app_home.py checks every page in a fresh interpreter).
"""
