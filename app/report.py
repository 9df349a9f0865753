"""A report you can send: one self-contained HTML file with a selection's figures, tables, environment and the
commands that make its runs again.

    python -m app.report [SWEEP_ID …] [--set FIELD=V1,V2 …] [--out report.html] [--home HOME]
    thermoscope report …                                      (the same; lab/commands/main.py hands over to this module)

The selection is the runs of the given sweeps (none given: the latest sweep) narrowed by `--set` values,
the way the dashboard's filters narrow them. The file holds the paper's figures for each config family in
the selection (rank and ID/OOD probe accuracy per layer, one line per temperature with ± std bands and n;
logits norm over epochs; alignment heatmaps), κ/ρ/SR in the paper's table layout, every seed group's final
results as mean ± std and n, the runs that did not learn by name, what the runs table records of their
environment, and the `python -m training.launch` commands that plan exactly these runs again.

Self-contained: charts are inline SVG drawn by vl-convert, styles are inline, there is no script, and a
Content-Security-Policy forbids every fetch, so the file opens offline in any browser and no request
leaves it. The queries are the dashboard's (warehouse/queries.py), the charts its builders (app/charts.py).
Torch-free and Streamlit-free: the Home page's "Download report" button calls `build_report` too.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from app import charts, paper, reproduce
from app.report_html import (
    FORMATS,
    Cell,
    bullets,
    code,
    esc,
    figure,
    num_cell,
    number,
    page,
    para,
    section,
    table,
)
from thermoscope.env import flag
from warehouse.paths import Home, home
from warehouse.queries import (
    CONFIG_FIELDS,
    GROUP_DEFAULT,
    KAPPA_GROUP,
    RESULT_COLUMNS,
    RUN_STATUSES,
    Queries,
    read_query,
)

MAX_RUNS = 500  # rows of the all-runs table (a report of a 10,000-run selection stays a file one can send)
MAX_FAMILIES = 12  # figure sections; a selection with more config families lists the rest (narrow it with --set)
LONG_VALUE = 160  # environment values longer than this (a diff, a traceback) are summarised, not printed
# environment fields that differ between runs by nature (each job its own node, id and times): never flagged
PER_JOB = ("host", "job", "node", "pid", "time", "_at", "start", "end", "wall")
TITLES = charts.RESULT_TITLES
SHORT = {"test_acc": "test acc", "train_loss": "train loss", "logits_norm": "logits norm", "solution_rank": "SR",
         "kappa": "κ [%]", "rho": "ρ [%]", "best_auroc": "best OOD AUROC"}  # table headers; cells say the rest


class ReportError(Exception):
    """What was wrong with the request, in one line (the CLI prints it and exits 2; nothing is written)."""


@dataclass
class Selection:
    filters: dict[str, Any]
    described: str


@dataclass
class Report:
    html: str
    runs: int
    charts: int
    sweeps: list[str] = field(default_factory=list)


# ---- the selection ------------------------------------------------------------------------------------


def _column_types(q: Queries, where: Home) -> dict[str, str]:
    frame = q.q("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'run_configs'",
                where=where)
    return dict(zip(frame["column_name"].to_list(), frame["data_type"].to_list()))


def _typed(name: str, raw: str, kind: str) -> Any:
    """A `--set` value in the warehouse column's type, so the comparison is typed (1e-05 meets 0.00001)."""
    kind = kind.upper()
    try:
        if kind.endswith("[]") or kind.startswith("VARCHAR"):
            return raw  # lists are compared as 'a+b' text, as `--set ood=svhn+cifar100` writes them
        if kind in ("DOUBLE", "FLOAT", "REAL") or kind.startswith("DECIMAL"):
            return float(raw)
        if "INT" in kind:
            return int(raw)
        if kind == "BOOLEAN":
            return flag(raw)
    except ValueError:
        raise ReportError(f"--set {name}={raw}: {raw!r} is not a {kind.lower()} value") from None
    return raw


def select(sweeps: list[str], sets: list[str], where: Home, q: Queries | None = None) -> Selection:
    """Filters (Queries.config_where's form) for sweep ids and `--set FIELD=V1,V2` items; ReportError when a
    sweep or field is unknown. No sweep and no --set: the latest sweep."""
    q = q or Queries(read_query)
    filters: dict[str, Any] = {}
    words: list[str] = []
    if sweeps:
        known = set(q.q("SELECT DISTINCT sweep_id FROM run_configs WHERE sweep_id IN (SELECT unnest(?::VARCHAR[]))",
                        [list(sweeps)], where)["sweep_id"].to_list())
        unknown = [s for s in sweeps if s not in known]
        if unknown:
            raise ReportError(f"no sweep {unknown[0]!r} in the warehouse at {where.database}; "
                              f"known sweeps: {_known_sweeps(q, where)}")
        filters["sweep_id"] = list(dict.fromkeys(sweeps))
        words.append(("sweep " if len(filters["sweep_id"]) == 1 else "sweeps ") + ", ".join(filters["sweep_id"]))
    types = _column_types(q, where) if sets else {}
    for item in sets:
        name, eq, raw = item.partition("=")
        name = name.strip()
        if not eq or not raw.strip():
            raise ReportError(f"--set wants FIELD=V1,V2, got {item!r}")
        if name not in CONFIG_FIELDS:
            raise ReportError(f"--set {name}: not a config field; fields are {', '.join(CONFIG_FIELDS)}")
        values = [_typed(name, v.strip(), types.get(name, "VARCHAR")) for v in raw.split(",")]
        filters[name] = values
        words.append(f"{name}={raw.strip()}")
    if not sweeps and not sets:
        latest = q.q("SELECT sweep_id FROM run_configs ORDER BY created_at DESC, sweep_id DESC LIMIT 1", where=where)
        if latest.is_empty():
            raise ReportError(f"the warehouse at {where.database} holds no runs; launch and ingest a sweep first")
        filters["sweep_id"] = [latest["sweep_id"][0]]
        words.append(f"sweep {latest['sweep_id'][0]} (the latest)")
    return Selection(filters, ", ".join(words))


def _known_sweeps(q: Queries, where: Home) -> str:
    recent = q.sweeps(limit=5, where=where)["sweep_id"].to_list()
    return ", ".join(recent) + (" (the newest)" if len(recent) == 5 else "") if recent else "none"


# ---- building ---------------------------------------------------------------------------------------------


class _Builder:
    def __init__(self, selection: Selection, where: Home, q: Queries) -> None:
        self.sel, self.where, self.q = selection, where, q
        self.filters = selection.filters
        self.charts = 0

    def chart(self, chart, caption: str, key: str) -> str:
        self.charts += 1
        return figure(chart, caption, key=key)

    def build(self) -> Report:
        results = self.q.run_results(self.filters, where=self.where)
        if results.is_empty():
            raise ReportError(f"no runs match {self.sel.described}; nothing written")
        self.results = results
        self.present = [r for r in RESULT_COLUMNS if r in results.columns and results[r].is_not_null().any()]
        sweeps = sorted(results["sweep_id"].unique().to_list())
        parts = [
            ("runs", "Runs and whether they learned", self.runs_section()),
            ("groups", "Final results per seed group (mean ± std, n)", self.groups_section()),
            ("kappa-rho", "κ, ρ and solution rank in the paper's layout", self.kappa_rho_section()),
            *self.family_sections(),
            ("environment", "Environment", self.environment_section()),
            ("reproduce", "Commands that make these runs again", self.reproduce_section()),
        ]
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        head = ("<h1>Thermoscope report</h1>"
                + para(f"Selection: {self.sel.described}. {results.height} run(s) from {len(sweeps)} sweep(s). "
                       f"Generated {now} from the warehouse at {self.where.database}.", "meta")
                + para("Everything below is in this one file: charts are drawn in (SVG), nothing is fetched when "
                       "it opens. Bands and error bars are ± 1 standard deviation over seeds, drawn only where "
                       "n ≥ 2; n is printed with every chart and table.", "note")
                + "<nav><ul>" + "".join(f'<li><a href="#{esc(a)}">{esc(t)}</a></li>' for a, t, _ in parts)
                + "</ul></nav>")
        body = head + "".join(section(a, t, b) for a, t, b in parts)
        return Report(page(f"Thermoscope report: {self.sel.described}", body), results.height, self.charts, sweeps)

    # ---- runs, verdicts, failures -------------------------------------------------------------------

    @staticmethod
    def _run_name(r: dict) -> str:
        """'name · full run id' (the whole id: a reader looks it up in the warehouse), or the id alone."""
        return f"{r['name']} · {r['run_id']}" if r.get("name") else r["run_id"]

    @staticmethod
    def _varying(frame: pl.DataFrame, fields: tuple[str, ...] = GROUP_DEFAULT) -> list[str]:
        """Fields with more than one value among the rows that have one (an outside run's unknown fields are
        NULL: that alone does not make a column worth showing)."""
        return [f for f in fields if f in frame.columns and frame[f].drop_nulls().n_unique() > 1]

    def runs_section(self) -> str:
        res = self.results
        counts = {s: int((res["status"] == s).sum()) for s in RUN_STATUSES}
        learned = int(res["learned"].fill_null(False).sum())
        not_learned = int((res["learned"] == False).sum())  # noqa: E712 (a Polars column, NULL stays out)
        pending = int(res["learned"].is_null().sum())
        out = para(f"{res.height} run(s): " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
                   + f". Verdicts: {learned} learned, {not_learned} did not, {pending} without a verdict "
                   "(still running, failed, or an outside run without a training log).")
        out += para("A run learned when its final test accuracy is at least a tenth of the way from chance to "
                    "perfect and its train loss is below 0.95 x the uniform prediction's (stored with each run when "
                    "it ends). Temperatures only compare between runs that learned.", "note")
        varying = [f for f in self._varying(res) if f not in ("temperature",)]
        bad = res.filter(pl.col("learned") == False)  # noqa: E712
        if bad.is_empty():
            out += para("Every run with a verdict learned.")
        else:
            out += "<h3>Runs that did not learn</h3>" + self._run_table(bad, varying, "not-learned")
        ended_badly = res.filter(pl.col("status").is_in(["failed", "diverged", "cancelled"]))
        if not ended_badly.is_empty():
            out += "<h3>Runs that failed, diverged or were cancelled</h3>" + self._run_table(
                ended_badly, varying, "ended-badly", error=True)
        out += "<h3>Every run</h3>" + self._all_runs(varying)
        return out

    def _all_runs(self, varying: list[str]) -> str:
        res = self.results.sort("sweep_id", *varying, "temperature", "seed", "run_id", nulls_last=True)
        labels = [c for c in ("tags", "note") if (res[c] != "").any()]
        headers = ["run", *varying, "T", "seed", "status", "learned", "final test acc", *labels]
        rows = [[Cell(self._run_name(r), cls="run"), *(r[f] for f in varying), num_cell(r["temperature"], "g"),
                 number(r["seed"], "d"), r["status"], {True: "yes", False: "no"}.get(r["learned"], "—"),
                 num_cell(r["test_acc"], ".3f", "test_acc"), *(r[c] for c in labels)]
                for r in res.head(MAX_RUNS).iter_rows(named=True)]
        more = para(f"The first {MAX_RUNS} of {res.height} runs; the rest are in the warehouse "
                    "(python -m warehouse sql).", "note") if res.height > MAX_RUNS else ""
        return table(headers, rows, cls="runs") + more

    def _run_table(self, frame: pl.DataFrame, varying: list[str], cls: str, error: bool = False) -> str:
        headers = ["run", "sweep", *varying, "T", "seed", "status", "final test acc", "final train loss"]
        headers += ["error"] if error else []
        rows = []
        for r in frame.sort("temperature", "seed", nulls_last=True).iter_rows(named=True):
            row = [Cell(self._run_name(r), cls="run"), r["sweep_id"], *(r[f] for f in varying),
                   num_cell(r["temperature"], "g"), number(r["seed"], "d"), r["status"],
                   num_cell(r["test_acc"], ".3f", "test_acc"), num_cell(r["train_loss"], ".4g", "train_loss")]
            if error:
                row.append((r["error"] or "").strip().splitlines()[-1:][0] if r["error"] else "")
            rows.append(row)
        return table(headers, rows, cls=cls)

    # ---- groups ------------------------------------------------------------------------------------------

    def groups_section(self) -> str:
        res = self.results
        by = [f for f in GROUP_DEFAULT if f in res.columns]
        shown = list(dict.fromkeys(["arch", "dataset", *self._varying(res), "temperature"]))
        if res["source"].fill_null("trained").n_unique() > 1:  # trained beside analysed or tracked networks
            by, shown = [*by, "source"], [*shown, "source"]
        stats = Queries.group_results(res, by, tuple(self.present))
        extra = res.group_by(by).agg(
            pl.col("seed").drop_nulls().unique().sort().cast(pl.String).str.join(", ").alias("seeds"),
            pl.col("learned").fill_null(False).sum().alias("learned_n"))
        groups = stats.join(extra, on=by, how="left", nulls_equal=True).sort(by, nulls_last=True)
        headers = [*shown, "N runs", "seeds", "learned"]
        headers += [SHORT.get(r, r) for r in self.present]
        rows = []
        for g in groups.iter_rows(named=True):
            row: list[Any] = [num_cell(g[f], "g", f) if f == "temperature" else
                              (g[f] or "trained") if f == "source" else g[f] for f in shown]
            row += [num_cell(g["N"], "d", "N"), g["seeds"] or "—", num_cell(g["learned_n"], "d", "learned")]
            for r in self.present:
                mean, std, n = g[f"{r}_mean"], g[f"{r}_std"], g[f"{r}_n"]
                text = number(mean, FORMATS.get(r, ".4g")) + (f" ± {std:.2g}" if std is not None else "") + f" (n={n})"
                row.append(Cell(text, mean, "num", r, std=std, n=n))
            rows.append(row)
        hidden = [f for f in by if f not in shown]
        note = para("One row per seed group: runs with the same config except the seed. Each result is the mean "
                    "± std (n) over the runs that have the number (n); the std is the sample std, left out where "
                    "n = 1. SR = solution rank, κ = effective depth, ρ = OOD drop. Final = the "
                    "last logged epoch (accuracy, loss, logits norm) and the latest measured epoch (κ, ρ, SR, "
                    "AUROC)." + (f" Equal in every group, so not shown: {', '.join(hidden)}." if hidden else ""),
                    "note")
        return table(headers, rows, cls="groups") + note

    # ---- κ / ρ / SR ----------------------------------------------------------------------------------------

    def kappa_rho_section(self) -> str:
        kr = self.q.kappa_rho(self.filters, where=self.where).drop_nulls(["kappa", "rho"])
        if kr.is_empty():
            return para("No κ/ρ summaries for these runs (they are measured at the end of each run's analysis).")
        out = para("κ: share of layers up to the first whose ID probe accuracy reaches 0.95 of the best (lower = "
                   "more compressed). ρ: relative drop of OOD probe accuracy from its best layer to the penultimate "
                   "one (lower = better OOD generalisation). SR: solution rank. Cells are seed means rounded like "
                   "the paper's Tables 2 and 3 (κ % / ρ % / SR); the exact means, stds and n follow.", "note")
        stuck = kr.filter(pl.col("not_learned") == pl.col("n"))
        if not stuck.is_empty() and stuck.height < kr.height:
            where_ = ", ".join(sorted({f"{r['arch']} {charts.t_label(r['temperature'])}"
                                       for r in stuck.iter_rows(named=True)}))
            out += para(f"Left out: {stuck.select('config_group').n_unique()} group(s) where no run learned "
                        f"({where_}): an untrained network's κ and ρ say nothing about temperature.", "warn")
            kr = kr.filter(pl.col("not_learned") < pl.col("n"))
        for ood in sorted(kr["rho_ood"].unique().to_list()):
            part = kr.filter(pl.col("rho_ood") == ood)
            varying = [k for k in KAPPA_GROUP if k not in ("arch", "dataset", "loss") and part[k].n_unique() > 1]
            layout = paper.measured_layout(part, varying)
            out += f"<h3>ρ measured on {esc(ood)}</h3>"
            out += table(layout.columns, [[Cell(v, cls="num" if i else "") for i, v in enumerate(row)]
                                          for row in layout.iter_rows()], cls="paper-layout",
                         caption="κ / ρ / SR per model and data (rows) and temperature (columns)")
            rows = []
            for r in part.sort("arch", "dataset", "loss", "temperature").iter_rows(named=True):
                label = ", ".join(str(r[k]) for k in ("arch", "dataset", "loss") if r[k] is not None)
                rows.append([label + "".join(f", {k}={r[k]}" for k in varying),
                             num_cell(r["temperature"], "g", "temperature"),
                             num_cell(r["kappa"], ".1f", "kappa"), num_cell(r["kappa_std"], ".2g", "kappa_std"),
                             num_cell(r["rho"], ".1f", "rho"), num_cell(r["rho_std"], ".2g", "rho_std"),
                             num_cell(r["sr"], ".3g", "sr"), num_cell(r["sr_std"], ".2g", "sr_std"),
                             num_cell(r["n"], "d", "n"), num_cell(r["not_learned"], "d", "not_learned")])
            out += table(["model, data", "T", "κ [%]", "± std", "ρ [%]", "± std", "SR", "± std", "n",
                          "did not learn"], rows, cls="kappa-rho")
            out += self.chart(charts.kappa_rho_scatter(part, height=320).properties(width=520),
                              f"κ against ρ per seed group (ρ on {ood}); colour = temperature, shape = architecture, "
                              "bars ± 1 std where n ≥ 2.", f"kappa-rho-{ood}")
        return out

    # ---- figures per config family ---------------------------------------------------------------------

    def family_sections(self) -> list[tuple[str, str, str]]:
        combos = self.q.config_values(self.filters, where=self.where)
        keys = [f for f in CONFIG_FIELDS if f in combos.columns and f not in ("seed", "temperature", "data_root")]
        families = combos.select(keys).unique(maintain_order=True).sort(keys, nulls_last=True)
        differ = [k for k in self._varying(families, tuple(keys)) if k not in ("arch", "dataset")]

        def title(r: dict) -> str:
            return f"{r['arch']} on {r['dataset']}" + "".join(f", {k}={r[k]}" for k in differ if r[k] is not None)

        out = []
        for i, fam in enumerate(families.iter_rows(named=True)):
            name = title(fam)
            if i == MAX_FAMILIES:
                rest = [title(r) for r in families.slice(MAX_FAMILIES).iter_rows(named=True)]
                out.append((f"family-{i + 1}", f"{len(rest)} more config families (not drawn)",
                            para("Narrow the selection with --set FIELD=V to draw these:") + bullets(rest)))
                break
            filters = {**self.filters, **{k: fam[k] for k in keys}}
            out.append((f"family-{i + 1}", f"Figures: {name}", self.family(filters, fam, i + 1)))
        return out

    def family(self, filters: dict[str, Any], fam: dict[str, Any], number_: int) -> str:
        out = ""
        verdict = self.q.learned_by_temperature(filters, where=self.where)
        none = verdict.filter((pl.col("learned") == 0) & (pl.col("not_learned") > 0))["temperature"].to_list()
        kept = [t for t in verdict["temperature"].to_list() if t not in none]
        if none and kept:
            filters = {**filters, "temperature": kept}
            out += para(f"Left out of these figures: {', '.join(charts.t_label(t) for t in none)}, where no run "
                        "learned (named in 'Runs and whether they learned').", "warn")
        elif none:
            out += para("No run of this family learned: the figures describe untrained networks.", "warn")
        key = f"f{number_}"
        out += self._rank(filters, fam, key) + self._probes(filters, fam, key)
        out += self._logits(filters, key) + self._alignment(filters, key)
        return out

    def _rank(self, filters: dict, fam: dict, key: str) -> str:
        opts = self.q.layer_options(filters, "rank", where=self.where)
        ds = fam["dataset"]
        if opts.is_empty():
            return "<h3>Numerical rank per layer</h3>" + para("No rank rows for these runs.")
        kinds = [k for k in ("hidden", "logits", "softmax") if k in set(opts["kind"].to_list())] or \
            sorted(set(opts["kind"].to_list()))
        splits = sorted(set(opts.filter(pl.col("dataset") == ds)["split"].to_list())) or sorted(set(opts["split"]))
        split = "test" if "test" in splits else splits[0]
        rank = self.q.layer_curves(filters, "rank", kinds=kinds, split=split, datasets=[ds], where=self.where)
        if rank.is_empty():
            return "<h3>Numerical rank per layer</h3>" + para("No rank rows for these representations.")
        chart = charts.layer_band_chart(rank, y_title="numerical rank", title=f"Numerical rank per layer ({ds}, "
                                        f"{split} split)", integer=True).properties(width=640)
        return "<h3>Numerical rank per layer</h3>" + self.chart(
            chart, f"Representations: {', '.join(kinds)}. One line per temperature (mean over seeds, at each group's "
            "last analysed epoch), band ± 1 std where n ≥ 2.", f"{key}-rank")

    def _probes(self, filters: dict, fam: dict, key: str) -> str:
        head = "<h3>Linear-probe accuracy per layer, in and out of distribution</h3>"
        opts = self.q.layer_options(filters, "probe_acc", where=self.where)
        if opts.is_empty():
            return head + para("No probe rows for these runs.")
        ds = fam["dataset"]
        sets = sorted(set(opts["dataset"].to_list()), key=lambda d: (d != ds, d))
        split = "test" if "test" in set(opts["split"].to_list()) else None
        curves = self.q.layer_curves(filters, "probe_acc", kinds=["hidden", "logits", "softmax"], split=split,
                                     datasets=sets, where=self.where)
        out = head
        for d in sets:
            part = curves.filter(pl.col("dataset") == d)
            if part.is_empty():
                continue
            role = "ID" if d == ds else "OOD"
            chart = charts.layer_band_chart(part, y_title="probe accuracy", title=f"{role}: {d}").properties(width=420)
            out += self.chart(chart, f"Probe accuracy on {d} ({role}) per layer, one line per temperature.",
                              f"{key}-probe-{role}-{d}")
        return out

    def _logits(self, filters: dict, key: str) -> str:
        head = "<h3>Logits norm over epochs</h3>"
        curves = self.q.epoch_curves(filters, where=self.where)
        if curves.is_empty():
            return head + para("No epoch logs for these runs.")
        return head + self.chart(
            charts.epoch_panels(curves), "Mean ‖z‖₂ of the logits on a fixed evaluation batch (log axis), the rank of "
            "that batch's logits before and after softmax(z/T), and test accuracy, per epoch; bands ± 1 std over "
            "seeds where n ≥ 2.", f"{key}-logits")

    def _alignment(self, filters: dict, key: str) -> str:
        head = "<h3>Alignment of weights and representations</h3>"
        runs = self.q.alignment_runs(filters, where=self.where)
        if runs.is_empty():
            return head + para("No alignment rows for these runs.")
        temps = sorted(runs["temperature"].unique().to_list())
        chosen = list(dict.fromkeys([temps[0], temps[-1]]))
        top = 5
        overview = self.q.alignment_overview(filters, chosen, top=top, where=self.where)
        out = head + para(f"Mean |cos| of the top-{top} pairs of weight and representation singular vectors "
                          "(the diagonal), per epoch and layer, at the lowest and highest temperature.", "note")
        for t in chosen:
            part = overview.filter(pl.col("temperature") == t)
            if part.is_empty():
                continue
            n = int(part["n"].max())
            out += self.chart(charts.heatmap(part, x="epoch", y="layer_name", value="value", y_title="layer",
                                             title=f"{charts.t_label(t)} (mean over {n} seed{'s' if n != 1 else ''})",
                                             size=260),
                              f"{charts.t_label(t)}: mean diagonal |cos|, n = {n}.", f"{key}-align-T{t:g}")
        return out

    # ---- environment ----------------------------------------------------------------------------------

    def _ids(self) -> list[str]:
        return self.results["run_id"].to_list()

    def environment_section(self) -> str:
        """What the warehouse records about where and with what the runs were made. Read defensively: the
        known columns of `runs`, any other column it has beyond the config and the bookkeeping (an environment
        record added later), and any table named like '*env*' with a run_id."""
        ids = self._ids()
        cols = self.q.q("SELECT column_name FROM information_schema.columns WHERE table_name = 'runs'",
                        where=self.where)["column_name"].to_list()
        known_env = ["source", "code_version", "host", "job_id"]
        bookkeeping = {*CONFIG_FIELDS, "_shard", "run_id", "sweep_id", "config_json", "analysis_json", "name", "tags", "note",
                       "status", "requeues", "last_epoch", "error", "updated_at", "config_group", "num_classes",
                       "learned", "created_at", "started_at", "ended_at"}
        sources = [("runs", c) for c in known_env if c in cols]
        sources += [("runs", c) for c in cols if c not in bookkeeping and c not in known_env and c[:1] != "_"]
        tables = self.q.q("SELECT table_name FROM duckdb_tables() UNION SELECT view_name FROM duckdb_views() "
                          "WHERE NOT internal", where=self.where)["table_name"].to_list()
        for t in sorted(t for t in tables if "env" in t.lower() and t != "runs"):
            tcols = self.q.q("SELECT column_name FROM information_schema.columns WHERE table_name = ?", [t],
                             self.where)["column_name"].to_list()
            if "run_id" in tcols:
                # which run, task and sweep a record belongs to is identity, not environment
                sources += [(t, c) for c in tcols if c not in ("run_id", "task_id", "sweep_id") and c[:1] != "_"]
        rows = []
        for tbl, col in sources:
            values = self.q.q(
                f'SELECT CAST("{col}" AS VARCHAR) AS v, count(*) AS n FROM "{tbl}" '
                "WHERE run_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY v ORDER BY n DESC, v", [ids], self.where)
            described = self._values(values)
            label = col if tbl == "runs" else f"{tbl}.{col}"
            distinct = values.filter(pl.col("v").is_not_null() & (pl.col("v") != "")).height
            flagged = distinct > 1 and not any(w in col.lower() for w in PER_JOB)
            rows.append([label, described, Cell("differs between runs" if flagged else "", cls="flag")])
        times = self.q.q("SELECT min(started_at) AS first, max(ended_at) AS last, "
                         "sum(epoch(ended_at - started_at)) AS busy_s FROM runs "
                         "WHERE run_id IN (SELECT unnest(?::VARCHAR[]))", [ids], self.where).row(0, named=True)
        if times["first"] is not None:
            rows.append(["ran", f"{times['first']:%Y-%m-%d %H:%M} – "
                                + (f"{times['last']:%Y-%m-%d %H:%M} UTC" if times["last"] else "(still running)")
                                + (f", {times['busy_s'] / 3600:.2f} run-hours" if times["busy_s"] else ""), ""])
        out = table(["recorded", "value (number of runs)", "note"], rows, cls="environment")
        out += para("'not recorded' means the warehouse has no value for those runs (made before the field "
                    "existed, or outside Thermoscope's launcher); an empty code version means an installed copy "
                    "rather than a git checkout.", "note")
        return out

    @staticmethod
    def _values(values: pl.DataFrame, most: int = 6) -> str:
        parts = []
        for v, n in values.head(most).iter_rows():
            text = "not recorded" if v is None else ("''" if v == "" else v)
            if len(text) > LONG_VALUE:
                text = f"{text[:60]}… ({len(text):,} characters, in the warehouse)"
            parts.append(f"{text} ({n})")
        if values.height > most:
            parts.append(f"and {values.height - most} more value(s)")
        return "; ".join(parts)

    # ---- reproduce -------------------------------------------------------------------------------------

    def reproduce_section(self) -> str:
        rows = self.q.q(
            "SELECT run_id, sweep_id, config_json, analysis_json, coalesce(source, 'trained') AS source, code_version "
            "FROM run_configs WHERE run_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY sweep_id, run_id",
            [self._ids()], self.where)
        trained = rows.filter(pl.col("source") == "trained")
        outside = rows.filter(pl.col("source") != "trained")
        out = para("A run's id is a hash of its whole config: each command below plans exactly the listed runs "
                   "again (checked here with the launcher's own config code). Add --executor local|slurm, Slurm "
                   "options and --wait as your machine needs: they are not part of a run. Finished runs are "
                   "skipped by the launcher; --force trains them again.", "note")
        versions = sorted({v for v in trained["code_version"].to_list() if v is not None})
        for sweep in sorted(trained["sweep_id"].unique().to_list()):
            mine = trained.filter(pl.col("sweep_id") == sweep)
            cmds = reproduce.commands(list(mine.select("run_id", "config_json", "analysis_json").iter_rows()))
            out += f"<h3>Sweep {esc(sweep)} ({mine.height} run(s) in this report)</h3>"
            mine_versions = sorted({v for v in mine["code_version"].to_list() if v})
            lines = [f"git checkout {v}   # the code the runs were made with" for v in mine_versions[:1]]
            lines += [c.text for c in cmds if c.args]
            out += code(lines)
            if len(mine_versions) > 1:
                out += para(f"These runs were made by {len(mine_versions)} code versions "
                            f"({', '.join(mine_versions)}): the numbers may not compare.", "warn")
            elif not mine_versions:
                out += para("No git commit is recorded for these runs (made from an installed copy): the code "
                            "version that made them is not known.", "warn")
            planned = {r for c in cmds for r in c.run_ids}
            missing = sorted(set(mine["run_id"].to_list()) - planned)
            if missing or not all(c.exact for c in cmds):
                shown = ", ".join(i[:8] for i in missing[:6]) + ("…" if len(missing) > 6 else "")
                out += para(f"{len(missing)} of these {mine.height} stored run ids are not what the commands plan "
                            f"with this checkout's config code{f' ({shown})' if shown else ''}: the runs were made "
                            "by another version of the code (check it out first) or their configs were written "
                            "by other tools.", "warn")
        if outside.height:
            names = [f"{r['run_id']} ({r['source']}, sweep {r['sweep_id']})" for r in outside.iter_rows(named=True)]
            out += "<h3>Runs Thermoscope did not train</h3>" + para(
                "Measured from weights trained elsewhere (analyse-model) or inside your own loop (Tracker): the "
                "launcher cannot make them again; their configs are in run_configs.config_json.") + bullets(names)
        if len(versions) > 1:
            out += para(f"The selection mixes {len(versions)} code versions: {', '.join(versions)}.", "warn")
        return out


def build_report(filters: dict[str, Any], where: Home | None = None, *, described: str = "",
                 q: Queries | None = None) -> Report:
    """The report of the runs matching `filters` (Queries.config_where's form, plus 'sweep_id');
    ReportError when none match."""
    where = where or home()
    selection = Selection(dict(filters), described or (", ".join(f"{k}={v}" for k, v in filters.items()) or
                                                      "every run"))
    return _Builder(selection, where, q or Queries(read_query)).build()


# ---- the command ------------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"report: {message}; see `{self.prog} --help`\n")


def parser(prog: str = "thermoscope report") -> argparse.ArgumentParser:
    p = _Parser(prog=prog, description="Write one self-contained HTML report (figures, tables, environment, the "
                "commands that make the runs again) for the runs of some sweeps, narrowed by --set values.")
    p.add_argument("sweeps", nargs="*", metavar="SWEEP_ID", help="sweeps to report on (default: the latest)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=V1,V2",
                   help="keep runs whose config field has one of these values (repeatable)")
    p.add_argument("--out", default="report.html", help="the HTML file to write (default: report.html)")
    p.add_argument("--home", help="Thermoscope home (default: $THERMOSCOPE_HOME or ./thermoscope-home)")
    return p


def write_atomically(path: Path, text: str) -> None:
    """Write next to the target, then rename: a reader never opens half a report, and a failure leaves what
    was there before."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None, prog: str = "thermoscope report") -> int:
    from warehouse.migrate import WarehouseTooNew
    from warehouse.read import WarehouseMissing, WarehouseOutdated

    args = parser(prog).parse_args(sys.argv[1:] if argv is None else argv)
    where = home(args.home)
    out = Path(args.out)
    try:
        if out.is_dir():
            raise ReportError(f"--out {out} is a folder; give a file name such as {out / 'report.html'}")
        if not out.parent.is_dir():
            raise ReportError(f"--out {out}: the folder {out.parent} does not exist; create it or write elsewhere")
        if not where.database.exists():
            raise ReportError(f"no warehouse at {where.database}; ingest first (python -m warehouse ingest)")
        selection = select(args.sweeps, args.set, where)
        report = build_report(selection.filters, where, described=selection.described)
        write_atomically(out, report.html)
    except ReportError as exc:
        print(f"report: {exc}", file=sys.stderr)
        return 2
    except (WarehouseMissing, WarehouseOutdated, WarehouseTooNew) as exc:
        print(f"report: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({len(report.html) / 1024:,.0f} KiB): {report.runs} run(s), {report.charts} chart(s), "
          f"{selection.described}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
