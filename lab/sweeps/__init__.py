"""Sweeps, from a spec to submitted jobs and back: spec, plan, estimate, claims, launch, follow.

Imports the records and jobs rooms. Torch-free: the dashboard's launch form uses it.

    spec.py            sweep files and --set: a grid of run configs, analysis settings, Slurm options
    plan.py            which runs to submit and which to skip (pure: reads, never writes)
    estimate.py        how big a sweep is and roughly how long it takes
    claims.py          the same run launched twice at once is submitted once
    launch.py          the launch API: launch(sweep) -> LaunchResult, one job array
    follow.py          status, wait, cancel
    analysis_sweep.py  analysis as a sweep of its own: one job array of analysis tasks
"""
