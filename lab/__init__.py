"""The lab: where runs are planned, launched, executed and followed (Thermoscope's orchestration wing).

    sweep.py     sweep files and --set: a grid of run configs, one set of analysis settings, Slurm options
    plan.py      which runs to submit, which to skip (pure: reads, never writes)
    launch.py    the launch API (torch-free; the dashboard calls it), the run_configs rows
    job.py       RunJob, what a job runs: packs of runs (a solo run is a pack of one), requeue
    pipeline.py  a pack start to end: data, models, training (solo or packed loop), analysis, rows
    events.py, heartbeat.py, manifest.py, reconcile.py, follow.py
                 run statuses, liveness, which job runs what, the executor's verdicts, status/wait/cancel
    rebuild.py   a checkpoint back into a model and its data (re-analysis)
    analyses.py  the record of how each (run, epoch) was measured (table `analyses`), settings hashes
    analyse_tasks.py, analyse_job.py, analysis_sweep.py, reanalyse.py
                 analysis as jobs of its own: one task per checkpoint, AnalyseJob, one job array, the command
    outside_models.py, outside_data.py, outside_runs.py, model_cli.py
                 networks trained elsewhere: model specs and weights, their data, their runs, analyse-model
    tracker.py   Tracker: measuring inside the user's own training loop; lightning.py its Lightning callback
    analyse_cli.py, init_norms.py, calibrate.py, cli.py
                 the commands (`thermoscope …`, `python -m training.launch`, `python -m analysis`)

The lab imports the libraries (training, analysis), the warehouse and the executors (slurm); none of
them imports the lab. Importing `lab` (or lab.launch, lab.job) does not load torch; `from lab import
Tracker` loads it then.
"""


def __getattr__(name: str):
    if name == "Tracker":  # lazily: the launcher and the dashboard import `lab` without torch
        from lab.tracker import Tracker

        return Tracker
    raise AttributeError(f"module 'lab' has no attribute {name!r}")
