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

import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from training import checkpoint as ckpt
from training.config import RunConfig
from training.data import DataBundle
from training.loop import (
    EVAL_BATCH,
    Diverged,
    TrainResult,
    checkpoint_epochs,
    evaluate,
    logits_summary,
    make_optimizer,
)
from training.losses import loss_fn
from training.packed.stack import Stacked, stack_members


def stacked_loss(name: str, logits: torch.Tensor, target: torch.Tensor, temps: torch.Tensor) -> torch.Tensor:
    """Per-run loss (R,) of logits (R, B, C), targets (R, B), temperatures (R,): training.losses, batched."""
    z = logits / temps.view(-1, 1, 1)
    if name == "ce":
        flat = F.cross_entropy(z.flatten(0, 1), target.flatten(), reduction="none")
        return flat.view(target.shape).mean(1)
    if name == "mse":
        probs = torch.softmax(z, dim=2)
        one_hot = F.one_hot(target, probs.shape[2]).to(probs.dtype)
        return ((probs - one_hot) ** 2).sum(dim=2).mean(1)
    # a loss registered later without a batched form: the registry's own function, run by run
    fn = loss_fn(name)
    return torch.stack([fn(logits[r], target[r], float(t)) for r, t in enumerate(temps.tolist())])


def _solo_states(cfgs, members, opt, sched, stack: Stacked) -> list[tuple[dict, dict]]:
    """Each run's (optimizer, scheduler) state_dict exactly as its solo loop would save them."""
    stacked = stack.parameters()
    out = []
    for r, (cfg, m) in enumerate(zip(cfgs, members)):
        solo_opt, solo_sched = make_optimizer(cfg, m)
        for p_solo, p_stack in zip(m.parameters(), stacked):
            state = opt.state.get(p_stack)
            if state:
                solo_opt.state[p_solo] = {k: (v[r].clone() if torch.is_tensor(v) and v.dim() > 0 else v)
                                          for k, v in state.items()}
        solo_opt.param_groups[0]["lr"] = opt.param_groups[0]["lr"]
        solo_sched.load_state_dict(sched.state_dict())
        out.append((solo_opt.state_dict(), solo_sched.state_dict()))
    return out


def _load_solo_states(states: list[dict], opt, sched, stack: Stacked) -> None:
    """Stack the runs' solo optimizer states (momentum buffers) into the packed optimizer."""
    for i, p in enumerate(stack.parameters()):
        per_run = [s["optimizer"]["state"].get(i) for s in states]
        if all(per_run):
            opt.state[p] = {k: (torch.stack([s[k] for s in per_run]).to(p.device) if torch.is_tensor(v)
                                and v.dim() > 0 else v) for k, v in per_run[0].items()}
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
) -> list[TrainResult | Diverged]:
    """Train runs `cfgs` (built as `members`) together; per run, a TrainResult or the Diverged it ended with.

    `on_epoch(r, row)` receives run r's row, the same dict the solo loop gives its callback. Every
    run resumes from its own `last.pt`; they must all be at one epoch (the job splits a pack that is not).
    """
    from training.packed.group import compatibility_key

    if len({compatibility_key(c) for c in cfgs}) != 1:
        raise ValueError("train_packed: runs differ in more than temperature, seed and initialisation")
    device = torch.device(device)
    data = data.to(device)
    for m in members:
        m.to(device)
    R, lead = len(cfgs), cfgs[0]
    states = []
    for cfg, m, folder in zip(cfgs, members, checkpoint_dirs):
        found = ckpt.last_checkpoint(folder)
        state = ckpt.load(found) if found is not None else None
        if state is not None:
            if state["run_id"] != cfg.run_id:
                raise RuntimeError(f"checkpoint {found} belongs to run {state['run_id']}, not {cfg.run_id}; remove it")
            m.load_state_dict(state["model"])
        states.append(state)
    epochs_at = {s["epoch"] if s else 0 for s in states}
    if len(epochs_at) != 1:
        raise RuntimeError(f"packed runs resume from different epochs {sorted(epochs_at)}; pack them by epoch")
    start_epoch = epochs_at.pop()

    stack = stack_members(members, engine)  # members are on `device` already: 'auto' picks by it
    opt = torch.optim.SGD(stack.parameters(), lr=lead.lr, momentum=lead.momentum, weight_decay=lead.weight_decay)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(lead.milestones), gamma=lead.gamma)
    logs: list[list[dict]] = [[] for _ in cfgs]
    steps, walls = [0] * R, [0.0] * R
    if start_epoch:
        _load_solo_states(states, opt, sched, stack)
        torch.set_rng_state(states[0]["rng_cpu"])
        logs = [s["log"] for s in states]
        steps = [s["step"] for s in states]
        walls = [s["wall_s"] for s in states]
    t0 = time.perf_counter() - max(walls)
    x_eval = data.x_test[:EVAL_BATCH]
    live = list(range(R))  # indices (into cfgs) of the runs still in the stack, in stack order
    outcome: list[TrainResult | Diverged | None] = [None] * R

    def record_and_save(epoch: int, r: int, train_loss: float, train_acc: float, lr: float, solo) -> None:
        cfg, m = cfgs[r], members[r]
        row = dict(epoch=epoch, step=steps[r], train_loss=train_loss, train_acc=train_acc,
                   test_acc=evaluate(m, data.x_test, data.y_test), lr=lr,
                   **logits_summary(m, x_eval, cfg.temperature), wall_s=time.perf_counter() - t0)
        logs[r].append(row)
        if on_epoch:
            on_epoch(r, row)
        opt_state, sched_state = solo
        state = dict(run_id=cfg.run_id, config=cfg.to_dict(), epoch=epoch, step=steps[r], log=logs[r],
                     wall_s=time.perf_counter() - t0, model=m.state_dict(), optimizer=opt_state,
                     scheduler=sched_state, rng_cpu=torch.get_rng_state())
        ckpt.save_atomic(state, checkpoint_dirs[r] / "last.pt")
        if epoch in checkpoint_epochs(cfg):
            ckpt.save_atomic({k: state[k] for k in ("run_id", "config", "epoch", "model")},
                             checkpoint_dirs[r] / f"epoch{epoch:04d}.pt")

    def end_of_epoch(epoch: int, losses: list[float], accs: list[float], lr: float) -> None:
        stack.write_back([members[r] for r in live])
        solo = _solo_states([cfgs[r] for r in live], [members[r] for r in live], opt, sched, stack)
        for k, r in enumerate(live):
            record_and_save(epoch, r, losses[k], accs[k], lr, solo[k])

    if start_epoch == 0:
        end_of_epoch(0, [math.nan] * R, [math.nan] * R, opt.param_groups[0]["lr"])  # the networks at init

    n = len(data.x_train)
    temps = torch.tensor([c.temperature for c in cfgs], dtype=torch.float32, device=device)
    for epoch in range(start_epoch + 1, lead.epochs + 1):
        if not live:
            break
        stack.train()
        orders = torch.stack([torch.randperm(n, generator=torch.Generator().manual_seed(cfgs[r].seed * 1_000_003 + epoch))
                              for r in live]).to(device)
        lr = opt.param_groups[0]["lr"]
        t_live = temps[live]
        total_loss = torch.zeros(len(live), device=device)
        correct = torch.zeros(len(live), device=device, dtype=torch.long)
        for i in range(0, n, lead.batch_size):
            idx = orders[:, i : i + lead.batch_size]  # (R, b): each run's own batch
            xb, yb = data.x_train[idx], data.y_train[idx]
            logits = stack(xb)
            losses = stacked_loss(lead.loss, logits, yb, t_live)
            opt.zero_grad(set_to_none=True)
            losses.sum().backward()  # d(sum)/d(run r's weights) = d(loss_r)/d(run r's weights)
            opt.step()
            total_loss += losses.detach() * idx.shape[1]
            correct += (logits.detach().argmax(2) == yb).sum(1)
        for r in live:
            steps[r] += -(-n // lead.batch_size)
        sched.step()
        mean_losses = [float(t) / n for t in total_loss.tolist()]  # the solo loop's float32 sum / n
        accs = [int(c) / n for c in correct.tolist()]
        diverged = [k for k, v in enumerate(mean_losses) if not math.isfinite(v)]
        for k in diverged:
            r = live[k]
            outcome[r] = Diverged(epoch, f"training loss became {mean_losses[k]} in epoch {epoch} "
                                         f"(T={cfgs[r].temperature})")
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


def _drop(stack: Stacked, opt: torch.optim.Optimizer, keep: list[int]) -> None:
    """Remove diverged runs from the stack and from the optimizer's tensors and state."""
    mapping = stack.keep(keep)
    index = torch.tensor(keep, device=next(iter(mapping.values())).device)
    for group in opt.param_groups:
        group["params"] = [mapping[p] for p in group["params"]]
    new_state = {}
    for old, new in mapping.items():
        if old in opt.state:
            new_state[new] = {k: (v.index_select(0, index) if torch.is_tensor(v) and v.dim() > 0 else v)
                              for k, v in opt.state[old].items()}
    opt.state.clear()
    opt.state.update(new_state)
