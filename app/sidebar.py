"""The sidebar launch form: builds a sweep with the CLI's own code and submits it through the launch API.

Validation is `lab.sweeps.spec` / `training.config` / `slurm.SlurmOptions` itself, so the form says
exactly what `python -m training.launch` would say ("launch: <reason>"); its Slurm fields are built
from the `SlurmOptions` declarations, like the CLI's flags. Check plans without writing anything.
Nothing here imports torch: the launch API loads it only inside the submitted job.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from warehouse.paths import Home, home

FROM_PRESET = "(preset's)"
LAUNCH_OPEN = "lf-open"  # the launch box's open state (a widget key: it survives reruns and page switches)


# The form's own labels for the config fields it has boxes for: messages name the box a person typed in.
FIELD_LABELS = {"temperature": "temperatures", "seed": "seeds", "arch": "architecture", "dataset": "dataset",
                "loss": "loss", "preset": "preset"}
DEMO_NOTE = ("preset 'demo' with temperatures 1,10,100 and seeds 0,1 is the demo sweep (sweeps/demo.toml): "
             "the embedded MLP on 8x8 digits; its runs group with the demo's")


class FormError(ValueError):
    """A mistake in one box of the form, in the form's words (not the CLI's)."""


@dataclass
class FormValues:
    preset: str = "demo"
    arch: str = FROM_PRESET
    dataset: str = FROM_PRESET
    loss: str = FROM_PRESET
    temperatures: str = "1,10,100"  # with seeds 0,1 and preset demo: exactly sweeps/demo.toml
    seeds: str = "0,1"
    extra: str = ""  # one FIELD=V1,V2 per line, exactly like --set
    executor: str = "auto"
    force: bool = False
    slurm: dict[str, Any] = field(default_factory=dict)
    name: str = ""
    tags: str = ""  # comma-separated
    note: str = ""


def build_sweep(v: FormValues):
    """The sweep the form describes, built with the CLI's own `--set` code; FormError naming the box if wrong."""
    from lab.sweeps.spec import Sweep, parse_set
    from training.config import ConfigError

    items: list[tuple[str, str]] = []  # (box label, --set item)
    for name in ("arch", "dataset", "loss"):
        value = getattr(v, name)
        if value and value != FROM_PRESET:
            items.append((FIELD_LABELS[name], f"{name}={value}"))
    items += [("temperatures", f"temperature={v.temperatures}"), ("seeds", f"seed={v.seeds}")]
    items += [("more fields", line.strip()) for line in v.extra.splitlines()
              if line.strip() and not line.strip().startswith("#")]
    for label, item in items:
        try:
            parse_set(item)
        except ConfigError as exc:
            raise FormError(plain(label, item, str(exc))) from None
    return Sweep(base={"preset": v.preset}).with_overrides([item for _, item in items])


def plain(label: str, item: str, message: str) -> str:
    """A `--set` message in the form's words: 'temperatures: '1,,10' has an empty value between commas'."""
    name, _, raw = item.partition("=")
    if label == "more fields":  # that box takes FIELD=V lines, so the CLI's words are the box's words
        return f"more fields: line {item!r}: {message.replace('--set ', '')}"
    if "empty value between commas" in message:
        return f"{label}: {raw.strip()!r} has an empty value between commas; give values like 1,10,100"
    if "has no values" in message:
        return f"{label}: empty; give at least one value, e.g. {'1,10,100' if name == 'temperature' else '0,1'}"
    return f"{label}: {message.replace(f'--set {item}', repr(raw)).replace('--set ', '')}"


def config_message(message: str) -> str:
    """A config error (training/config.py names the field) prefixed with the form's box for that field."""
    for name, label in FIELD_LABELS.items():
        if message.startswith((f"{name} ", f"{name}:", f"{name!r}")) or f"field {name!r}" in message:
            return f"{label}: {message}"
    return message.replace("--set ", "")


def vet_paths(sweep) -> None:
    """FormError, in one message whatever the reason, for a typed path outside the allowed data roots, missing
    or unreadable (training/datafiles.py): the form never says whether a path it cannot use exists."""
    from training.datafiles import PATH_KINDS, path_refusal, typed_paths, usable_path

    runs = [sweep.base, *({name: value} for name, values in sweep.grid.items() for value in values), *sweep.points]
    for values in runs:
        for name, value in values.items():
            if name in PATH_KINDS and any(not usable_path(p, PATH_KINDS[name]) for p in typed_paths(name, value)):
                raise FormError(path_refusal(FIELD_LABELS.get(name, f"more fields: {name}")))


@dataclass
class Checked:
    sweep: Any
    options: Any
    todo: list
    skipped: list
    data_notes: list  # training.datafiles.DataNote for each dataset not on disk
    estimate: Any  # lab.sweeps.estimate.Estimate of what would be submitted
    plan: Any  # lab.sweeps.plan.Plan: what Launch submits (the launcher re-plans only the runs it claims)

    @property
    def data_errors(self) -> list:
        return [n for n in self.data_notes if n.level == "error"]


def check(v: FormValues, where: Home | None = None) -> Checked:
    """Plan the form's sweep without writing anything; raises FormError / ConfigError / OptionError."""
    from lab.sweeps.estimate import estimate
    from lab.sweeps.plan import plan
    from slurm import SlurmOptions
    from training.config import ConfigError
    from training.datafiles import check_data

    sweep = build_sweep(v)
    vet_paths(sweep)  # before anything looks at a typed path in detail (validate, check_data)
    try:
        sweep.check_size()  # counted, not expanded: a huge grid is refused in microseconds
        sweep.settings()  # the [analysis] values, checked like the CLI checks them
        configs = sweep.configs()
    except ConfigError as exc:
        raise FormError(config_message(str(exc))) from None
    options = SlurmOptions.from_dict({k: val for k, val in v.slurm.items() if val not in ("", None)})
    p = plan(sweep, force=v.force, where=where or home())
    return Checked(sweep, options, p.todo, p.skipped, check_data(configs), estimate(p.todo), p)


@st.cache_resource
def _launched() -> dict[str, Any]:
    """Jobs submitted from this app process, by sweep id: local jobs can only be cancelled through them."""
    return {}


def launched_jobs() -> dict[str, Any]:
    return _launched()


def submit(v: FormValues, where: Home | None = None, checked: Checked | None = None):
    """Launch the form's sweep. `checked` is this click's own check of the same values: what it planned is what
    is submitted (one plan per click, plus the launcher's re-plan of the runs it claims)."""
    from lab.records.configs import RunLabels
    from lab.sweeps.launch import launch

    where = where or home()
    checked = checked or check(v, where)
    if checked.data_errors:  # the job would fail at once: say so here instead
        raise FormError(checked.data_errors[0].text)
    result = launch(checked.sweep, executor=v.executor, slurm=checked.options, force=v.force, where=where,
                    labels=RunLabels.typed(v.name, v.tags, v.note), planned=checked.plan)
    if result.jobs:
        _launched()[result.sweep_id] = result.jobs
    return result


def jobs_link(where: Any = None, label: str = "**Jobs**: follow sweeps") -> None:
    """A link to the Jobs page at the top of every page's sidebar: Streamlit's page list folds after 10
    pages ("View more"), and Jobs is the 12th; a link here needs no setting and no renumbering of pages.
    `st.page_link` navigates inside the app (a markdown link opens a new tab); where the page list is not
    the app's (a page run on its own, as AppTest does) the markdown link stands in."""
    from streamlit.errors import StreamlitAPIException

    where = where or st.sidebar
    try:
        where.page_link("pages/11_Jobs.py", label=label, icon="📋")
    except StreamlitAPIException:
        where.markdown(f"[📋 {label}](/Jobs)")


def launch_form(expanded: bool = False) -> None:
    from app.jobs import reap
    from slurm import EXECUTORS, OptionError, SlurmOptions
    from slurm.options import form_options
    from training.config import ARCHITECTURES, DATASETS, LOSSES, PRESETS, ConfigError

    jobs_link()
    reap(_launched())  # finished local jobs of this server: collect them so none stays a zombie
    # lazy: the form's ~25 widgets are built (and drawn by the browser) only while the box is open. A closed
    # box used to cost every page and every rerun its whole form, the largest share of a page's elements.
    box = st.sidebar.expander("🚀 Launch a sweep", expanded=expanded, key=LAUNCH_OPEN, on_change="rerun")
    if not box.open:
        return
    defaults = SlurmOptions()
    messages = box.container()  # above the form: what Check and Launch say is seen without scrolling
    with box.form("launch-form"):
        preset = st.selectbox("preset", list(PRESETS), index=list(PRESETS).index("demo"), key="lf-preset",
                              help="Table 4's recipes; 'demo' is the embedded MLP on 8x8 digits (the demo sweep's)")
        st.caption(DEMO_NOTE)
        arch = st.selectbox("architecture", [FROM_PRESET, *ARCHITECTURES], key="lf-arch")
        dataset = st.selectbox("dataset", [FROM_PRESET, *DATASETS], key="lf-dataset")
        loss = st.selectbox("loss", [FROM_PRESET, *LOSSES], key="lf-loss")
        temps = st.text_input("temperatures", FormValues.temperatures, key="lf-temps",
                              help="comma-separated values, e.g. 1,10,100")
        seeds = st.text_input("seeds", FormValues.seeds, key="lf-seeds", help="comma-separated integers, e.g. 0,1")
        extra = st.text_area("more fields (one FIELD=V1,V2 per line)", "", key="lf-extra",
                             placeholder="epochs=1\nwidth=16\ndepth=2\nood=svhn+cifar100",
                             help="exactly what `--set` takes; any config field")
        name = st.text_input("run name", "", key="lf-name", help="stored with every run of this launch and shown "
                             "where runs are listed; not part of a run's identity")
        tags = st.text_input("tags", "", key="lf-tags", help="comma-separated, e.g. baseline,lr-test")
        note = st.text_area("note", "", key="lf-note", height=68)
        executor = st.selectbox("executor", list(EXECUTORS), key="lf-executor")
        force = st.checkbox("run again what already finished (--force)", key="lf-force")
        with st.expander("Slurm options"):
            slurm = {f.name: _slurm_field(f, getattr(defaults, f.name)) for f in form_options()}
        c1, c2 = st.columns(2)
        checking = c1.form_submit_button("Check")
        going = c2.form_submit_button("Launch", type="primary")
    if not (checking or going):
        return
    values = FormValues(preset, arch, dataset, loss, temps, seeds, extra, executor, force,
                        {k: (int(x) if isinstance(x, float) else x) for k, x in slurm.items()}, name, tags, note)
    try:
        checked = check(values)
    except (FormError, ConfigError, OptionError) as exc:
        messages.error(f"launch: {exc}")
        return
    # plan() skips runs that finished, and runs queued or running in another sweep
    messages.info(f"{len(checked.todo)} run(s) to submit, {len(checked.skipped)} already exist"
                  + (" (finished, queued or running; --force runs finished ones again)"
                     if checked.skipped and not force else ""))
    if checked.todo:
        parallel = (os.cpu_count() or 1) if executor == "local" else 1
        messages.caption(f"size: {checked.estimate.describe(parallel=min(parallel, len(checked.todo)))}")
    for note_ in checked.data_notes:
        (messages.error if note_.level == "error" else messages.warning)(f"data: {note_.text}")
    if not going:
        return
    if not checked.todo:
        messages.warning("nothing to run: every run of the sweep already exists (tick --force to run finished "
                         "ones again)")
        return
    if checked.data_errors:
        messages.error("launch: not submitted: a dataset the runs need is missing (see above)")
        return
    try:
        result = submit(values, checked=checked)
    except (FormError, ConfigError, OptionError) as exc:
        messages.error(f"launch: {exc}")
        return
    st.session_state.setdefault("launched", []).append(result.sweep_id)
    messages.success(f"sweep {result.sweep_id}: submitted {len(result.runs)} run(s) in {len(result.job_ids)} "
                     f"{result.executor} job(s); each job loads its results into the warehouse when it ends.")
    jobs_link(messages, "follow it on the **Jobs** page")
    for warning in result.warnings:  # e.g. a request larger than the partition's nodes (slurm/fit.py)
        messages.warning(f"launch: warning: {warning}")


def _slurm_field(f, default: Any) -> Any:
    """One Slurm option's form field, from its declaration (slurm/options.py): label, bounds, help."""
    meta = f.metadata
    if isinstance(default, int) and not isinstance(default, bool):
        return st.number_input(meta["label"], meta["low"], meta["high"], default, help=meta["doc"],
                               key=f"lf-slurm-{f.name}")
    return st.text_input(meta["label"], default, help=meta["doc"], key=f"lf-slurm-{f.name}")
