"""The warehouse schema: one source of truth for every table, column, type, unit and meaning.

Jobs write shards with exactly these columns (`warehouse.shards` checks); ingest creates the
DuckDB tables from them; `SCHEMA.md` documents them. Every table is tidy (long): one row per
measured number, carrying the run id, the epoch it was measured at, the layer where it is per
layer, and the dataset/split it was measured on.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from thermoscope.status import ENDED_OK, ORDER, TERMINAL, RunStatus, stage
from warehouse.config_columns import CONFIG_COLUMNS

# v0: files made before versioning (no _meta); v1: the seed layout (rows tagged with `_shard`);
# v2: `_shards` also keys on the inode, `runs` gains config_group/ended_at rules, derived `layer_stats`;
# v3: `run_configs` holds every config field (checkpoint_epochs added; its columns are derived from the
#     run config) and the run's analysis settings (`analysis_json`);
# v4: `run_datasets` (classes and sizes of each run's data) and `runs.learned` / `runs.num_classes`;
# v5: `run_configs.source` (trained here or analysed from elsewhere) and the run's `name`, `tags`, `note`;
# v6: `analyses` (the settings each (run, epoch) was measured with, so re-analysis skips what it would repeat);
# v7: `run_environments` (what each job that trained, analysed or tracked a run actually ran on: versions,
#     commit and uncommitted diff, device, threads, host, Slurm allocation, start and end).
# v8: probe protocol and convergence record: layer_metrics.probe_* (protocol, iterations, train loss and accuracy,
#     gradient norm, converged, note), run_metrics.probe_protocol, layer_stats.probe_protocol, runs.probes_converged.
# Bump it whenever a stored table, column or view changes, and add the step to warehouse/migrate.py.
SCHEMA_VERSION = 8


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    doc: str  # meaning, with the unit in brackets where there is one
    # schema version that added the column: shards written before it may lack it (loaded as NULL);
    # a shard missing a column it should have is quarantined
    since: int = 1


@dataclass(frozen=True)
class Table:
    name: str
    doc: str
    columns: tuple[Column, ...]

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.type) for c in self.columns])

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _t(name: str, doc: str, *cols: tuple) -> Table:
    return Table(name, doc, tuple(Column(*c) for c in cols))


STATUS_WORDS = " | ".join(ORDER)


_RUN = ("run_id", pa.string(), "stable hash of the run's config and seed (16 hex chars)")
_EPOCH = ("epoch", pa.int32(), "epoch the value was measured after (0 = at initialisation) [epoch]")
_LAYER_INDEX = ("layer_index", pa.int32(), "0-based position of the layer tap, input side first [index]")
_LAYER_NAME = ("layer_name", pa.string(), "the tap's name, e.g. 'hidden3', 'logits', 'softmax'")
_DATASET = ("dataset", pa.string(), "dataset the value was measured on (ID name or OOD name)")
_DETAIL = ("detail", pa.string(), "JSON with the method's parameters (tolerance, dtype, samples, ...)")
# The convergence record of a probe row (metric 'probe_acc'); NULL on every other row (analysis/probes.py).
_PROBE_COLUMNS = (
    ("probe_protocol", pa.string(), "probe rows: 'converged' (L2 logistic regression solved to a gradient tolerance) "
     "or 'paper' (Table 5: Adam, 50 epochs, batch 4096); NULL on other rows and on probe rows made before v8, which "
     "all used the paper protocol", 8),
    ("probe_iterations", pa.int64(), "probe rows: L-BFGS iterations (converged) or Adam steps (paper) [count]", 8),
    ("probe_train_loss", pa.float64(), "probe rows: mean cross-entropy on the probe's train rows at the end, "
     "penalty excluded [nats]", 8),
    ("probe_train_acc", pa.float64(), "probe rows: the probe's accuracy on its own train rows [fraction]", 8),
    ("probe_grad_norm", pa.float64(), "probe rows: ||gradient||_2 of the objective (mean CE + lambda/2 ||W||^2) "
     "at the end [nats per weight unit]", 8),
    ("probe_converged", pa.bool_(), "probe rows: gradient norm <= the tolerance (analysis.probe_tol); false when "
     "the iteration cap or the paper's step budget stopped it first, or the input was broken", 8),
    ("probe_note", pa.string(), "probe rows: '' or one line on what was odd (dead features, a single class, NaN "
     "input, the cap reached)", 8),
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in [
        _t(
            "run_configs",
            "One row per run: its full config (the contract's field names), written when the run is created.",
            _RUN,
            ("sweep_id", pa.string(), "the sweep that created the run"),
            *CONFIG_COLUMNS,  # one column per run-config field (warehouse/config_columns.py)
            ("config_json", pa.string(), "the whole config as JSON (every field, including ones added later)"),
            ("analysis_json", pa.string(), "the analysis settings the run is measured with, as JSON "
             "(analysis/settings.py; NULL for runs made before v3)", 3),
            ("source", pa.string(), "'trained' (trained by Thermoscope), 'analysed' (a network trained elsewhere, "
             "measured here from its weights) or 'tracked' (trained in the user's own loop, measured while it trains "
             "by lab.Tracker); config fields an outside run does not know are NULL; NULL for runs made before v5", 5),
            ("name", pa.string(), "the run's human name ('' when none was given)", 5),
            ("tags", pa.list_(pa.string()), "free labels to find and group runs by", 5),
            ("note", pa.string(), "free text about the run ('' when none)", 5),
            ("code_version", pa.string(), "git commit of the code that created the run"),
            ("created_at", pa.timestamp("us", tz="UTC"), "when the run was created [UTC]"),
        ),
        _t(
            "run_events",
            "Every status change of every run (append-only); `runs` shows the latest per run. An analysis job's "
            "tasks report here too, under their task id '<run_id>-eNNNN' (that run's checkpoint of epoch NNNN), so a "
            "re-analysis never changes the status of the run it measures.",
            ("run_id", pa.string(), "the run (16 hex chars), or an analysis task '<run_id>-eNNNN'"),
            ("sweep_id", pa.string(), "the sweep of the run"),
            ("ts", pa.timestamp("us", tz="UTC"), "when the status changed [UTC]"),
            ("status", pa.string(), STATUS_WORDS),
            ("host", pa.string(), "host the job ran on"),
            ("job_id", pa.string(), "executor job id (Slurm job id, array form '123_4')"),
            ("requeues", pa.int32(), "how many times the job was requeued so far [count]"),
            ("epoch", pa.int32(), "last completed epoch at the time of the event [epoch]"),
            ("message", pa.string(), "error message or traceback; reason for divergence; '' otherwise"),
        ),
        _t(
            "run_datasets",
            "The data each run was trained and measured on, as the job found it: one row per (run, dataset).",
            _RUN,
            ("dataset", pa.string(), "dataset name (the config's `dataset` or one of its `ood`)"),
            ("role", pa.string(), "'id' (trained on) or 'ood' (out of distribution)"),
            ("num_classes", pa.int64(), "classes in the data itself (class folders for folder: sets) [count]"),
            ("n_train", pa.int64(), "training split size; NULL for streamed folders [samples]"),
            ("n_test", pa.int64(), "test split size; NULL for streamed folders [samples]"),
        ),
        _t(
            "analyses",
            "How each (run, epoch) was last measured: one row per analysis, replaced with its rows when the "
            "checkpoint is analysed again (`python -m analysis reanalyse` skips a checkpoint whose row has the same "
            "settings_hash and status 'finished').",
            _RUN,
            _EPOCH,
            ("settings_hash", pa.string(), "hash of everything the rows depend on besides the weights: the analysis "
             "settings, the OOD sets and, for networks trained elsewhere, the input preprocessing and tap choice "
             "(16 hex chars)", 6),
            ("settings_json", pa.string(), "the analysis settings used, as JSON (analysis/settings.py)", 6),
            ("ood", pa.list_(pa.string()), "the OOD datasets measured", 6),
            ("spec_json", pa.string(), "everything settings_hash covers, as JSON (the task that made the rows)", 6),
            ("taps", pa.string(), "how the layers were found: 'declared' (the model's own layer_taps), 'timm', "
             "'fx' or 'hooks' (analysis/discover.py)", 6),
            ("checkpoint", pa.string(), "the weights file measured ('' for a model measured in memory)", 6),
            ("checkpoint_sha256", pa.string(), "SHA-256 of that file ('' when none)", 6),
            ("sweep_id", pa.string(), "the sweep or analysis sweep that measured it", 6),
            ("status", pa.string(), "'finished' or 'failed' (rows measured before a failure are kept)", 6),
            ("message", pa.string(), "why it failed; '' otherwise", 6),
            ("n_rows", pa.int64(), "rows written to layer_metrics, run_metrics and alignment [count]", 6),
            ("wall_s", pa.float64(), "time the measurement took [s]", 6),
            ("code_version", pa.string(), "git commit of the code that measured it", 6),
            ("analysed_at", pa.timestamp("us", tz="UTC"), "when it was measured [UTC]", 6),
        ),
        _t(
            "run_environments",
            "What actually ran, as the job itself found it: one row per (run, job that trained, analysed or tracked "
            "it), written when the job starts on the run and written again (replaced) when it ends "
            "(lab/records/provenance.py). Runs made before v7 have none: 'not recorded', never a guess.",
            _RUN,
            ("sweep_id", pa.string(), "the sweep (or analysis sweep) of the job", 7),
            ("task_id", pa.string(), "the run id for the job that trained or tracked it; '<run_id>-eNNNN' for an "
             "analysis of its epoch NNNN", 7),
            ("role", pa.string(), "'trained', 'analysed' (measured from kept weights) or 'tracked' (lab.Tracker)", 7),
            ("thermoscope_version", pa.string(), "Thermoscope's own version (thermoscope.__version__)", 7),
            ("code_version", pa.string(), "git commit of the checkout the job ran (12 hex chars); '' for an "
             "installed copy or a checkout without git", 7),
            ("code_dirty", pa.bool_(), "the checkout had changes `git status --porcelain` lists (uncommitted or "
             "untracked files); NULL when git could not tell (installed copy, no git)", 7),
            ("code_untracked", pa.list_(pa.string()), "untracked files of the checkout (at most 100; not in the "
             "diff)", 7),
            ("diff_sha256", pa.string(), "SHA-256 of the whole `git diff HEAD` ('' when there is none; NULL when "
             "git could not tell)", 7),
            ("diff_bytes", pa.int64(), "size of the whole diff [bytes]", 7),
            ("diff_cut", pa.bool_(), "the diff was larger than the cap (1 MiB): the kept file holds its first part "
             "only; the hash and size are the whole diff's", 7),
            ("diff_file", pa.string(), "where the diff is kept, under THERMOSCOPE_HOME: "
             "'jobs/<sweep_id>/code/<sha>.diff' ('' when there is no diff)", 7),
            ("python_version", pa.string(), "Python version, e.g. '3.12.3'", 7),
            ("torch_version", pa.string(), "torch.__version__", 7),
            ("torchvision_version", pa.string(), "torchvision's version (NULL when not installed)", 7),
            ("timm_version", pa.string(), "timm's version (NULL when not installed)", 7),
            ("numpy_version", pa.string(), "numpy's version", 7),
            ("cuda_version", pa.string(), "CUDA version torch was built with (NULL for a CPU-only build)", 7),
            ("cudnn_version", pa.string(), "cuDNN version torch uses, e.g. '90100' (NULL when none)", 7),
            ("platform", pa.string(), "operating system and C library (platform.platform())", 7),
            ("device_kind", pa.string(), "device the job computed on: 'cuda', 'cpu' or 'mps'", 7),
            ("device_name", pa.string(), "GPU model (e.g. 'NVIDIA H100 80GB HBM3'), or the CPU model", 7),
            ("device_count", pa.int64(), "GPUs visible to the job (0 on a CPU) [count]", 7),
            ("threads", pa.int64(), "torch's intra-op CPU threads [count]", 7),
            ("host", pa.string(), "host the job ran on", 7),
            ("job_id", pa.string(), "executor job id, as in run_events ('pidNNN' when run by hand)", 7),
            ("slurm_job_id", pa.string(), "Slurm job id ('123_4' for an array task); NULL outside Slurm", 7),
            ("slurm_partition", pa.string(), "Slurm partition; NULL outside Slurm", 7),
            ("slurm_nodes", pa.string(), "Slurm node list, e.g. 'gpu[01-02]'; NULL outside Slurm", 7),
            ("slurm_resources", pa.string(), "the allocation as JSON from Slurm's SLURM_* variables (num_nodes, "
             "ntasks, cpus_per_task, mem_per_node, gpus_on_node, ...); NULL outside Slurm", 7),
            ("started_at", pa.timestamp("us", tz="UTC"), "when the job started on the run [UTC]", 7),
            ("ended_at", pa.timestamp("us", tz="UTC"), "when it ended [UTC]; NULL while it runs, or when the job "
             "was killed before it could say", 7),
        ),
        _t(
            "epochs",
            "Per-epoch training log: loss, accuracy, learning rate, logits norm and rank on a fixed evaluation batch.",
            _RUN,
            _EPOCH,
            ("step", pa.int64(), "optimizer steps taken so far [steps]"),
            ("train_loss", pa.float64(), "mean training loss over the epoch (NaN at epoch 0) [loss units]"),
            ("train_acc", pa.float64(), "training accuracy over the epoch [fraction] (NaN at epoch 0)"),
            ("test_acc", pa.float64(), "test accuracy [fraction]"),
            ("lr", pa.float64(), "learning rate used during the epoch [dimensionless]"),
            ("logits_norm", pa.float64(), "mean over samples of ||z||_2, z the logits, on the fixed eval batch [logit units]"),
            ("logits_fro_norm", pa.float64(), "Frobenius norm of the eval batch's logit matrix [logit units]"),
            ("rank_pre_softmax", pa.int32(), "numerical rank of the eval batch's logit matrix [count]"),
            ("rank_post_softmax", pa.int32(), "numerical rank of softmax(logits/T) on the eval batch [count]"),
            ("eval_samples", pa.int32(), "size of the fixed evaluation batch [samples]"),
            ("wall_s", pa.float64(), "wall time since the run started [s]"),
        ),
        _t(
            "layer_metrics",
            "Per-layer measurements (rank, probe accuracy, OrthoDev, NC, ...), long format: one row per number.",
            _RUN,
            _EPOCH,
            _LAYER_INDEX,
            _LAYER_NAME,
            ("kind", pa.string(), "'hidden' (post-activation), 'preact', 'logits' (pre-softmax) or 'softmax'"),
            _DATASET,
            ("split", pa.string(), "'train' or 'test'"),
            ("metric", pa.string(), "e.g. 'rank', 'probe_acc', 'orthodev_sample', 'nc1'"),
            ("value", pa.float64(),
             "the measured value [metric's unit: ranks are counts, accuracies fractions, kappa/rho %]"),
            ("n_samples", pa.int64(), "rows of the representation matrix used [samples]"),
            ("n_features", pa.int64(), "features used (after the 10,000-feature subset rule) [features]"),
            _DETAIL,
            *_PROBE_COLUMNS,
        ),
        _t(
            "run_metrics",
            "Per-run summaries: kappa, rho, solution rank, OOD detection scores, NC at the penultimate layer, ...",
            _RUN,
            _EPOCH,
            _DATASET,
            ("metric", pa.string(), "e.g. 'kappa' [%], 'rho' [%], 'solution_rank', 'auroc_msp'"),
            ("value", pa.float64(), "the measured value"),
            _DETAIL,
            ("probe_protocol", pa.string(), "for 'kappa', 'rho' and 'probes_converged' (1 = every probe of the run's "
             "dataset converged, 0 = not; the detail names the layers): the probe protocol their probe accuracies "
             "come from ('converged' or 'paper'); NULL for other metrics and for rows made before v8 (then 'paper')",
             8),
        ),
        _t(
            "alignment",
            "|cosine| between top singular vectors of a layer's weights (input side) and of the representation entering it.",
            _RUN,
            _EPOCH,
            _LAYER_INDEX,
            _LAYER_NAME,
            ("i", pa.int32(), "index of the weight's right singular vector (0 = largest) [index]"),
            ("j", pa.int32(), "index of the representation's singular vector (0 = largest) [index]"),
            ("cosine", pa.float64(), "|cos| between the two unit vectors, between 0 and 1 [dimensionless]"),
        ),
        _t(
            "theory",
            "Outputs of the appendix's runnable demonstrations (Props. I.1, J.2, K.1, Figure 21).",
            ("experiment", pa.string(), "demonstration name, e.g. 'prop_k1', 'fig21', 'prop_j2'"),
            ("param_name", pa.string(), "what `param` is (e.g. 'n', 'temperature', 'trial')"),
            ("param", pa.float64(), "the swept parameter's value"),
            ("metric", pa.string(), "what `value` is"),
            ("value", pa.float64(), "the computed value"),
            _DETAIL,
        ),
        _t(
            "init_norms",
            "Logits norm of randomly initialised models (one row per initialisation, Figure 8 / Appendix E).",
            ("arch", pa.string(), "architecture name"),
            ("dataset", pa.string(), "dataset the input batch came from"),
            ("init", pa.string(), "initialisation scheme"),
            ("init_std", pa.float64(), "sigma for 'normal' init [weight units]"),
            ("seed", pa.int64(), "seed of the initialisation [integer]"),
            ("logits_norm", pa.float64(), "mean ||z||_2 over the batch at initialisation [logit units]"),
            _DETAIL,
        ),
        _t(
            "jobs",
            "Executor jobs: one row per (job, heartbeat); `jobs_latest` keeps the newest per job.",
            ("sweep_id", pa.string(), "the sweep"),
            _RUN,
            ("job_id", pa.string(), "executor job id"),
            ("executor", pa.string(), "'slurm' or 'local'"),
            ("state", pa.string(), "job state as the executor reports it"),
            ("requeues", pa.int32(), "requeue count [count]"),
            ("ts", pa.timestamp("us", tz="UTC"), "heartbeat time [UTC]"),
            ("host", pa.string(), "node the job runs on (empty until it starts)"),
            ("traceback", pa.string(), "traceback of a failure, '' otherwise"),
        ),
    ]
}

# Views: computed at query time, never stored. `runs` = config + latest status, the table users query first.
# The seed group of a run: its config without the seed and data_root (where the files were read from).
# Runs that differ only by seed share it; mean ± std over seeds groups by it. The one definition: the
# views, the derived tables and the dashboard's queries all use this expression.
CONFIG_GROUP_SQL = """md5(json_merge_patch(c.config_json, '{"seed": null, "data_root": null}'))"""
_EVENT_RANK = "CASE status " + " ".join(f"WHEN '{s}' THEN {stage(s)}" for s in ORDER if stage(s) < 2) + " ELSE 2 END"


def status_list_sql(statuses) -> str:
    """`'failed', 'diverged'`: statuses as an SQL list (for IN (…))."""
    return ", ".join(f"'{RunStatus(s)}'" for s in statuses)


_TERMINAL_SQL = status_list_sql(TERMINAL)
_ENDED_OK_SQL = status_list_sql(sorted(ENDED_OK))
_ERROR_SQL = status_list_sql((RunStatus.FAILED, RunStatus.DIVERGED, RunStatus.CANCELLED))

VIEWS: dict[str, str] = {
    "runs": f"""
        SELECT c.* EXCLUDE (config_json),
               coalesce(e.status, 'queued') AS status,
               e.host,
               coalesce(nullif(e.job_id, ''), j.job_id) AS job_id,
               e.requeues,
               e.epoch AS last_epoch,
               CASE WHEN e.status IN ({_ERROR_SQL}) THEN nullif(e.message, '') END AS error,
               s.started_at,
               CASE WHEN e.status IN ({_TERMINAL_SQL}) THEN e.ts END AS ended_at,
               e.ts AS updated_at,
               {CONFIG_GROUP_SQL} AS config_group,
               d.num_classes,
               CASE WHEN e.status IN ({_ENDED_OK_SQL}) THEN v.value = 1 END AS learned,
               p.probes_converged,
               c.config_json
        FROM run_configs c
        LEFT JOIN (SELECT * FROM run_events
                   QUALIFY row_number() OVER (PARTITION BY run_id ORDER BY ts DESC, {_EVENT_RANK} DESC) = 1) e
          USING (run_id)
        LEFT JOIN (SELECT run_id, min(ts) AS started_at FROM run_events WHERE status = 'running' GROUP BY run_id) s
          USING (run_id)
        LEFT JOIN (SELECT run_id, job_id FROM jobs
                   QUALIFY row_number() OVER (PARTITION BY run_id ORDER BY ts DESC) = 1) j
          USING (run_id)
        LEFT JOIN (SELECT run_id, any_value(num_classes) AS num_classes FROM run_datasets WHERE role = 'id'
                   GROUP BY run_id) d
          USING (run_id)
        LEFT JOIN (SELECT run_id, value FROM run_metrics WHERE metric = 'learned'
                   QUALIFY row_number() OVER (PARTITION BY run_id ORDER BY epoch DESC) = 1) v
          USING (run_id)
        LEFT JOIN (SELECT run_id, min(value) = 1 AS probes_converged FROM run_metrics
                   WHERE metric = 'probes_converged' AND probe_protocol = 'converged'
                   GROUP BY run_id, epoch QUALIFY epoch = max(epoch) OVER (PARTITION BY run_id)) p
          USING (run_id)
    """,
    "jobs_latest": """
        SELECT * FROM jobs QUALIFY row_number() OVER (PARTITION BY job_id, run_id ORDER BY ts DESC) = 1
    """,
}

VIEW_DOCS: dict[str, tuple[str, dict[str, str]]] = {
    "runs": (
        "One row per run: every `run_configs` column (its full config) plus its latest status from `run_events`.",
        {
            "status": f"latest status: {STATUS_WORDS} ('queued' when the run has no event yet)",
            "host": "host of the latest event (the node the job ran on)",
            "job_id": "executor job id: Slurm job id ('123_4' for array tasks), 'pidNNN' when run locally",
            "requeues": "how many times the job was requeued",
            "last_epoch": "last completed epoch at the latest event",
            "error": "error message / traceback when failed, reason when diverged or cancelled; NULL otherwise",
            "started_at": "first time the run was seen running [UTC]",
            "ended_at": "time of the terminal event (finished/diverged/failed/cancelled) [UTC]; NULL while live",
            "updated_at": "time of the latest event [UTC]",
            "config_group": "md5 of the config without seed and data_root: runs that differ only by seed "
            "share it (what 'mean ± std over seeds' groups by)",
            "num_classes": "classes of the run's in-distribution data, as its job found them (`run_datasets`)",
            "learned": "whether the run learned (lab/records/verdict.py: final test accuracy a tenth of the way from chance "
            "to perfect and train loss below 0.95 x the uniform prediction's); NULL until it finished or "
            "diverged. Compare temperatures between runs that learned",
            "probes_converged": "whether every converged-protocol probe of the run's latest analysed epoch reached "
            "its tolerance (run_metrics 'probes_converged'); NULL when the run has none (not analysed, or probed "
            "with the paper protocol only). Compare kappa, rho and probe curves between runs whose probes converged",
        },
    ),
    "jobs_latest": ("The newest `jobs` row per (job, run).", {}),
}

# Derived tables: stored, rebuilt by ingest from the tables above for the runs a batch touched,
# so the dashboard's per-layer questions over 10 million rows answer from a small sorted table.
DERIVED: dict[str, Table] = {
    t.name: t
    for t in [
        _t(
            "layer_stats",
            "Per-layer metrics aggregated over seeds: one row per (config group, epoch, layer, measured dataset, "
            "split, metric). Refreshed by every ingest for the groups it touched; sorted by (arch, dataset, metric).",
            ("config_group", pa.string(), "md5 of the config without seed and data_root (see `runs.config_group`)"),
            ("arch", pa.string(), "architecture name"),
            ("dataset", pa.string(), "in-distribution (training) dataset name"),
            ("loss", pa.string(), "'ce' or 'mse'"),
            ("preset", pa.string(), "hyper-parameter preset"),
            ("temperature", pa.float64(), "softmax temperature T used in training [dimensionless]"),
            ("epochs", pa.int32(), "the runs' configured number of epochs (epoch = epochs is the final one) [epochs]"),
            _EPOCH,
            _LAYER_INDEX,
            _LAYER_NAME,
            ("kind", pa.string(), "'hidden', 'preact', 'logits' or 'softmax' (as in layer_metrics)"),
            ("eval_dataset", pa.string(), "dataset the value was measured on (layer_metrics.dataset)"),
            ("split", pa.string(), "'train' or 'test'"),
            ("metric", pa.string(), "as in layer_metrics"),
            ("probe_protocol", pa.string(), "probe rows: their protocol ('paper' for rows made before v8); NULL for "
             "other metrics", 8),
            ("n_runs", pa.int64(), "runs (seeds) aggregated [count]"),
            ("mean", pa.float64(), "mean over the runs"),
            ("std", pa.float64(), "sample standard deviation over the runs (NULL when n_runs = 1)"),
            ("min", pa.float64(), "smallest value"),
            ("max", pa.float64(), "largest value"),
        )
    ]
}

# Bookkeeping tables that ingest keeps; documented so nobody wonders, never written by jobs.
INTERNAL_DOCS: dict[str, str] = {
    "_meta": "key/value: `schema_version` (this file's layout version) and `last_ingest` (UTC time).",
    "_shards": "one row per ingested shard: path under shards/, table, size, mtime_ns, inode, rows, ingested_at. "
    "Every stored row of a job table carries `_shard` (that path) so a re-written shard replaces its rows.",
    "_dirty_runs": "run ids loaded since `layer_stats` was last refreshed (empty after every finished ingest).",
}

