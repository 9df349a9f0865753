"""Example queries for the questions the paper asks; SCHEMA.md shows them, tests run every one,
and the benchmark times them (so an example that rots or slows down is noticed)."""

from __future__ import annotations

# (title, what it answers, SQL). Written against the demo's names ('mlp' on 'digits'); change them.
EXAMPLES: list[tuple[str, str, str]] = [
    (
        "Rank vs temperature per layer",
        "Numerical rank of every layer at the final epoch, mean ± std over seeds, for one architecture "
        "and dataset (Figures 2-4). Reads the pre-aggregated `layer_stats`.",
        """SELECT temperature, layer_index, layer_name, kind, split,
       mean AS rank_mean, std AS rank_std, n_runs AS seeds
FROM layer_stats
WHERE arch = 'mlp' AND dataset = 'digits' AND metric = 'rank'
  AND eval_dataset = dataset AND epoch = epochs
ORDER BY temperature, layer_index, split""",
    ),
    (
        "κ and ρ per architecture and temperature",
        "Effective depth κ [%] and OOD generalisation drop ρ [%] (Table 1), mean ± std over the seeds of "
        "finished runs, at each run's final epoch.",
        """SELECT r.arch, r.dataset, r.temperature, m.metric, m.dataset AS measured_on,
       avg(m.value) AS mean, stddev_samp(m.value) AS std, count(*) AS seeds
FROM run_metrics m JOIN runs r USING (run_id)
WHERE m.metric IN ('kappa', 'rho') AND r.status = 'finished' AND m.epoch = r.epochs
GROUP BY ALL
ORDER BY r.arch, r.dataset, r.temperature, m.metric""",
    ),
    (
        "Logits norm over epochs",
        "Logits norm and pre/post-softmax rank of the fixed evaluation batch over training, one curve per "
        "run (Figures 18-20).",
        """SELECT c.temperature, c.seed, e.run_id, e.epoch, e.logits_norm,
       e.rank_pre_softmax, e.rank_post_softmax, e.test_acc
FROM epochs e JOIN run_configs c USING (run_id)
WHERE c.arch = 'mlp' AND c.dataset = 'digits'
ORDER BY c.temperature, c.seed, e.epoch""",
    ),
    (
        "Alignment matrix of one run at one epoch",
        "The 15 × 15 |cosine| matrix between a layer's weight and input-representation singular vectors "
        "(Figures 10, 24, 25), as rows i with one column per j. Pick the run, epoch and layer. (The IN list "
        "keeps PIVOT a single SELECT, which the dashboard's console accepts.)",
        """PIVOT (
  SELECT i, j, cosine FROM alignment
  WHERE run_id = (SELECT min(run_id) FROM alignment)
    AND epoch = (SELECT max(epoch) FROM alignment WHERE run_id = (SELECT min(run_id) FROM alignment))
    AND layer_index = 1
) ON j IN (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14) USING first(cosine)
ORDER BY i""",
    ),
    (
        "Runs that failed or diverged",
        "Where and why: host, Slurm job id, last epoch and the error message.",
        """SELECT run_id, arch, dataset, temperature, seed, status, host, job_id, last_epoch, error
FROM runs WHERE status IN ('failed', 'diverged') ORDER BY updated_at DESC""",
    ),
    (
        "Per-seed values behind a mean",
        "The raw per-run rows `layer_stats` aggregates, for one temperature and layer.",
        """SELECT c.seed, m.run_id, m.epoch, m.layer_name, m.value
FROM layer_metrics m JOIN run_configs c USING (run_id)
WHERE m.metric = 'rank' AND c.arch = 'mlp' AND c.dataset = 'digits' AND c.temperature = 1.0
  AND m.layer_index = 0 AND m.epoch = c.epochs
ORDER BY c.seed""",
    ),
]
