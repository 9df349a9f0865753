"""The lab: where runs are planned, launched, executed and followed (Thermoscope's orchestration wing).

Five rooms, each of one kind, each importing only the rooms listed before it:

    records/   what is stored about runs: events, heartbeats, manifests, run_configs rows, analyses records,
               verdicts, reconciliation, provenance
    outside/   networks and loops from elsewhere: timm/torchvision/your models, their data, Tracker, Lightning
    jobs/      what runs on a node: RunJob, AnalyseJob, the pipeline (train -> analyse -> rows), rebuild
    sweeps/    sweep spec, plan, estimate, claims, launch (the torch-free launch API), follow
    commands/  the commands people type (`thermoscope …`, `python -m training.launch`, `python -m analysis`)

The lab imports the libraries (training, analysis), the warehouse and the executors (slurm); none of
them imports the lab. Importing `lab` (or lab.sweeps.launch, lab.jobs.run_job) does not load torch; `from lab import
Tracker` loads it then. lab/jobs/run_job.py and lab/jobs/analyse_job.py only re-export for jobs queued before 0.3 (see there).
"""


def __getattr__(name: str):
    if name == "Tracker":  # lazily: the launcher and the dashboard import `lab` without torch
        from lab.outside.tracker import Tracker

        return Tracker
    raise AttributeError(f"module 'lab' has no attribute {name!r}")
