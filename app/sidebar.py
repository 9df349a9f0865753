"""The sidebar launch form: builds a sweep with the CLI's own code and submits it through the launch API.

Validation is `training.sweep` / `training.config` / `slurm.SlurmOptions` itself, so the form
says exactly what `python -m training.launch` would say ("launch: <reason>"). Nothing here
imports torch: `training.launch` loads it only inside the submitted job.
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
    from training.sweep import Sweep

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
    from slurm import SlurmOptions
    from training.launch import plan

    sweep = build_sweep(v)
    options = SlurmOptions.from_dict({k: val for k, val in v.slurm.items() if val not in ("", None)})
    todo, skipped = plan(sweep, force=v.force, where=where or home())
    return sweep, options, todo, skipped


@st.cache_resource
def _launched() -> dict[str, Any]:
    """Jobs submitted from this app process, by sweep id: local jobs can only be cancelled through them."""
    return {}


def launched_jobs() -> dict[str, Any]:
    return _launched()


def submit(v: FormValues, where: Home | None = None):
    from training.launch import launch

    where = where or home()
    sweep, options, _, _ = check(v, where)
    result = launch(sweep, executor=v.executor, slurm=options, force=v.force, where=where)
    if result.jobs:
        _launched()[result.sweep_id] = result.jobs
    return result


def launch_form(expanded: bool = False) -> None:
    from slurm import EXECUTORS, SlurmOptions
    from slurm.executor import OptionError
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
            slurm = {
                "partition": st.text_input("partition", defaults.partition, key="lf-partition"),
                "gpus_per_node": st.number_input("GPUs per job", 0, 64, defaults.gpus_per_node, key="lf-gpus"),
                "cpus_per_task": st.number_input("CPUs per task", 1, 256, defaults.cpus_per_task, key="lf-cpus"),
                "mem_gb": st.number_input("memory [GB]", 0, 4096, defaults.mem_gb, key="lf-mem"),
                "timeout_min": st.number_input("time limit [min]", 1, 60 * 24 * 14, defaults.timeout_min,
                                               key="lf-timeout"),
                "account": st.text_input("account", defaults.account, key="lf-account"),
                "qos": st.text_input("qos", defaults.qos, key="lf-qos"),
                "constraint": st.text_input("constraint", defaults.constraint, key="lf-constraint"),
                "array_parallelism": st.number_input("array tasks at once", 1, 10_000, defaults.array_parallelism,
                                                     key="lf-parallel"),
            }
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
