"""What is stored about runs and sweeps: status events, heartbeats, manifests, the run_configs row, the record of
each measurement, verdicts, reconciliation with the executor, provenance (code version, job environment).

The lowest room of the lab: it imports no other room.

    events.py      run_events / jobs shards: every status change, and reading them back
    heartbeat.py   a thread that keeps a job's `jobs` row fresh while it trains
    manifest.py    sweep.json: which job runs which runs; sweep ids
    configs.py     the run_configs row (config, settings, labels) and reading single values back
    analyses.py    how each (run, epoch) was measured (table `analyses`), settings hashes
    verdict.py     did a run learn?
    reconcile.py   runs whose job ended while their last event still says queued/running; cancel
    provenance.py  the code version, the job's id and executor
    config_columns.py  writes warehouse/config_columns.py from RunConfig (python -m lab.records.config_columns)
"""
