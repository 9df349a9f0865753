"""analyse_model: a model, its LayerTaps and its data -> rows for the warehouse tables.

Order of work (each step's rows are kept if a later one fails, see AnalysisError):
1. check the input; put the model in eval mode (restored at the end); fixed seeded sample subsets per split
   (train splits also in a seeded random order, which is what the probes' contiguous batches rely on);
2. one pass for the network's logits on every split (small: N × C): solution rank, logits norm, NC4's
   predictions, OOD detection scores;
3. per dataset (ID, then each OOD set), representations in chunks that fit `memory_budget_mb`: rank on the
   ID test split, linear probes trained together on the train split and scored on the test split, OrthoDev
   and NC per layer on ID;
4. κ, ρ, NC at the penultimate layer; alignment, one forward pass per group of layers whose input Grams
   fit `memory_budget_mb`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from analysis.alignment import alignment_gram_mb, layers_alignment
from analysis.capture import Rep, capture, feature_subset, layer_widths, reps_from_taps, sample_subset
from analysis.collapse import nc3, neural_collapse
from analysis.logits import logits_norm
from analysis.ood import detection_metrics
from analysis.orthodev import orthodev_classmean, orthodev_sample
from analysis.probes import (
    PROBE_COLUMNS,
    Probe,
    ProbeRecord,
    fit_converged,
    paper_records,
    paper_steps,
    train_probes,
)
from analysis.rank import rank_with_detail
from analysis.taps import LayerTap
from analysis.tunnel import kappa_detail, rho_detail
from analysis.types import AnalysisData, AnalysisError, AnalysisSettings, Split

Progress = Callable[[str, int, int], None]
TABLES_OUT = ("layer_metrics", "run_metrics", "alignment")


def _json(d: dict) -> str:
    return json.dumps(d, sort_keys=True, default=str)


class _Rows:
    """Collects rows per table with the run's identity filled in."""

    def __init__(self, run_id: str, epoch: int) -> None:
        self.run_id, self.epoch = run_id, int(epoch)
        self.tables: dict[str, list[dict]] = {t: [] for t in TABLES_OUT}

    def layer(self, rep: Rep, dataset: str, split: str, metric: str, value: float, n: int, d: int,
              detail: dict, probe: ProbeRecord | None = None) -> None:
        row = dict(
            run_id=self.run_id, epoch=self.epoch, layer_index=rep.layer_index, layer_name=rep.layer_name,
            kind=rep.kind, dataset=dataset, split=split, metric=metric, value=float(value), n_samples=int(n),
            n_features=int(d), detail=_json(detail))
        # the probe's convergence record, in its own columns (layer_metrics.probe_*); NULL on other rows
        row.update(probe.columns() if probe is not None else dict.fromkeys(PROBE_COLUMNS))
        self.tables["layer_metrics"].append(row)

    def run(self, dataset: str, metric: str, value: float, detail: dict, protocol: str | None = None) -> None:
        # κ, ρ and probes_converged say which probe protocol they come from (NULL on other rows)
        row = dict(run_id=self.run_id, epoch=self.epoch, dataset=dataset, metric=metric, value=float(value),
                   detail=_json(detail), probe_protocol=protocol)
        self.tables["run_metrics"].append(row)

    def alignment(self, index: int, name: str, matrix: torch.Tensor) -> None:
        rows = self.tables["alignment"]
        for i in range(matrix.shape[0]):
            for j in range(matrix.shape[1]):
                rows.append(dict(run_id=self.run_id, epoch=self.epoch, layer_index=index, layer_name=name,
                                 i=i, j=j, cosine=float(matrix[i, j])))


def _check_split(split: Split, what: str, need_classes: bool) -> None:
    if not isinstance(split.x, torch.Tensor) or not isinstance(split.y, torch.Tensor):
        raise ValueError(f"{what}: x and y must be tensors")
    if split.x.shape[0] == 0:
        raise ValueError(f"{what} is empty")
    if split.y.ndim != 1 or split.y.shape[0] != split.x.shape[0]:
        raise ValueError(f"{what}: y must be 1-D with one label per row of x "
                         f"(x {tuple(split.x.shape)}, y {tuple(split.y.shape)})")
    if split.y.dtype.is_floating_point or int(split.y.min()) < 0:
        raise ValueError(f"{what}: labels must be non-negative integers")
    if need_classes and int(torch.unique(split.y).numel()) < 2:
        raise ValueError(f"{what} holds a single class; probes and NC need at least two")


class _Prepared:
    """A split's fixed subset (and order), moved to nothing yet: x stays where the caller had it."""

    def __init__(self, split: Split, settings: AnalysisSettings, shuffle: bool, cap: int | None = None) -> None:
        n = split.x.shape[0]
        idx = sample_subset(n, cap or settings.max_samples, settings.feature_seed)
        if shuffle:  # train splits: a seeded random order, so probe batches can be contiguous slices
            base = idx if idx is not None else torch.arange(n)
            g = torch.Generator().manual_seed(settings.feature_seed + 1)
            idx = base[torch.randperm(base.numel(), generator=g)]
        self.x = split.x if idx is None else split.x[idx]
        self.y = (split.y if idx is None else split.y[idx]).long()
        self.n_total = n
        self.n = self.x.shape[0]


def _group_by_budget(items: Sequence, sizes_mb: Sequence[float], budget_mb: float) -> list[list]:
    """Consecutive groups of `items` whose sizes add up to at most `budget_mb`; a group holds at least one item."""
    out: list[list] = []
    current: list = []
    used = 0.0
    for item, size in zip(items, sizes_mb):
        if current and used + size > budget_mb:
            out.append(current)
            current, used = [], 0.0
        current.append(item)
        used += size
    if current:
        out.append(current)
    return out


def _chunks(reps: Sequence[Rep], widths: dict, n_rows: int, budget_mb: float) -> list[list[Rep]]:
    """Consecutive groups of representations whose float32 matrices (n_rows each) fit the budget."""
    return _group_by_budget(reps, [4.0 * n_rows * widths[r.key] / 2**20 for r in reps], budget_mb)


def analyse_model(
    model: nn.Module,
    taps: list[LayerTap],
    data: AnalysisData,
    *,
    run_id: str,
    epoch: int,
    temperature: float,
    settings: AnalysisSettings | None = None,
    device: torch.device | str = "cpu",
    progress: Progress | None = None,
) -> dict[str, list[dict]]:
    """Measure every layer of `model`; rows keyed by warehouse table ('layer_metrics', 'run_metrics', 'alignment').

    Raises AnalysisError (a ValueError) with a one-line message naming the run (and the layer, where one is
    at fault) on bad input: no taps, an empty or single-class split, NaN/inf activations. Its `.rows` holds
    the rows measured before the fault, in the same shape as the return value.
    """
    settings = settings or AnalysisSettings()
    out = _Rows(run_id, epoch)
    where = f"run {run_id} epoch {epoch}"
    try:
        if not taps:
            raise ValueError("the model has no layer taps; give model.layer_taps() (see analysis/taps.py)")
        logits_taps = [i for i, t in enumerate(taps) if t.kind == "logits"]
        if logits_taps != [len(taps) - 1]:
            raise ValueError("the last tap (and only it) must have kind 'logits'; got kinds "
                             f"{[t.kind for t in taps]}")
        if not (isinstance(temperature, int | float) and math.isfinite(temperature) and temperature > 0):
            raise ValueError(f"temperature must be a positive finite number, got {temperature!r}")
        _check_split(data.id_train, f"dataset {data.id_name!r} train split", True)
        _check_split(data.id_test, f"dataset {data.id_name!r} test split", False)
        for name, (tr, te) in data.ood.items():
            # a single-class OOD train split only spoils its own probes: their rows say so, the rest is measured
            _check_split(tr, f"OOD dataset {name!r} train split", False)
            _check_split(te, f"OOD dataset {name!r} test split", False)
    except ValueError as e:
        raise AnalysisError(f"{where}: {e}", out.tables) from None

    was_training = model.training
    model.eval()
    try:
        _Analysis(model, taps, data, temperature, settings, torch.device(device), out, where, progress).run()
    except AnalysisError:
        raise
    except (ValueError, RuntimeError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise AnalysisError(f"{where}: {msg}", out.tables) from e
    finally:
        model.train(was_training)
    return out.tables


class _Analysis:
    def __init__(self, model, taps, data, temperature, settings, device, out, where, progress) -> None:
        self.model, self.taps, self.data, self.T = model, taps, data, float(temperature)
        self.s: AnalysisSettings = settings
        self.device, self.out, self.where = device, out, where
        self.progress = progress or (lambda stage, done, total: None)
        self.reps = reps_from_taps(taps, settings.include_preact)
        self.logits_rep = next(r for r in self.reps if r.kind == "logits")
        hidden = [r for r in self.reps if r.kind == "hidden"]
        self.penultimate = hidden[-1] if hidden else None
        self.curve_reps = [r for r in self.reps if r.kind in settings.kappa_kinds]
        # probe accuracy and record per protocol, layer key (and OOD set)
        self.id_acc: dict[str, dict[tuple[int, str], float]] = {}
        self.ood_acc: dict[str, dict[str, dict[tuple[int, str], float]]] = {}
        self.records: dict[tuple[str, str], dict[tuple[int, str], ProbeRecord]] = {}

    # ---- helpers --------------------------------------------------------------------------------------

    def _capture(self, reps: Sequence[Rep], x: torch.Tensor) -> dict:
        return capture(self.model, reps, x, temperature=self.T, feature_index=self.fidx,
                       batch_size=self.s.forward_batch, device=self.device)

    def _finite(self, rep: Rep, h: torch.Tensor, dataset: str, split: str) -> None:
        if not bool(torch.isfinite(h).all()):
            raise AnalysisError(f"{self.where}: layer {rep.label()} has NaN/inf activations on {dataset} "
                                f"{split}; the model diverged or the input is broken", self.out.tables)

    def _base_detail(self, rep: Rep, prep: _Prepared) -> dict:
        d = {"features_total": self.widths[rep.key], "feature_subset": self.fidx.get(rep.key) is not None,
             "feature_seed": self.s.feature_seed, "samples_total": prep.n_total, "dtype": "float32"}
        if rep.kind == "softmax":
            d["temperature"] = self.T
        return d

    def _width(self, rep: Rep) -> int:
        idx = self.fidx.get(rep.key)
        return self.widths[rep.key] if idx is None else int(idx.numel())

    # ---- the steps ------------------------------------------------------------------------------------

    def run(self) -> None:
        s, data = self.s, self.data
        self.id_train = _Prepared(data.id_train, s, shuffle=True)
        self.id_test = _Prepared(data.id_test, s, shuffle=False)
        self.ood_sets = {name: (_Prepared(tr, s, shuffle=True), _Prepared(te, s, shuffle=False))
                         for name, (tr, te) in data.ood.items()}
        self.widths = layer_widths(self.model, self.reps, self.id_test.x, self.device, self.T)
        self.fidx = {r.key: feature_subset(self.widths[r.key], s.max_features, s.feature_seed) for r in self.reps}
        self.num_classes = int(max(int(data.id_train.y.max()), int(data.id_test.y.max()))) + 1
        if self.widths[self.logits_rep.key] < self.num_classes:
            raise ValueError(f"the logits have {self.widths[self.logits_rep.key]} outputs but the labels "
                             f"name {self.num_classes} classes")

        self.progress("logits", 0, 1)
        self._network_outputs()
        self._solution_rank()
        for name in [data.id_name, *data.ood]:
            self._dataset(name)
        self._kappa_rho()
        if s.ood_detection and data.ood:
            self._ood_detection()
        if s.alignment_top_k > 0:
            self._alignment()
        self.progress("done", 1, 1)

    def _network_outputs(self) -> None:
        key = self.logits_rep.key
        rep = [self.logits_rep]
        self.logits = {"id_train": self._capture(rep, self.id_train.x)[key],
                       "id_test": self._capture(rep, self.id_test.x)[key]}
        for name, (_, te) in self.ood_sets.items():
            self.logits[f"ood_test:{name}"] = self._capture(rep, te.x)[key]
        for k, v in self.logits.items():
            dataset = k.split(":", 1)[1] if ":" in k else self.data.id_name
            self._finite(self.logits_rep, v, dataset, "train" if k == "id_train" else "test")

    def _solution_rank(self) -> None:
        s = self.s
        full = self.data.id_test
        if full.x.shape[0] <= self.id_test.n:  # the capped test set is already the whole split
            logits, n_total = self.logits["id_test"], full.x.shape[0]
        else:
            prep = _Prepared(full, s, shuffle=False, cap=s.solution_rank_max_samples)
            logits = self._capture([self.logits_rep], prep.x)[self.logits_rep.key]
            n_total = prep.n_total
            self._finite(self.logits_rep, logits, self.data.id_name, "test")
        r, detail = rank_with_detail(logits)
        detail.update(n_samples=logits.shape[0], samples_total=n_total, cap=s.solution_rank_max_samples,
                      num_classes=self.num_classes, layer=self.logits_rep.layer_name, split="test")
        self.out.run(self.data.id_name, "solution_rank", r, detail)
        mean, fro = logits_norm(logits)
        nd = {"n_samples": logits.shape[0], "split": "test", "definition": "mean_i ||z_i||_2"}
        self.out.run(self.data.id_name, "logits_norm", mean, nd)
        self.out.run(self.data.id_name, "logits_fro_norm", fro, dict(nd, definition="||Z||_F"))

    def _dataset(self, name: str) -> None:
        s = self.s
        is_id = name == self.data.id_name
        train, test = (self.id_train, self.id_test) if is_id else self.ood_sets[name]
        num_classes = self.num_classes if is_id else int(max(int(train.y.max()), int(test.y.max()))) + 1
        probe_reps = [r for r in self.reps if r.kind != "preact" or s.probe_preact]
        todo = self.reps if is_id else probe_reps  # OOD sets only need probes
        chunks = _chunks(todo, {r.key: self._width(r) for r in todo}, train.n + test.n, s.memory_budget_mb)
        for ci, chunk in enumerate(chunks):
            self.progress(f"{name}: layers {chunk[0].layer_name}..{chunk[-1].layer_name}", ci, len(chunks))
            test_h = self._capture(chunk, test.x)
            for r in chunk:
                if is_id:  # OOD sets only feed probes, whose records say when their input is broken
                    self._finite(r, test_h[r.key], name, "test")
                    self._rank(r, test_h[r.key], test)
            train_h = self._capture(chunk, train.x)
            for r in chunk:
                if is_id:
                    self._finite(r, train_h[r.key], name, "train")
            probed = [r for r in chunk if r in probe_reps]
            primary: list[Probe] = []
            for protocol in s.probe_protocols():
                probes = self._probes(protocol, [train_h[r.key] for r in probed], train, num_classes)
                primary = primary or probes
                pdetail = self._probe_detail(protocol, train, num_classes)
                accs = (self.id_acc.setdefault(protocol, {}) if is_id
                        else self.ood_acc.setdefault(protocol, {}).setdefault(name, {}))
                records = self.records.setdefault((protocol, name), {})
                for r, p in zip(probed, probes):
                    x_test = test_h[r.key]
                    ok = bool(torch.isfinite(x_test).all())
                    acc = p.accuracy(x_test, test.y) if ok else float("nan")
                    record = p.record
                    if not ok and record is not None and record.converged:
                        record = dataclasses.replace(record, note="NaN/inf in the test rows: no accuracy")
                    accs[r.key] = acc
                    records[r.key] = record
                    self.out.layer(r, name, "test", "probe_acc", acc, test.n, self._width(r),
                                   dict(self._base_detail(r, test), **pdetail), probe=record)
            if is_id:
                # NC3 compares the class means with the classifier acting on the raw features
                weights = {r.key: p.raw_weight() for r, p in zip(probed, primary)}
                for r in chunk:
                    self._geometry(r, train_h[r.key], test_h[r.key], weights.get(r.key))
            del train_h, test_h

    def _probes(self, protocol: str, feats: list[torch.Tensor], train: _Prepared, num_classes: int) -> list[Probe]:
        s = self.s
        if protocol == "converged":
            return fit_converged(feats, train.y, num_classes, l2=s.probe_l2, tol=s.probe_tol,
                                 max_iter=s.probe_max_iter)
        probes = train_probes(feats, train.y, num_classes, epochs=s.probe_epochs, lr=s.probe_lr,
                              weight_decay=s.probe_weight_decay, batch=s.probe_batch, seed=s.feature_seed,
                              standardize=s.probe_standardize)
        return paper_records(probes, feats, train.y, steps=paper_steps(train.n, s.probe_epochs, s.probe_batch),
                             weight_decay=s.probe_weight_decay, tol=s.probe_tol)

    def _probe_detail(self, protocol: str, train: _Prepared, num_classes: int) -> dict:
        s = self.s
        base = {"protocol": protocol, "init": "zeros", "train_samples": train.n, "num_classes": num_classes,
                "tol": s.probe_tol, "tol_rule": "||grad||_2 of mean CE + l2/2 ||W||^2 over (W, b)"}
        if protocol == "converged":
            return dict(base, solver="lbfgs", l2=s.probe_l2, max_iter=s.probe_max_iter, standardize=True,
                        std="population (train rows)", history=10, line_search="armijo backtracking")
        return dict(base, optimizer="adam", lr=s.probe_lr, weight_decay=s.probe_weight_decay,
                    epochs=s.probe_epochs, batch=s.probe_batch, standardize=s.probe_standardize)

    def _rank(self, rep: Rep, h: torch.Tensor, prep: _Prepared) -> None:
        r, detail = rank_with_detail(h)
        detail.update(self._base_detail(rep, prep))
        self.out.layer(rep, self.data.id_name, "test", "rank", r, h.shape[0], h.shape[1], detail)

    def _geometry(self, rep: Rep, train_h: torch.Tensor, test_h: torch.Tensor, probe_w: torch.Tensor | None) -> None:
        s, name = self.s, self.data.id_name
        d = self._base_detail(rep, self.id_test)
        od = orthodev_sample(test_h, s.orthodev_samples, s.feature_seed)
        self.out.layer(rep, name, "test", "orthodev_sample", od, min(test_h.shape[0], s.orthodev_samples),
                       test_h.shape[1], dict(d, definition="||HH^T/||H||_F^2 - I/n||_F", seed=s.feature_seed))
        oc = orthodev_classmean(test_h, self.id_test.y, self.num_classes, center=s.orthodev_center)
        self.out.layer(rep, name, "test", "orthodev_classmean", oc, test_h.shape[0], test_h.shape[1],
                       dict(d, definition="||M^M^T - I||_F / C", center=s.orthodev_center))
        if not s.neural_collapse or rep.kind == "preact":
            return
        d = self._base_detail(rep, self.id_train)
        preds = self.logits["id_train"].argmax(1)
        nc = neural_collapse(train_h, self.id_train.y, weight=probe_w, predictions=preds,
                                      num_classes=self.num_classes)
        for metric, value in nc.items():
            extra = {"classifier": "linear probe"} if metric == "nc3" else {}
            if metric == "nc4":
                extra = {"predictions": "network argmax logits"}
            self.out.layer(rep, name, "train", metric, value, train_h.shape[0], train_h.shape[1], dict(d, **extra))
        if rep is self.penultimate:
            self._penultimate_nc(rep, train_h, preds, nc)

    def _penultimate_nc(self, rep: Rep, train_h: torch.Tensor, preds: torch.Tensor, nc: dict) -> None:
        head = self.taps[-1].weight_module or self.taps[-1].module
        w = getattr(head, "weight", None)
        detail = {"layer": rep.layer_name, "layer_index": rep.layer_index, "split": "train",
                  "n_samples": train_h.shape[0]}
        values = dict(nc)
        values.pop("nc3", None)
        if (isinstance(w, torch.Tensor) and w.ndim == 2 and w.shape[1] == train_h.shape[1]
                and w.shape[0] == self.num_classes):
            values["nc3"] = nc3(train_h, self.id_train.y, w.detach(), self.num_classes)
        for metric, value in sorted(values.items()):
            extra = {"classifier": "network's last layer"} if metric == "nc3" else {}
            self.out.run(self.data.id_name, metric, value, dict(detail, **extra))

    def _convergence(self, protocol: str, dataset: str, reps: Sequence[Rep]) -> dict:
        """Which of these probes did not converge, for κ/ρ's detail and the probes_converged row."""
        records = self.records.get((protocol, dataset), {})
        bad = {r.layer_name: (records[r.key].note if records.get(r.key) else "no record")
               for r in reps if records.get(r.key) is None or not records[r.key].converged}
        return {"probe_protocol": protocol, "probes_converged": not bad, "not_converged": bad}

    def _kappa_rho(self) -> None:
        for protocol in self.s.probe_protocols():
            self._kappa_rho_of(protocol)

    def _kappa_rho_of(self, protocol: str) -> None:
        id_acc = self.id_acc.get(protocol, {})
        probed = [r for r in self.reps if r.key in id_acc]
        for name in [self.data.id_name, *self.ood_acc.get(protocol, {})]:
            conv = self._convergence(protocol, name, probed)
            self.out.run(name, "probes_converged", float(conv["probes_converged"]),
                         dict(conv, layers=[r.layer_name for r in probed]), protocol=protocol)
        reps = [r for r in self.curve_reps if r.key in id_acc]
        if not reps:
            return
        names = [r.layer_name for r in reps]
        curve = [id_acc[r.key] for r in reps]
        kd = kappa_detail(curve, self.s.kappa_threshold)
        kd.update(layers=names, curve=curve, kinds=list(self.s.kappa_kinds), first_layer_reaching=names[kd["k"] - 1],
                  **self._convergence(protocol, self.data.id_name, reps))
        self.out.run(self.data.id_name, "kappa", kd.pop("value"), kd, protocol=protocol)
        for name, accs in self.ood_acc.get(protocol, {}).items():
            rr = [r for r in reps if r.key in accs]
            curve = [accs[r.key] for r in rr]
            if not rr or not all(math.isfinite(a) for a in curve):
                continue  # a broken OOD set: its probe rows say why (record note), no ρ from NaN
            rd = rho_detail(curve)
            rd.update(layers=[r.layer_name for r in rr], curve=curve, last_hidden=rr[-1].layer_name,
                      best_layer=rr[rd["best_position"]].layer_name, **self._convergence(protocol, name, rr))
            self.out.run(name, "rho", rd.pop("value"), rd, protocol=protocol)

    def _ood_detection(self) -> None:
        self.progress("ood detection", 0, 1)
        feats = None
        if self.penultimate is not None:
            rep = [self.penultimate]
            key = self.penultimate.key
            feats = {"id_train": self._capture(rep, self.id_train.x)[key],
                     "id_test": self._capture(rep, self.id_test.x)[key]}
            for name, (_, te) in self.ood_sets.items():
                feats[f"ood_test:{name}"] = self._capture(rep, te.x)[key]
        for name in self.ood_sets:
            res = detection_metrics(
                self.logits["id_test"], self.logits[f"ood_test:{name}"], temperature=self.T,
                id_train_features=None if feats is None else feats["id_train"],
                id_train_labels=self.id_train.y,  # the rows of feats["id_train"], same order
                id_features=None if feats is None else feats["id_test"],
                ood_features=None if feats is None else feats[f"ood_test:{name}"],
                neco_dim=self.s.neco_dim or self.num_classes)
            for metric, (value, detail) in res.items():
                detail.update(id=self.data.id_name, n_id=self.id_test.n, n_ood=self.ood_sets[name][1].n,
                              feature_layer=None if self.penultimate is None else self.penultimate.layer_name)
                self.out.run(name, metric, value, detail)

    def _alignment(self) -> None:
        self.progress("alignment", 0, 1)
        s = self.s
        prep = _Prepared(self.data.id_test, s, shuffle=False, cap=s.alignment_samples)
        measured = [(i, tap) for i, tap in enumerate(self.taps) if tap.weight_module is not None]
        # one forward pass per group of layers whose input Grams (d × d float64 each) fit the memory budget,
        # instead of one pass per layer: a ResNet-18 reads its inputs once instead of 18 times
        groups = _group_by_budget(measured, [alignment_gram_mb(tap.weight_module) for _, tap in measured],
                                  s.memory_budget_mb)
        for group in groups:
            results = layers_alignment(self.model, [tap.weight_module for _, tap in group], prep.x,
                                       top_k=s.alignment_top_k, batch_size=s.forward_batch, device=self.device,
                                       patches_per_image=s.alignment_patches_per_image, seed=s.feature_seed)
            for (i, tap), res in zip(group, results):
                if res is not None:
                    self.out.alignment(i, tap.name, res)
