"""The sidebar launch form: builds a sweep with the CLI's own code and submits it through the launch API.

Validation is `lab.sweep` / `training.config` / `slurm.SlurmOptions` itself, so the form says
exactly what `python -m training.launch` would say ("launch: <reason>"); its Slurm fields are built
from the `SlurmOptions` declarations, like the CLI's flags. Check plans without writing anything.
Nothing here imports torch: the launch API loads it only inside the submitted job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from warehouse.paths import Home, home

FROM_PRESET = "(preset's)"


@dataclass
class FormValues:
    preset: str = "demo"
    arch: str = FROM_PRESET
    dataset: str = FROM_PRESET
    loss: str = FROM_PRESET
    temperatures: str = "1,10,100"
    seeds: str = "0,1,2"
    extra: str = ""  # one FIELD=V1,V2 per line, exactly like --set
    executor: str = "auto"
    force: bool = False
    slurm: dict[str, Any] = field(default_factory=dict)


def build_sweep(v: FormValues):
    """The sweep the form describes, as the CLI would build it from `--set` items; ConfigError if wrong."""
    from lab.sweep import Sweep

    sets = []
    for name in ("arch", "dataset", "loss"):
        value = getattr(v, name)
        if value and value != FROM_PRESET:
            sets.append(f"{name}={value}")
    sets += [f"temperature={v.temperatures}", f"seed={v.seeds}"]
    sets += [line.strip() for line in v.extra.splitlines() if line.strip() and not line.strip().startswith("#")]
    return Sweep(base={"preset": v.preset}).with_overrides(sets)


def check(v: FormValues, where: Home | None = None) -> tuple[Any, Any, list, list]:
    """(sweep, slurm options, runs to submit, runs that already exist); raises ConfigError / OptionError."""
    from lab.plan import plan
    from slurm import SlurmOptions

    sweep = build_sweep(v)
    sweep.settings()  # the [analysis] values, checked like the CLI checks them
    options = SlurmOptions.from_dict({k: val for k, val in v.slurm.items() if val not in ("", None)})
    p = plan(sweep, force=v.force, where=where or home())
    return sweep, options, p.todo, p.skipped


@st.cache_resource
def _launched() -> dict[str, Any]:
    """Jobs submitted from this app process, by sweep id: local jobs can only be cancelled through them."""
    return {}


def launched_jobs() -> dict[str, Any]:
    return _launched()


def submit(v: FormValues, where: Home | None = None):
    from lab.launch import launch

    where = where or home()
    sweep, options, _, _ = check(v, where)
    result = launch(sweep, executor=v.executor, slurm=options, force=v.force, where=where)
    if result.jobs:
        _launched()[result.sweep_id] = result.jobs
    return result


def launch_form(expanded: bool = False) -> None:
    from slurm import EXECUTORS, OptionError, SlurmOptions
    from slurm.options import form_options
    from training.config import ARCHITECTURES, DATASETS, LOSSES, PRESETS, ConfigError

    defaults = SlurmOptions()
    box = st.sidebar.expander("🚀 Launch a sweep", expanded=expanded)
    with box.form("launch-form"):
        preset = st.selectbox("preset", list(PRESETS), index=list(PRESETS).index("demo"), key="lf-preset",
                              help="Table 4's recipes; 'demo' is the embedded MLP on 8x8 digits")
        arch = st.selectbox("architecture", [FROM_PRESET, *ARCHITECTURES], key="lf-arch")
        dataset = st.selectbox("dataset", [FROM_PRESET, *DATASETS], key="lf-dataset")
        loss = st.selectbox("loss", [FROM_PRESET, *LOSSES], key="lf-loss")
        temps = st.text_input("temperatures", "1,10,100", key="lf-temps", help="comma-separated, like --set")
        seeds = st.text_input("seeds", "0,1,2", key="lf-seeds")
        extra = st.text_area("more fields (one FIELD=V1,V2 per line)", "", key="lf-extra",
                             placeholder="epochs=1\nwidth=16\ndepth=2\nood=svhn+cifar100",
                             help="exactly what `--set` takes; any config field")
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
                        {k: (int(x) if isinstance(x, float) else x) for k, x in slurm.items()})
    try:
        _, _, todo, skipped = check(values)
    except (ConfigError, OptionError) as exc:
        box.error(f"launch: {exc}")
        return
    # plan() skips runs that finished, and runs queued or running in another sweep
    box.info(f"{len(todo)} run(s) to submit, {len(skipped)} already exist"
             + (" (finished, queued or running; --force runs finished ones again)" if skipped and not force else ""))
    if not going:
        return
    if not todo:
        box.warning("nothing to run: every run of the sweep already exists (tick --force to run finished ones again)")
        return
    try:
        result = submit(values)
    except (ConfigError, OptionError) as exc:
        box.error(f"launch: {exc}")
        return
    st.session_state.setdefault("launched", []).append(result.sweep_id)
    box.success(f"sweep {result.sweep_id}: submitted {len(result.runs)} run(s) in {len(result.job_ids)} "
                f"{result.executor} job(s). Follow it on the Jobs page.")
    for warning in result.warnings:  # e.g. a request larger than the partition's nodes (slurm/fit.py)
        box.warning(f"launch: warning: {warning}")


def _slurm_field(f, default: Any) -> Any:
    """One Slurm option's form field, from its declaration (slurm/options.py): label, bounds, help."""
    meta = f.metadata
    if isinstance(default, int) and not isinstance(default, bool):
        return st.number_input(meta["label"], meta["low"], meta["high"], default, help=meta["doc"],
                               key=f"lf-slurm-{f.name}")
    return st.text_input(meta["label"], default, help=meta["doc"], key=f"lf-slurm-{f.name}")
