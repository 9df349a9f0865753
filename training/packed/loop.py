"""The packed epoch loop: R compatible runs trained as one stacked model, each exactly as `loop.train`.

Per run, everything that defines it stays its own: its initial weights (each member is built by
`build_model(cfg)`), its data order (its own `randperm` per epoch, seeded like the solo loop), its
loss temperature, its metrics (computed by the solo loop's own `evaluate` / `logits_summary` on its
own module after the weights are copied back), its per-epoch rows and its checkpoints (solo format:
a packed run can resume solo and a solo run can resume packed). What is shared is only what
compatibility requires to be equal: the architecture, data, batch schedule and the optimiser's
hyper-parameters, so one SGD over the stacked tensors does for each slice what the solo SGD does
(SGD is element-wise).

A run whose loss becomes NaN/inf ends as the solo run would (Diverged at that epoch, no row for it)
and is dropped from the stack; the others go on.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from torch import nn

from training.config import RunConfig
from training.data import DataBundle
from training.fast import Speed, TensorFeed, make_feed
from training.loop import (
    EVAL_BATCH,
    Diverged,
    TrainResult,
    checkpoint_state,
    divergence,
    epoch_row,
    make_optimizer,
    resume_state,
    save_checkpoints,
)
from training.packed.stack import (  # noqa: F401 (stacked_loss: re-exported)
    MemberLoop,
    Stacked,
    resolve_engine,
    stack_members,
    stacked_loss,
)


def _cut(value, row: int | None):
    """Run `row`'s part of an optimizer state entry (row None: the entry is the run's own)."""
    if row is None or not torch.is_tensor(value) or value.dim() == 0:
        return value.clone() if torch.is_tensor(value) else value
    return value[row].clone()


def _solo_states(cfgs, members, opt, sched, stack: Stacked | MemberLoop) -> list[tuple[dict, dict]]:
    """Each run's (optimizer, scheduler) state_dict exactly as its solo loop would save them."""
    out = []
    for r, (cfg, m) in enumerate(zip(cfgs, members)):
        solo_opt, solo_sched = make_optimizer(cfg, m.parameters())
        for p_solo, (key, row) in zip(m.parameters(), stack.slots(r)):
            state = opt.state.get(key)
            if state:
                solo_opt.state[p_solo] = {k: _cut(v, row) for k, v in state.items()}
        solo_opt.param_groups[0]["lr"] = opt.param_groups[0]["lr"]
        solo_sched.load_state_dict(sched.state_dict())
        out.append((solo_opt.state_dict(), solo_sched.state_dict()))
    return out


def _load_solo_states(states: list[dict], opt, sched, stack: Stacked | MemberLoop) -> None:
    """Put the runs' solo optimizer states (momentum buffers) into the packed optimizer."""
    rows: dict[torch.Tensor, list[tuple[int | None, dict]]] = {}
    for r, state in enumerate(states):
        for i, (key, row) in enumerate(stack.slots(r)):
            entry = state["optimizer"]["state"].get(i)
            if entry:
                rows.setdefault(key, []).append((row, entry))
    for key, entries in rows.items():
        if entries[0][0] is None:  # the run's own tensor
            opt.state[key] = {k: (v.to(key.device) if torch.is_tensor(v) and v.dim() > 0 else v)
                              for k, v in entries[0][1].items()}
        elif len(entries) == stack.size:  # a stacked tensor: every run's slice, in row order
            first = entries[0][1]
            opt.state[key] = {k: (torch.stack([e[k] for _, e in sorted(entries, key=lambda t: t[0])]).to(key.device)
                                  if torch.is_tensor(v) and v.dim() > 0 else v) for k, v in first.items()}
    sched.load_state_dict(states[0]["scheduler"])
    for group in opt.param_groups:
        group["lr"] = states[0]["optimizer"]["param_groups"][0]["lr"]


def train_packed(
    cfgs: list[RunConfig],
    members: list[nn.Module],
    data: DataBundle,
    *,
    checkpoint_dirs: list[Path],
    on_epoch: Callable[[int, dict], None] | None = None,
    device: str | torch.device = "cpu",
    engine: str = "auto",
    speed: Speed | None = None,
) -> list[TrainResult | Diverged]:
    """Train runs `cfgs` (built as `members`) together; per run, a TrainResult or the Diverged it ended with.

    `on_epoch(r, row)` receives run r's row, the same dict the solo loop gives its callback. Every
    run resumes from its own `last.pt`; they must all be at one epoch (the job splits a pack that is not).
    `engine`: see stack.resolve_engine ('auto' trains solo on a CPU, stacked on a GPU).
    Batches come from the solo loop's own feed (training/fast.py), drawn per run with the run's seed,
    so order and augmentation are the solo run's. Speed: the solo loop's bf16 autocast on a GPU, but
    neither channels_last (stacked batches are 5-D) nor torch.compile (vmap and compile: untested here).
    """
    from training.packed.group import compatibility_key

    if len({compatibility_key(c) for c in cfgs}) != 1:
        raise ValueError("train_packed: runs differ in more than temperature, seed and initialisation")
    device = torch.device(device)
    engine = resolve_engine(engine, members, device)
    if engine == "solo":  # the solo loop with its own speed switches
        return _train_solo(cfgs, members, data, checkpoint_dirs, on_epoch, device, speed)
    speed = dataclasses.replace(speed or Speed.for_device(device), channels_last=False, compile=False)
    feed = make_feed(data, cfgs[0].arch, device, False)
    if not isinstance(feed, TensorFeed):
        raise ValueError(f"cannot pack runs on {data.name}: it streams from disk (one loader per run would be "
                         "needed); pack in-memory datasets only, or run these solo (--pack 1)")
    for m in members:
        m.to(device)
    R, lead = len(cfgs), cfgs[0]
    states = [resume_state(folder, cfg) for cfg, folder in zip(cfgs, checkpoint_dirs)]
    for m, state in zip(members, states):
        if state is not None:
            m.load_state_dict(state["model"])
    epochs_at = {s["epoch"] if s else 0 for s in states}
    if len(epochs_at) != 1:
        raise RuntimeError(f"packed runs resume from different epochs {sorted(epochs_at)}; pack them by epoch")
    start_epoch = epochs_at.pop()

    stack = stack_members(members, engine)
    opt, sched = make_optimizer(lead, stack.parameters())  # the solo loop's, over the stacked tensors
    logs: list[list[dict]] = [[] for _ in cfgs]
    steps, walls = [0] * R, [0.0] * R
    if start_epoch:
        _load_solo_states(states, opt, sched, stack)
        torch.set_rng_state(states[0]["rng_cpu"])
        logs = [s["log"] for s in states]
        steps = [s["step"] for s in states]
        walls = [s["wall_s"] for s in states]
    t0 = time.perf_counter() - max(walls)
    x_eval = feed.eval_batch(EVAL_BATCH)
    live = list(range(R))  # indices (into cfgs) of the runs still in the stack, in stack order
    outcome: list[TrainResult | Diverged | None] = [None] * R

    def record(epoch: int, r: int, train_loss: float, train_acc: float, lr: float, solo) -> Callable[[], None]:
        """Run r's row (written at once, as the solo loop does) and the writer of its checkpoints."""
        cfg, m = cfgs[r], members[r]
        row = epoch_row(m, feed, speed, device, x_eval, cfg, epoch=epoch, step=steps[r], train_loss=train_loss,
                        train_acc=train_acc, lr=lr, wall_s=time.perf_counter() - t0)
        logs[r].append(row)
        if on_epoch:
            on_epoch(r, row)
        opt_state, sched_state = solo
        state = checkpoint_state(cfg, epoch=epoch, step=steps[r], log=logs[r], wall_s=time.perf_counter() - t0,
                                 model=m.state_dict(), optimizer=opt_state, scheduler=sched_state)
        return lambda: save_checkpoints(checkpoint_dirs[r], cfg, state)

    def end_of_epoch(epoch: int, losses: list[float], accs: list[float], lr: float) -> None:
        stack.write_back([members[r] for r in live])
        solo = _solo_states([cfgs[r] for r in live], [members[r] for r in live], opt, sched, stack)
        writers = [record(epoch, r, losses[k], accs[k], lr, solo[k]) for k, r in enumerate(live)]
        # R runs' checkpoints written side by side: each save_atomic waits on its fsync, which for small
        # runs costs more than their epoch; all are on disk before the next epoch changes any tensor
        with ThreadPoolExecutor(max_workers=min(8, len(writers))) as pool:
            for done in [pool.submit(w) for w in writers]:
                done.result()  # a failed write raises here, as it would in the solo loop

    if start_epoch == 0:
        end_of_epoch(0, [math.nan] * R, [math.nan] * R, opt.param_groups[0]["lr"])  # the networks at init

    n = feed.n_train
    temps = torch.tensor([c.temperature for c in cfgs], dtype=torch.float32, device=device)
    for epoch in range(start_epoch + 1, lead.epochs + 1):
        if not live:
            break
        stack.train()
        lr = opt.param_groups[0]["lr"]
        t_live = temps[live]
        total_loss = torch.zeros(len(live), device=device, dtype=torch.float64)
        correct = torch.zeros(len(live), device=device, dtype=torch.long)
        # each run's own batches (its seeded order and augmentation), step by step side by side
        feeds = [feed.train_batches(epoch, cfgs[r].seed, lead.batch_size) for r in live]
        for batches in zip(*feeds):
            xb = torch.stack([b[0] for b in batches])  # (R, b, ...)
            yb = torch.stack([b[1] for b in batches])
            opt.zero_grad(set_to_none=True)
            losses, logits = stack.forward_backward(xb, yb, t_live, lead.loss, lambda: speed.autocast(device))
            opt.step()
            total_loss += losses.double() * yb.shape[1]
            correct += (logits.argmax(2) == yb).sum(1)
        for r in live:
            steps[r] += -(-n // lead.batch_size)
        sched.step()
        mean_losses = [float(t) / n for t in total_loss.tolist()]  # the solo loop's float64 sum / n
        accs = [int(c) / n for c in correct.tolist()]
        blown = {k: divergence(v, epoch, cfgs[live[k]], lr) for k, v in enumerate(mean_losses)}
        diverged = [k for k, d in blown.items() if d is not None]
        for k in diverged:
            outcome[live[k]] = blown[k]  # the solo loop's own verdict and message
        if diverged:
            keep = [k for k in range(len(live)) if k not in diverged]
            _drop(stack, opt, keep)
            live = [live[k] for k in keep]
            mean_losses = [mean_losses[k] for k in keep]
            accs = [accs[k] for k in keep]
        if live:
            end_of_epoch(epoch, mean_losses, accs, lr)
    for r in range(R):
        if outcome[r] is None:
            outcome[r] = TrainResult(epochs_done=lead.epochs, resumed_from=start_epoch, log=logs[r])
    return outcome  # type: ignore[return-value]


def _train_solo(cfgs, members, data, checkpoint_dirs, on_epoch, device, speed) -> list[TrainResult | Diverged]:
    """The CPU default: each run through the solo loop itself, one after another (see resolve_engine)."""
    from training.loop import train

    results: list[TrainResult | Diverged] = []
    for r, (cfg, m, folder) in enumerate(zip(cfgs, members, checkpoint_dirs)):
        hook = (lambda row, r=r: on_epoch(r, row)) if on_epoch else None
        try:
            results.append(train(cfg, m, data, checkpoint_dir=folder, on_epoch=hook, device=device, speed=speed))
        except Diverged as exc:
            results.append(exc)
    return results


def _drop(stack: Stacked | MemberLoop, opt: torch.optim.Optimizer, keep: list[int]) -> None:
    """Remove diverged runs from the stack and from the optimizer's tensors and state."""
    mapping = stack.keep(keep)
    for group in opt.param_groups:
        group["params"] = [mapping[p][0] for p in group["params"] if p in mapping]
    new_state = {}
    for old, (new, index) in mapping.items():
        if old in opt.state:
            new_state[new] = {k: (v.index_select(0, index) if index is not None and torch.is_tensor(v)
                                  and v.dim() > 0 else v) for k, v in opt.state[old].items()}
    opt.state.clear()
    opt.state.update(new_state)
