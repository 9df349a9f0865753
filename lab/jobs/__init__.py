"""What runs on a node: the training job, the analysis job and the pipeline they share.

Imports the records and outside rooms.

    run_job.py      RunJob, what a launched sweep's job runs: packs of runs (a solo run is a pack of one), requeue
    pipeline.py     a pack start to end: data, models, training (solo or packed loop), analysis, rows
    rebuild.py      a kept checkpoint back into its model and data (re-analysis)
    tasks.py        one analysis task (a checkpoint, or an outside model) and its registry
    analyse_job.py  AnalyseJob, what an analysis sweep's job runs: its tasks one after another
"""
