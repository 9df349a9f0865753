"""Linear probes, two protocols (docs/methods.md §3), each probe with a convergence record (`ProbeRecord`).

- 'converged' (the default, `fit_converged`): multinomial logistic regression with an L2 penalty on
  standardised features, mean cross-entropy + λ/2·‖W‖² (bias not penalised), solved full-batch by L-BFGS to
  a gradient-norm tolerance. The problem is strictly convex, so the answer is the optimum's, not a step
  budget's. float32 first (the GEMMs are the cost); when float32 can no longer make the loss go down before
  the tolerance, the solve continues from there in float64.
- 'paper' (`train_probes`): Table 5, exactly (Adam, lr 1e-3, weight decay 1e-3, 50 epochs, batch 4096).
  `paper_records` adds the same record afterwards (full-batch objective and gradient at the end), so a
  probe that stopped far from its optimum says so.

The paper protocol's speed (below) and its values are unchanged.

Speed comes from three things (bench/bench_analysis.py measures them against one probe after another):
- Rows are pre-shuffled once (analyse_model captures the train split in a seeded random order), so a
  batch is a contiguous slice, a view, never a gather. Each epoch draws a random cyclic offset and a
  random batch order, so batch composition still changes between epochs; the batch that wraps around
  the end is two views whose gradients are summed (nothing is copied).
- All layers share one batch schedule, drawn once. Adam (with L2 weight decay, torch's `weight_decay`) is
  elementwise and the layers' parameters are disjoint, so training them step by step together ('step') or
  layer after layer ('layer') gives the same probes; on CPU 'layer' measured 1.3–1.6× faster (one layer's
  working set at a time: its weights, Adam state and the batch in flight), so it is the CPU default. The
  cross-entropy gradient is written out (`ce_grad`), without autograd.
- Probes start at zero (the problem is convex; no seed dependence from the initialisation).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

PROTOCOLS = ("converged", "paper")  # the probe protocols; the setting also accepts 'both'
PROBE_COLUMNS = ("probe_protocol", "probe_iterations", "probe_train_loss", "probe_train_acc", "probe_grad_norm",
                 "probe_converged", "probe_note")  # a probe row's record in the warehouse (layer_metrics)


@dataclass(frozen=True)
class ProbeRecord:
    """How a probe's optimisation ended; stored with every probe row (warehouse layer_metrics.probe_*).

    iterations: L-BFGS iterations (converged) or Adam steps (paper). train_loss: mean cross-entropy on the
    train rows (the penalty not included). grad_norm: ‖∇‖₂ of the full objective the protocol minimises
    (mean CE + λ/2·‖W‖², λ = l2 or the Adam weight decay) over (W, b) at the end. converged: grad_norm ≤ tol.
    note: '' or one line saying what was odd (dead features, a single class, NaN input, the cap reached).
    """

    protocol: str
    iterations: int
    train_loss: float
    train_acc: float
    grad_norm: float
    converged: bool
    note: str = ""
    dtype: str = "float32"
    tol: float = float("nan")
    l2: float = float("nan")

    def columns(self) -> dict:
        """The warehouse columns of a probe row (layer_metrics.probe_*)."""
        return dict(probe_protocol=self.protocol, probe_iterations=int(self.iterations),
                    probe_train_loss=float(self.train_loss), probe_train_acc=float(self.train_acc),
                    probe_grad_norm=float(self.grad_norm), probe_converged=bool(self.converged),
                    probe_note=self.note)


@dataclass
class Probe:
    weight: torch.Tensor  # (C, d)
    bias: torch.Tensor  # (C,)
    mean: torch.Tensor | None = None  # feature standardisation (train statistics), when used
    std: torch.Tensor | None = None
    record: ProbeRecord | None = field(default=None, compare=False)

    def raw_weight(self) -> torch.Tensor:
        """The weight acting on unstandardised features (logits = x · raw_weightᵀ + const): W / std."""
        return self.weight if self.std is None else self.weight / self.std

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        if self.mean is not None:
            x = (x - self.mean) / self.std
        return x @ self.weight.T + self.bias

    @torch.no_grad()
    def accuracy(self, x: torch.Tensor, y: torch.Tensor, batch: int = 8192) -> float:
        if not bool(torch.isfinite(self.weight).all()):  # a probe that could not be fitted has no accuracy
            return float("nan")
        correct = 0
        for lo in range(0, x.shape[0], batch):
            pred = self.logits(x[lo:lo + batch]).argmax(1)
            correct += int((pred == y[lo:lo + batch].to(pred.device)).sum())
        return correct / max(x.shape[0], 1)


def _batches(n: int, batch: int, gen: torch.Generator) -> list[tuple[int, int]]:
    """(start, length) of each batch in an epoch: a random cyclic offset, then batches in random order."""
    offset = int(torch.randint(n, (1,), generator=gen))
    starts = [(offset + lo) % n for lo in range(0, n, batch)]
    lengths = [min(batch, n - lo) for lo in range(0, n, batch)]
    order = torch.randperm(len(starts), generator=gen).tolist()
    return [(starts[i], lengths[i]) for i in order]


def _pieces(start: int, length: int, n: int) -> list[tuple[int, int]]:
    """The batch [start, start + length) of a cyclic order as 1 or 2 contiguous (lo, hi) ranges: no copy."""
    end = start + length
    return [(start, end)] if end <= n else [(start, n), (0, end - n)]


def ce_grad(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, b: torch.Tensor, total: int | None = None
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient of the mean cross-entropy of softmax(x wᵀ + b) w.r.t. (w, b), written out: (softmax − onehot)/B.

    No autograd graph: one pass for the logits, one for the weight gradient (1.5× faster than autograd here).
    `total` (default: x's rows) is the batch size B, so pieces of one batch can be summed.
    The probabilities are laid out classes-major, (C, B): a softmax over each sample's C = 10 logits in
    the (B, C) layout runs 4× slower on CPU than over dim 0 of the transpose (0.8 vs 0.2 ms at B = 4,096),
    and (C, B) is the layout the weight-gradient GEMM reads anyway; the whole probe step got 1.18× faster.
    """
    p = torch.softmax(torch.addmm(b, x, w.T).T.contiguous(), dim=0)  # (C, B)
    p[y, torch.arange(p.shape[1], device=p.device)] -= 1.0
    p /= total or x.shape[0]
    return p @ x, p.sum(1)


def _grad(f, y, w, b, mean, std, pieces, length) -> None:
    gw, gb = torch.zeros_like(w), torch.zeros_like(b)
    for lo, hi in pieces:  # the batch that wraps around the end is two views, summed
        xb = f[lo:hi]
        if mean is not None:
            xb = (xb - mean) / std
        pw, pb = ce_grad(xb, y[lo:hi], w, b, total=length)
        gw += pw
        gb += pb
    w.grad, b.grad = gw, gb


def train_probes(
    feats: Sequence[torch.Tensor],
    y: torch.Tensor,
    num_classes: int,
    *,
    epochs: int = 50,
    lr: float = 1e-3,
    weight_decay: float = 1e-3,
    batch: int = 4096,
    seed: int = 0,
    standardize: bool = False,
    order: str = "auto",
) -> list[Probe]:
    """Train one linear probe per feature matrix (all N rows, same labels `y`) on one shared batch schedule.

    `feats` should already be in a random row order (see module doc); they are read, never copied.
    order: 'step' = every probe takes each step together (one Adam step over all of them); 'layer' = each
    probe runs all its epochs in turn, which measured 1.3–1.6× faster on CPU (bench/bench_analysis.py);
    'auto' = 'layer' on CPU, 'step' elsewhere. Both give the same probes: the schedule is drawn once and the
    probes' optimisations are independent.
    """
    if order not in ("auto", "step", "layer"):
        raise ValueError(f"unknown probe order {order!r}; choose 'auto', 'step' or 'layer'")
    if not feats:
        return []
    n = feats[0].shape[0]
    if any(f.shape[0] != n for f in feats) or y.shape[0] != n:
        raise ValueError("every probe's feature matrix needs one row per label")
    device = feats[0].device
    if order == "auto":
        order = "layer" if device.type == "cpu" else "step"
    y = y.to(device)
    stats = []
    for f in feats:
        if standardize:
            stats.append((f.mean(0), f.std(0).clamp_min(1e-8)))
        else:
            stats.append((None, None))
    ws = [torch.zeros(num_classes, f.shape[1], device=device) for f in feats]
    bs = [torch.zeros(num_classes, device=device) for _ in feats]
    gen = torch.Generator().manual_seed(seed)
    schedule = [(_pieces(start, length, n), length) for _ in range(epochs) for start, length in _batches(n, batch, gen)]
    with torch.no_grad():
        if order == "step":
            opt = torch.optim.Adam([*ws, *bs], lr=lr, weight_decay=weight_decay)
            for pieces, length in schedule:
                for f, w, b, (mean, std) in zip(feats, ws, bs, stats):
                    _grad(f, y, w, b, mean, std, pieces, length)
                opt.step()
        else:
            for f, w, b, (mean, std) in zip(feats, ws, bs, stats):
                opt = torch.optim.Adam([w, b], lr=lr, weight_decay=weight_decay)
                for pieces, length in schedule:
                    _grad(f, y, w, b, mean, std, pieces, length)
                    opt.step()
    return [Probe(w, b, mean, std) for w, b, (mean, std) in zip(ws, bs, stats)]


def linear_probe_accuracies(
    train_feats: Sequence[torch.Tensor],
    y_train: torch.Tensor,
    test_feats: Sequence[torch.Tensor],
    y_test: torch.Tensor,
    num_classes: int | None = None,
    **kwargs,
) -> list[float]:
    """Test accuracy [fraction] of a probe per layer trained on the train features (kwargs: train_probes')."""
    if num_classes is None:
        num_classes = int(max(int(y_train.max()), int(y_test.max()))) + 1
    probes = train_probes(train_feats, y_train, num_classes, **kwargs)
    return [p.accuracy(x, y_test) for p, x in zip(probes, test_feats)]


# ---- the converged protocol ----------------------------------------------------------------------------------


class _Objective:
    """Mean cross-entropy + λ/2·‖W‖² of softmax(((x − mean)·scale) Wᵀ + b) on one layer, in one dtype.

    Standardisation is folded into the weights (x·(W·scale)ᵀ + b − (W·scale)·mean), so the features are
    read as they are and never copied; `scale` is 1/std, 0 for constant (dead) features, whose weights then
    get no data gradient and stay 0 (the penalty keeps them there). The loss is summed in float64.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, mean: torch.Tensor, scale: torch.Tensor, l2: float,
                 num_classes: int) -> None:
        self.x, self.y, self.l2, self.c = x, y, l2, num_classes
        self.mean, self.scale = mean.to(x.dtype), scale.to(x.dtype)
        self.rows = torch.arange(x.shape[0], device=x.device)

    def __call__(self, w: torch.Tensor, b: torch.Tensor, grad: bool = True):
        a = w * self.scale  # (C, d): the weight on raw features
        z = torch.addmm(b - a @ self.mean, self.x, a.T)  # (n, C)
        lse = torch.logsumexp(z, 1)
        n = self.x.shape[0]
        loss = float((lse - z[self.rows, self.y]).double().sum()) / n
        obj = loss + 0.5 * self.l2 * float((w.double() ** 2).sum())
        if not grad:
            return obj, loss, z
        p = torch.exp(z - lse[:, None])
        p[self.rows, self.y] -= 1.0
        p /= n
        gsum = p.sum(0)  # (C,)
        gw = (p.T @ self.x - gsum[:, None] * self.mean) * self.scale + self.l2 * w
        return obj, loss, z, gw, gsum


def _lbfgs_direction(g: torch.Tensor, pairs: list[tuple[torch.Tensor, torch.Tensor, float]]) -> torch.Tensor:
    """−H·g by the two-loop recursion over the stored (s, y, 1/yᵀs) pairs (oldest first)."""
    q = g.clone()
    alphas = []
    for s, yv, rho in reversed(pairs):
        a = rho * float(s @ q)
        alphas.append(a)
        q -= a * yv
    if pairs:
        s, yv, _ = pairs[-1]
        q *= float(s @ yv) / float(yv @ yv)
    for (s, yv, rho), a in zip(pairs, reversed(alphas)):
        q += (a - rho * float(yv @ q)) * s
    return -q


def _solve(obj: _Objective, w: torch.Tensor, b: torch.Tensor, *, tol: float, max_iter: int, history: int,
           start_iter: int = 0) -> tuple[torch.Tensor, torch.Tensor, int, str]:
    """L-BFGS with a backtracking (Armijo) line search until ‖∇‖₂ ≤ tol; (w, b, iterations, why it stopped).

    why: 'tol' (reached), 'cap' (max_iter iterations), 'stalled' (no step lowers the loss at this precision).
    """
    c, d = w.shape
    flat = torch.cat([w.reshape(-1), b])
    f, _, _, gw, gb = obj(w, b)
    g = torch.cat([gw.reshape(-1), gb])
    pairs: list[tuple[torch.Tensor, torch.Tensor, float]] = []
    it = start_iter
    # float32 sums carry ~1e-7 relative noise: a "decrease" below a few ulps of the loss is noise, and a gradient
    # that stops getting smaller for `patience` iterations sits on float32's floor; both end the float32 phase
    noise = 4 * torch.finfo(flat.dtype).eps if flat.dtype != torch.float64 else 0.0
    best, since_best, patience = math.inf, 0, 20
    while True:
        gnorm = float(g.double().norm())
        if gnorm <= tol:
            return flat[:c * d].view(c, d), flat[c * d:], it, "tol"
        if it >= max_iter:
            return flat[:c * d].view(c, d), flat[c * d:], it, "cap"
        best, since_best = (gnorm, 0) if gnorm < 0.9 * best else (best, since_best + 1)
        if noise and since_best >= patience:
            return flat[:c * d].view(c, d), flat[c * d:], it, "stalled"
        direction = _lbfgs_direction(g, pairs)
        slope = float(g @ direction)
        if not slope < 0:  # not a descent direction (rounding): restart from steepest descent
            pairs.clear()
            direction, slope = -g, -gnorm ** 2
        step = 1.0 if pairs else min(1.0, 1.0 / gnorm)
        for _ in range(12 if noise else 40):
            trial = flat + step * direction
            tw, tb = trial[:c * d].view(c, d), trial[c * d:]
            ft, _, _, tgw, tgb = obj(tw, tb)
            if ft <= f + 1e-4 * step * slope and f - ft >= noise * abs(f):
                break
            step *= 0.5
        else:
            return flat[:c * d].view(c, d), flat[c * d:], it, "stalled"
        g_new = torch.cat([tgw.reshape(-1), tgb])
        s_vec, y_vec = trial - flat, g_new - g
        sy = float(s_vec @ y_vec)
        if sy > 1e-12 * float(s_vec.norm()) * float(y_vec.norm()):
            pairs.append((s_vec, y_vec, 1.0 / sy))
            if len(pairs) > history:
                pairs.pop(0)
        flat, g, f = trial, g_new, ft
        it += 1


def _bad_record(protocol: str, note: str, tol: float, l2: float) -> ProbeRecord:
    nan = float("nan")
    return ProbeRecord(protocol, 0, nan, nan, nan, False, note, tol=tol, l2=l2)


def _empty_probe(num_classes: int, d: int, device, record: ProbeRecord) -> Probe:
    """A probe for input it could not be fitted on: NaN weights, so its accuracy is NaN, never a guess."""
    nan = float("nan")
    return Probe(torch.full((num_classes, d), nan, device=device), torch.full((num_classes,), nan, device=device),
                 record=record)


def input_problem(x: torch.Tensor, y: torch.Tensor) -> str:
    """'' or one line saying why no probe can be fitted on (x, y): NaN/inf features or a single class."""
    bad_rows = int((~torch.isfinite(x)).any(1).sum()) if x.numel() else 0
    if bad_rows:
        return f"NaN/inf in {bad_rows} of {x.shape[0]} train rows: no probe fitted (the layer's activations broke)"
    classes = torch.unique(y)
    if classes.numel() < 2:
        return (f"the train split holds a single class ({int(classes[0]) if classes.numel() else 'none'}): "
                "no probe fitted")
    return ""


def fit_converged(
    feats: Sequence[torch.Tensor],
    y: torch.Tensor,
    num_classes: int,
    *,
    l2: float = 1e-3,
    tol: float = 1e-3,
    max_iter: int = 1000,
    history: int = 10,
    dtype: str = "auto",
) -> list[Probe]:
    """One converged probe per feature matrix: argmin mean CE + l2/2·‖W‖² on standardised features.

    Standardisation uses the train rows' mean and population std (scikit-learn's StandardScaler); constant
    features (std 0: dead units) get weight 0 and are counted in the note. Stops when ‖∇‖₂ ≤ tol (so the
    loss is within tol²/(2·l2) of the optimum and ‖W − W*‖ ≤ tol/l2, by l2-strong convexity) or after
    `max_iter` L-BFGS iterations (then converged = False). dtype: 'auto' = float32, continued in float64
    when float32 stalls above the tolerance; 'float64' from the start.
    """
    if dtype not in ("auto", "float64"):
        raise ValueError(f"unknown probe dtype {dtype!r}; choose 'auto' or 'float64'")
    if not feats:
        return []
    n = feats[0].shape[0]
    if any(f.shape[0] != n for f in feats) or y.shape[0] != n:
        raise ValueError("every probe's feature matrix needs one row per label")
    out = []
    for x in feats:
        device = x.device
        yy = y.to(device)
        problem = input_problem(x, yy)
        if problem:
            out.append(_empty_probe(num_classes, x.shape[1], device, _bad_record("converged", problem, tol, l2)))
            continue
        std, mean = torch.std_mean(x.double(), 0, correction=0) if x.dtype != torch.float64 else \
            torch.std_mean(x, 0, correction=0)
        dead = std <= 1e-6 * mean.abs().clamp_min(1e-30)
        scale = torch.where(dead, torch.zeros_like(std), 1.0 / std.clamp_min(1e-300))
        notes = []
        if bool(dead.any()):
            notes.append(f"{int(dead.sum())} of {x.shape[1]} features constant on the train rows (dead units): "
                         "weight 0")
        work = torch.float64 if dtype == "float64" or x.dtype == torch.float64 else torch.float32
        w = torch.zeros(num_classes, x.shape[1], dtype=work, device=device)
        b = torch.zeros(num_classes, dtype=work, device=device)
        xw = x if x.dtype == work else x.to(work)
        obj = _Objective(xw, yy, mean.to(work), scale.to(work), l2, num_classes)
        w, b, it, why = _solve(obj, w, b, tol=tol, max_iter=max_iter, history=history)
        if why == "stalled" and work == torch.float32:  # float32 cannot resolve the last decrease: float64
            work = torch.float64
            obj = _Objective(x.to(work), yy, mean, scale, l2, num_classes)
            w, b, it, why = _solve(obj, w.to(work), b.to(work), tol=tol, max_iter=max_iter, history=history,
                                   start_iter=it)
        _, loss, z, gw, gb = obj(w, b)
        gnorm = float(torch.cat([gw.reshape(-1), gb]).double().norm())
        acc = float((z.argmax(1) == yy).double().mean())
        if why == "cap":
            notes.append(f"stopped at the iteration cap ({max_iter}) with gradient norm {gnorm:.2e} > tol {tol:g}")
        elif why == "stalled":
            notes.append(f"line search stalled in float64 at gradient norm {gnorm:.2e} > tol {tol:g}")
        record = ProbeRecord("converged", it, loss, acc, gnorm, why == "tol", "; ".join(notes),
                             dtype=str(work).removeprefix("torch."), tol=tol, l2=l2)
        keep = torch.float32 if x.dtype != torch.float64 else torch.float64
        safe_std = torch.where(dead, torch.ones_like(std), std)
        out.append(Probe((w * ~dead).to(keep), b.to(keep), mean.to(keep), safe_std.to(keep), record=record))
    return out


def paper_records(probes: Sequence[Probe], feats: Sequence[torch.Tensor], y: torch.Tensor, *, steps: int,
                  weight_decay: float, tol: float) -> list[Probe]:
    """The paper protocol's probes with their record: the full-batch objective Adam's weight decay targets
    (mean CE + wd/2·‖W‖², in the probe's own coordinates), its gradient norm at the end, train accuracy."""
    out = []
    for p, x in zip(probes, feats):
        yy = y.to(x.device)
        problem = input_problem(x, yy)
        if problem:
            p.record = _bad_record("paper", problem, tol, weight_decay)
            out.append(p)
            continue
        c, d = p.weight.shape
        if p.mean is not None:
            mean, scale = p.mean, 1.0 / p.std
        else:
            mean, scale = torch.zeros(d, device=x.device), torch.ones(d, device=x.device)
        obj = _Objective(x, yy, mean, scale, weight_decay, c)
        _, loss, z, gw, gb = obj(p.weight, p.bias)
        gnorm = float(torch.cat([gw.reshape(-1), gb]).double().norm())
        acc = float((z.argmax(1) == yy).double().mean())
        ok = gnorm <= tol and math.isfinite(loss)
        note = "" if ok else f"fixed budget of {steps} Adam steps ended at gradient norm {gnorm:.2e} > tol {tol:g}"
        p.record = ProbeRecord("paper", steps, loss, acc, gnorm, ok, note, tol=tol, l2=weight_decay)
        out.append(p)
    return out


def paper_steps(n: int, epochs: int, batch: int) -> int:
    """Adam steps the paper protocol takes: epochs × ⌈n / batch⌉."""
    return epochs * math.ceil(n / batch)
