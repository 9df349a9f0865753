"""Shared page furniture: page set-up, the empty state, run selectors, charts with downloads."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import altair as alt
import polars as pl
import streamlit as st

from app import charts, data, gate, state
from warehouse.csv_out import csv_bytes
from warehouse.paths import home

DEMO_CMD = "THERMOSCOPE_HOME={home} python -m training.launch sweeps/demo.toml --executor local --wait"


def page(title: str, icon: str = "🌡️") -> None:
    """The first call of every page: the gate (only the token's holder gets past it), then the page set-up."""
    st.set_page_config(page_title=f"{title} · Thermoscope", page_icon=icon, layout="wide")
    gate.require()  # before anything reads the warehouse or draws a widget (app/gate.py)
    state.sync()  # the shared selection in and out of the URL, before any page makes a choice
    st.session_state[_SPLIT_NOW] = None  # until this page's pick_runs says otherwise
    st.title(title)


class Opened(NamedTuple):
    """What a page opened on: the chosen runs' config filters ({} when the page picks none) and the split field."""

    filters: dict[str, Any]
    split_by: str | None


def open_page(title: str, *, caption: str = "", needs_runs: str = "", pick: str = "",
              launch_expanded: bool = False) -> Opened:
    """Every page's opening, in one call and one order: set-up (and the shared selection), the launch form in the
    sidebar, an optional caption, then — when the page shows runs — the empty state that stops it (`needs_runs`
    names the page in that message) and the run picker (`pick` is its widget key prefix)."""
    from app import sidebar

    page(title)
    sidebar.launch_form(expanded=launch_expanded)
    if caption:
        st.caption(caption)
    if needs_runs:
        require_runs(needs_runs)
    filters = pick_runs(pick) if pick else {}
    return Opened(filters, split_field())


def require_runs(what: str = "this page") -> int:
    """Show a helpful empty state and stop the page when there is nothing to show; else the run count."""
    where = home()
    state, n = data.warehouse_state(where)
    if state == "ok":
        return n
    cmd = DEMO_CMD.format(home=where.root)
    if state == "missing":
        st.info(
            f"**No warehouse yet** at `{where.database}`, so {what} has nothing to show.\n\n"
            f"Train the 6-run demo sweep (3 temperatures × 2 seeds, a few minutes on a CPU) and load it:\n\n"
            f"```\n{cmd}\npython -m warehouse ingest\n```\n"
            "or launch a sweep from the sidebar form. Point `THERMOSCOPE_HOME` at another home to read that one."
        )
    elif state == "unreadable":
        st.error(f"**The warehouse at `{where.database}` cannot be read:** "
                 f"{data.PROBLEMS.get(str(where.database), 'unknown error')}")
    else:
        st.info(
            f"**The warehouse at `{where.database}` holds no runs yet.**\n\n"
            f"Launch a sweep from the sidebar, or run\n\n```\n{cmd}\n```\n"
            "then `python -m warehouse ingest` to load finished results."
        )
    st.stop()
    return 0


def no_rows(what: str) -> None:
    st.warning(
        f"No {what} for this selection yet: its runs may still be training, or their analysis rows are not "
        "ingested. Run `python -m warehouse ingest`, or pick another selection."
    )


def pick_runs(key: str, *, fixed: tuple[str, ...] = ("arch", "dataset"), vary: tuple[str, ...] = ("temperature",),
              sidebar: bool = False) -> dict[str, Any]:
    """Choose one seed group family: arch and dataset, then every other config field that still varies.

    Returns config filters for data.config_where. Fields in `vary` (temperature by default) and the
    seed are left free: the charts spread over them, and so is the field chosen to "split lines by"
    (split_field()). The choices are the shared selection (app/state.py): the same on every page, in the
    URL, and after a reload. With no choice yet, the most complete group is shown (most finished runs that
    learned, then most temperatures, then most seeds), not whatever sorts first. A `sweep` in the selection
    adds `sweep_id` to the filters.
    """
    box = st.sidebar if sidebar else st
    sweep = _sweep_scope(box, key)
    scope: dict[str, Any] = {"sweep_id": sweep} if sweep else {}
    pairs = data.config_values(scope) if sweep else data.arch_datasets()
    best = data.Q.most_complete_group(scope)
    filters: dict[str, Any] = {}
    cols = box.columns(len(fixed))
    for col, name in zip(cols, fixed):
        sub = _matching(pairs, filters)
        options = sorted(set(sub[name].to_list()), key=_sort_key)
        default = best[name] if best.get(name) in options else sub[name][0]
        filters[name] = select(col, name, options, default, key=f"{key}-{name}")
    combos = data.config_values({**scope, **filters})
    if any(best.get(k) != v for k, v in filters.items()):  # another arch/dataset than the overall best: its own best
        best = data.Q.most_complete_group({**scope, **filters})
    # data_root is where the files were read from, not part of the experiment (runs.config_group ignores it too)
    free = [f for f in data.CONFIG_FIELDS if f not in (*fixed, *vary, "seed", "data_root")]
    varying = [f for f in free if f in combos.columns and combos[f].n_unique() > 1]
    # one row: the fields to pick, then "split lines by" (decided first: the field it names gets no picker)
    split = None
    if varying:
        split = state.choose(state.SPLIT, [NO_SPLIT, *varying], NO_SPLIT)
        split = None if split == NO_SPLIT else split
    shown = [f for f in varying if f != split]
    cols = box.columns(min(4, len(shown) + 1)) if varying else []
    if varying:
        _pick_split(cols[-1], key, varying)
    for i, name in enumerate(shown):
        sub = _matching(combos, {k: v for k, v in filters.items() if k not in fixed})
        options = sorted(set(sub[name].to_list()), key=_sort_key) or sorted(set(combos[name].to_list()),
                                                                              key=_sort_key)
        default = best[name] if best.get(name) in options and _matching(combos, {**filters, name: best[name]}
                                                                         ).height else options[0]
        col = cols[i % (len(cols) - 1)] if len(cols) > 1 else box
        filters[name] = select(col, name, options, default, key=f"{key}-{name}",
                               help="differs between these runs; pick one")
    st.session_state[_SPLIT_NOW] = split
    filters = {**filters, **scope}
    if "temperature" in vary:
        filters = _without_unlearned(box, key, filters)
    return filters


LEAVE_OUT, SHOW = "leave out", "show"


def _without_unlearned(box, key: str, filters: dict[str, Any]) -> dict[str, Any]:
    """Temperatures compared only where runs learned: say how many did not (runs.learned, docs/methods.md §1),
    leave out the temperatures at which none did (unless asked to show them), and name those where some did not.

    Why here: every page that spreads runs over temperature picks them through pick_runs, so one place keeps
    an untrained network's ranks from being drawn as if temperature had caused them."""
    verdict = data.learned_by_temperature(filters)
    bad = verdict.filter(pl.col("not_learned") > 0)
    if bad.is_empty():
        return filters
    none_learned = bad.filter(pl.col("learned") == 0)["temperature"].to_list()
    partly = bad.filter(pl.col("learned") > 0)
    kept = [t for t in verdict["temperature"].to_list() if t not in none_learned]
    c1, c2 = box.columns([4, 1])
    choice = select(c2, "runs that did not learn", [LEAVE_OUT, SHOW], LEAVE_OUT, key=f"{key}-unlearned",
                    name=state.UNLEARNED, help="a run that stayed at chance describes an untrained network, "
                    "not the temperature; docs/methods.md §1 has the rule")
    total = int(bad["not_learned"].sum())
    words = [f"**{total} of {int(verdict['runs'].sum())} runs did not learn** (final accuracy and loss near chance)"]
    if none_learned:
        where_ = ", ".join(charts.t_label(t) for t in none_learned)
        if not kept:
            words.append(f"no run learned at any temperature ({where_}): shown anyway, but they describe untrained "
                         "networks — train longer, use init=kaiming, or calibrate T")
        elif choice == LEAVE_OUT:
            words.append(f"left out: {where_}, where none did")
        else:
            words.append(f"shown and not comparable: {where_}, where none did")
    if not partly.is_empty():
        words.append("some runs did not learn at " + ", ".join(
            f"{charts.t_label(r['temperature'])} ({r['not_learned']} of {r['runs']})" for r in partly.iter_rows(named=True))
            + ": their lines average learned and unlearned runs")
    c1.warning(" · ".join(words) + ".")
    if none_learned and kept and choice == LEAVE_OUT:
        return {**filters, "temperature": kept}
    return filters


PROTOCOL_WORDS = {
    "converged": "converged probes (L2 logistic regression solved to a gradient tolerance; docs/methods.md §3)",
    "paper": "the paper's probe protocol (Table 5: Adam, lr 1e-3, wd 1e-3, 50 epochs, batch 4096: a fixed step "
             "budget, its probes need not converge)",
}


def pick_protocol(box, filters: dict[str, Any], key: str) -> str:
    """The probe protocol κ, ρ and probe curves are drawn from: a choice when the runs have both, named always."""
    have = data.probe_protocols(filters) or ["converged"]
    default = "converged" if "converged" in have else have[0]
    protocol = select(box, "probe protocol", list(have), default, key=f"{key}-protocol", name=state.PROTOCOL,
                      help="which linear probes: " + "; ".join(f"{p} = {PROTOCOL_WORDS[p]}" for p in have))
    return protocol


def without_unconverged(box, filters: dict[str, Any], protocol: str, key: str) -> bool:
    """Count and name the runs whose probes of `protocol` did not all converge, like runs that did not learn;
    True = leave them out of the comparison (the default for the converged protocol).

    The paper protocol stops after a fixed budget by design: its runs are counted, never left out."""
    verdict = data.converged_by_temperature(filters, protocol)
    bad = verdict.filter(pl.col("not_converged") > 0)
    if protocol == "paper":
        total, ok = int(verdict["runs"].sum()), int(verdict["converged"].sum())
        if total:
            box.caption(f"Paper protocol: {ok} of {total} runs had every probe reach the tolerance within Table 5's "
                        "step budget; the others' probe accuracies measure that budget as well as the representation.")
        return False
    if bad.is_empty():
        return False
    c1, c2 = box.columns([4, 1])
    choice = select(c2, "runs whose probes did not converge", [LEAVE_OUT, SHOW], LEAVE_OUT, key=f"{key}-unconverged",
                    name=state.UNCONVERGED, help="a probe stopped by its iteration cap or by broken input (NaN, a "
                    "single class) does not measure the representation; the probe rows' notes say why")
    total = int(bad["not_converged"].sum())
    words = [f"**{total} of {int(verdict['runs'].sum())} runs have probes that did not converge** ("
             + "; ".join(f"{charts.t_label(r['temperature'])}: {r['not_converged']} of {r['runs']}"
                         + (f" — {r['layers']}" if r["layers"] else "") for r in bad.iter_rows(named=True)) + ")"]
    words.append("left out" if choice == LEAVE_OUT else "shown, not comparable")
    c1.warning(" · ".join(words) + ".")
    return choice == LEAVE_OUT


def split_field() -> str | None:
    """The config field whose values get their own lines on this page (left out of pick_runs' filters), or None."""
    return st.session_state.get(_SPLIT_NOW)


_SPLIT_NOW = "thermoscope-split-now"  # the split pick_runs applied in this run (valid for this page's data)
NO_SPLIT = "none"


def _pick_split(box, key: str, varying: list[str]) -> None:
    select(box, "split lines by", [NO_SPLIT, *varying], NO_SPLIT, key=f"{key}-split-by", name=state.SPLIT,
           help="draw one line (or panel) per value of this field, besides one colour per temperature; "
           "'none' = pick one value of every field")


def _sweep_scope(box, key: str) -> str | None:
    """The sweep the selection is restricted to (checked against the data), with a way back to all runs."""
    sweep = state.get(state.SWEEP)
    if sweep is None:
        return None
    sweep = str(sweep)
    if data.config_values({"sweep_id": sweep}).is_empty():
        box.info(f"The link asks for sweep {sweep}, which has no runs in this warehouse: showing every sweep.")
        state.clear(state.SWEEP)
        return None
    state.put(state.SWEEP, sweep)
    c1, c2 = box.columns([4, 1])
    c1.info(f"Showing sweep **{sweep}** only.")
    c2.button("Show all sweeps", key=f"{key}-all-sweeps", on_click=state.clear, args=(state.SWEEP,),
              help="drop the sweep filter: every run with this config, whatever sweep made it")
    return sweep


def select(box, label: str, options: list[Any], default: Any, *, key: str, name: str | None = None,
           **kwargs) -> Any:
    """A selectbox backed by the shared selection `name` (default: the label): what the session, the URL or
    another page chose is shown; a choice made here is everyone's. `default` when the selection has none."""
    name = name or label
    value = state.choose(name, options, default)
    _show(key, value)
    return box.selectbox(label, options, key=key, on_change=_adopt, args=(key, name), **kwargs)


def select_many(box, label: str, options: list[Any], default: list[Any], *, key: str, name: str | None = None,
                **kwargs) -> list[Any]:
    """A multiselect backed by the shared selection (see select)."""
    name = name or label
    value = state.choose(name, options, list(default))
    _show(key, value)
    return box.multiselect(label, options, key=key, on_change=_adopt, args=(key, name), **kwargs)


def _show(key: str, value: Any) -> None:
    # the shared value wins over what an earlier visit of this widget left (set before the widget exists,
    # and no default is passed to it: Streamlit warns when both are given)
    if key not in st.session_state or st.session_state[key] != value:
        st.session_state[key] = value


def _adopt(key: str, name: str) -> None:
    state.put(name, st.session_state[key])


def _matching(frame: pl.DataFrame, filters: dict[str, Any]) -> pl.DataFrame:
    """Rows of `frame` equal to `filters` on the columns it has (a None matches NULL)."""
    for name, value in filters.items():
        if name in frame.columns:
            frame = frame.filter(pl.col(name).is_null() if value is None else pl.col(name) == value)
    return frame


def _sort_key(v: Any) -> tuple:
    return (v is None, str(type(v)), v if v is not None else 0)


def for_browser(spec: dict) -> dict:
    """The Vega-Lite dict as every dashboard chart is sent: without Altair's default view size (st.altair_chart
    drops it too). Left to Streamlit: the renderer (SVG below 2,000 marks, canvas above). A canvas for every chart
    took Home's DOM from 1,884 nodes to 867 and Logits norm's from 2,182 to 511, but in software-rendered headless
    Chromium the first chart came no sooner (Logits norm 1.48x -> 1.58x the bare page, Home 1.95x -> 1.91x,
    4 tabs each, 2026-12-07): painting the canvas costs what the SVG nodes did, so the SVG (with its ARIA
    labels) stays."""
    spec.get("config", {}).pop("view", None)
    if not spec.get("config"):
        spec.pop("config", None)
    return spec


def show_chart(chart: alt.Chart, frame: pl.DataFrame, key: str, *, name: str | None = None,
               width: str = "stretch") -> None:
    """The chart, then its aggregated data as CSV and the chart as PNG / SVG (rendered only on click).

    width="content" for concatenated charts, which carry their own width.
    The chart goes to the browser as its Vega-Lite dict: Altair built it from typed objects, and
    st.altair_chart would validate it against the schema a second time (~20 ms a chart, the largest
    share of a click on a page of three charts). Streamlit still ships the data as Arrow datasets.
    """
    spec = for_browser(chart.to_dict(validate=False))
    st.vega_lite_chart(spec, width=width, key=f"chart-{key}")
    _downloads(frame, key, name, lambda: chart)


def show_layer_curves(frame: pl.DataFrame, key: str, *, name: str | None = None, **style) -> None:
    """charts.layer_band_chart for `frame`, from a spec built once per chart shape (see layer_band_spec)."""
    spec, data_frame = charts.layer_band_spec(frame, **style)
    show_spec(spec, data_frame, key, csv=frame, name=name, build=lambda: charts.layer_band_chart(frame, **style))


def show_spec(spec: dict, data_frame: pl.DataFrame, key: str, *, build, csv: pl.DataFrame | None = None,
              name: str | None = None, width: str = "stretch") -> None:
    """A chart sent as a data-free spec plus its rows (Arrow), e.g. charts.results_scatter_spec: a rerun that only
    changes the rows swaps them into the drawn chart. `build` makes the static chart for PNG / SVG on click;
    `csv`, the rows the CSV holds when they are not the drawn ones."""
    st.vega_lite_chart(data_frame, for_browser(spec), width=width, key=f"chart-{key}")
    _downloads(data_frame if csv is None else csv, key, name, build)


def show_curve_panels(frame: pl.DataFrame, key: str, *, name: str | None = None, title: str = "",
                      csv: pl.DataFrame | None = None, **style) -> None:
    """charts.curve_panels for `frame` from a spec that does not change with the numbers (charts.curve_panels_spec):
    a rerun that only changes the data swaps it into the drawn chart instead of compiling it again. The title and
    n caption go above it as a caption; the PNG / SVG downloads carry them inside, as before. `csv`: the rows the
    CSV download holds when they are not the drawn ones (the unsmoothed curves)."""
    spec, data_frame = charts.curve_panels_spec(frame, **style)
    if title:  # as the static chart's title: bold, the n caption below it
        st.markdown(f"**{plain(title)}**")
    caption = charts.n_caption(frame)
    if caption:
        st.caption(caption)
    show_spec(spec, data_frame, key, csv=frame if csv is None else csv, name=name, width="content",
              build=lambda: charts.curve_panels(frame, title=title, **style))


def static_table(frame: pl.DataFrame) -> None:
    """A few rows that are read, not explored (a run's status history, its environment record), as a plain HTML
    table (st.table) rather than the canvas grid: nothing to lay out and redraw on every rerun (Run detail's
    grids kept repainting 0.6 s after a click). st.table renders Markdown in cells and headers, so every text
    cell and header is escaped to show as typed: a message or host name from a job never becomes a link or a
    remote image."""
    texts = [c for c, t in frame.schema.items() if t == pl.String]
    frame = frame.with_columns(pl.col(c).map_elements(plain, return_dtype=pl.String) for c in texts)
    st.table(frame.rename({c: plain(c) for c in frame.columns}), hide_index=True, border="horizontal")


def plain(text: str) -> str:
    """`text` for st.markdown that renders as the characters typed: every ASCII punctuation mark escaped, so
    no link, emphasis, `:color[…]`, `$math$` or bare-URL autolink forms from text a person typed."""
    return re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", str(text))


def _downloads(frame: pl.DataFrame, key: str, name: str | None, build) -> None:
    """CSV / PNG / SVG behind one "Download" popover: a single short label stays legible in a narrow column
    (three buttons side by side were squeezed to "C…" in Home's two-column probe row)."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", name or key)
    with st.popover("⬇ Download", help="this chart's rows as CSV, or the chart as PNG / SVG"):
        # every file is made on click only (a callable), and a click reruns nothing (on_click="ignore"): a rerun
        # no longer writes each chart's CSV, and a download no longer redraws the page
        st.download_button("CSV", lambda: csv_bytes(frame), file_name=f"{stem}.csv", mime="text/csv", on_click="ignore",
                           key=f"csv-{key}", help="the aggregated rows this chart shows", width="stretch")
        st.download_button("PNG", lambda: charts.to_png(build()), file_name=f"{stem}.png", mime="image/png",
                           on_click="ignore", key=f"png-{key}", width="stretch")
        st.download_button("SVG", lambda: charts.to_svg(build()), file_name=f"{stem}.svg", mime="image/svg+xml",
                           on_click="ignore", key=f"svg-{key}", width="stretch")


def describe(filters: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in filters.items())


BADGES = {"queued": "⏳", "running": "🏃", "finished": "✅", "diverged": "💥", "failed": "❌", "cancelled": "🚫"}


def badge(status: str | None) -> str:
    """'✅ finished': the word is always there (screen readers, browsers without an emoji font)."""
    return f"{BADGES.get(status or '', '❔')} {status or 'unknown'}"


def badges(counts: dict[str, int]) -> str:
    """'✅ 3 finished · 🏃 1 running': non-zero status counts in lifecycle order, each with its word."""
    return " · ".join(f"{BADGES[s]} {counts[s]} {s}" for s in BADGES if counts.get(s))


def run_link(run_id: str) -> str:
    """URL of a run's detail page (Streamlit names a page's URL after its file, without the number)."""
    return f"/Run_detail?run={run_id}"
