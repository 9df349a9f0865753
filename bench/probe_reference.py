"""Probe accuracy per layer, ρ and κ of a sweep's runs under both probe protocols and scikit-learn's
LogisticRegression (the outside reference), on exactly the features and rows analyse_model probes.

The table in docs/methods.md §3 comes from this script on the demo sweep:

    THERMOSCOPE_HOME=... .venv/bin/python bench/probe_reference.py [--epoch 120]

Features: each run's checkpoint rebuilt with its stored analysis settings (lab/jobs/rebuild.py), the same seeded
sample subsets and feature subsets as analyse_model, hidden layers only (the layers κ and ρ count).
scikit-learn: StandardScaler + LogisticRegression(lbfgs, C = 1/(λ·n), tol 1e-8), the converged protocol's
objective solved by other code.
"""

from __future__ import annotations

import argparse
import statistics


def features(model, taps, data, settings, temperature):
    """{dataset: (train feats per hidden layer, y_train, test feats, y_test)} as analyse_model captures them."""
    import torch

    from analysis.capture import capture, feature_subset, layer_widths, reps_from_taps
    from analysis.run import _Prepared

    reps = [r for r in reps_from_taps(taps, False) if r.kind in settings.kappa_kinds]
    test_x = _Prepared(data.id_test, settings, shuffle=False).x
    widths = layer_widths(model, reps, test_x, torch.device("cpu"), temperature)
    fidx = {r.key: feature_subset(widths[r.key], settings.max_features, settings.feature_seed) for r in reps}
    out = {}
    for name, (tr, te) in {data.id_name: (data.id_train, data.id_test), **data.ood}.items():
        ptr, pte = _Prepared(tr, settings, shuffle=True), _Prepared(te, settings, shuffle=False)
        htr = capture(model, reps, ptr.x, temperature=temperature, feature_index=fidx)
        hte = capture(model, reps, pte.x, temperature=temperature, feature_index=fidx)
        out[name] = ([htr[r.key] for r in reps], ptr.y, [hte[r.key] for r in reps], pte.y, [r.layer_name for r in reps])
    return out


def sklearn_acc(xtr, ytr, xte, yte, l2: float) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(xtr.double().numpy())
    model = LogisticRegression(C=1.0 / (l2 * xtr.shape[0]), tol=1e-8, max_iter=20_000)
    model.fit(scaler.transform(xtr.double().numpy()), ytr.numpy())
    return float(model.score(scaler.transform(xte.double().numpy()), yte.numpy()))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epoch", type=int, default=120)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    from analysis import AnalysisSettings
    from analysis.probes import fit_converged, paper_steps, train_probes
    from analysis.tunnel import kappa_detail, rho_detail
    from lab.jobs.rebuild import read_checkpoint, rebuild
    from warehouse import home
    from warehouse.read import query

    where = home()
    runs = query("SELECT run_id, temperature, seed, analysis_json FROM runs ORDER BY temperature, seed", where=where)
    per_t: dict[float, list[dict]] = {}
    for run_id, t, seed, analysis_json in runs.rows():
        ckpt = read_checkpoint(where.checkpoints / run_id / f"epoch{args.epoch:04d}.pt")
        s = AnalysisSettings.from_dict(__import__("json").loads(analysis_json)) if analysis_json else AnalysisSettings()
        model, data = rebuild(ckpt, s, torch.device("cpu"))
        model.eval()
        feats = features(model, model.layer_taps(), data, s, t)
        res: dict = {}
        for name, (xtr, ytr, xte, yte, names) in feats.items():
            c = int(max(int(ytr.max()), int(yte.max()))) + 1
            conv = fit_converged(xtr, ytr, c, l2=s.probe_l2, tol=s.probe_tol, max_iter=s.probe_max_iter)
            paper = train_probes(xtr, ytr, c, epochs=s.probe_epochs, lr=s.probe_lr, weight_decay=s.probe_weight_decay,
                                 batch=s.probe_batch, seed=s.feature_seed, standardize=s.probe_standardize)
            res[name] = {
                "layers": names,
                "converged": [p.accuracy(x, yte) for p, x in zip(conv, xte)],
                "paper": [p.accuracy(x, yte) for p, x in zip(paper, xte)],
                "sklearn": [sklearn_acc(a, ytr, b, yte, s.probe_l2) for a, b in zip(xtr, xte)],
                "steps": paper_steps(xtr[0].shape[0], s.probe_epochs, s.probe_batch),
            }
        id_name = data.id_name
        for proto in ("converged", "paper", "sklearn"):
            res[f"kappa_{proto}"] = kappa_detail(res[id_name][proto], s.kappa_threshold)["value"]
            for name in data.ood:
                res[f"rho_{proto}"] = rho_detail(res[name][proto])["value"]
        res["ood"], res["id"] = next(iter(data.ood)), id_name
        per_t.setdefault(t, []).append(res)
        print(f"run {run_id} T={t:g} seed {seed}: " + ", ".join(
            f"{k}={v:.1f}" for k, v in res.items() if k.startswith(("rho", "kappa"))), flush=True)

    def mean(xs):
        return statistics.fmean(xs)

    print("\n| T | set | protocol | " + " | ".join(per_t[next(iter(per_t))][0][per_t[next(iter(per_t))][0]["id"]]
                                                 ["layers"]) + " | κ [%] | ρ [%] |")
    print("|---" * (5 + len(per_t[next(iter(per_t))][0][per_t[next(iter(per_t))][0]["id"]]["layers"])) + "|")
    for t, rs in per_t.items():
        for role in ("ood", "id"):
            name = rs[0][role]
            for proto in ("converged", "paper", "sklearn"):
                accs = [mean([r[name][proto][i] for r in rs]) for i in range(len(rs[0][name]["layers"]))]
                k = mean([r[f"kappa_{proto}"] for r in rs])
                rho = mean([r[f"rho_{proto}"] for r in rs])
                label = {"converged": "converged", "paper": f"paper ({rs[0][name]['steps']} steps)",
                         "sklearn": "scikit-learn"}[proto]
                print(f"| {t:g} | {role.upper()} {name} | {label} | " + " | ".join(f"{a:.3f}" for a in accs)
                      + f" | {k:.1f} | {rho:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
