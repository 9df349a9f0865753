"""The epoch loop: SGD on the temperature-scaled loss, a per-epoch log, checkpoints, resume.

Data that fits (the embedded pair, CIFAR as tensors) stays on the device; each epoch draws its
order from a generator seeded by (seed, epoch), so a resumed run sees exactly the batches an
uninterrupted one would.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from training import checkpoint as ckpt
from training.config import RunConfig
from training.data import DataBundle
from training.losses import loss_fn

EVAL_BATCH = 512  # samples in the fixed evaluation batch for logits norm and rank


class Diverged(RuntimeError):
    """The loss became NaN or infinite; the run ends with status 'diverged'."""

    def __init__(self, epoch: int, reason: str) -> None:
        super().__init__(reason)
        self.epoch = epoch


@dataclass
class TrainResult:
    epochs_done: int
    resumed_from: int  # epoch of the checkpoint the run resumed from (0 = fresh start)
    log: list[dict] = field(default_factory=list)


def make_optimizer(cfg: RunConfig, model: nn.Module):
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(cfg.milestones), gamma=cfg.gamma)
    return opt, sched


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 1024) -> float:
    model.eval()
    correct = sum(int((model(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum()) for i in range(0, len(x), batch))
    return correct / max(len(x), 1)


@torch.no_grad()
def logits_summary(model: nn.Module, x_eval: torch.Tensor, temperature: float) -> dict:
    """Logits norm (mean per-sample L2, and Frobenius) and pre/post-softmax rank on the eval batch."""
    model.eval()
    z = model(x_eval).double()
    probs = torch.softmax(z / temperature, dim=1)
    return dict(
        logits_norm=float(z.norm(dim=1).mean()),
        logits_fro_norm=float(z.norm()),
        rank_pre_softmax=int(torch.linalg.matrix_rank(z.float())),
        rank_post_softmax=int(torch.linalg.matrix_rank(probs.float())),
        eval_samples=len(x_eval),
    )


def checkpoint_epochs(cfg: RunConfig) -> set[int]:
    """Epochs whose weights are kept for the analysis: the configured ones, 0 and the last."""
    return {0, cfg.epochs, *[e for e in cfg.checkpoint_epochs if 0 < e <= cfg.epochs]}


def train(
    cfg: RunConfig,
    model: nn.Module,
    data: DataBundle,
    *,
    checkpoint_dir: Path,
    on_epoch: Callable[[dict], None] | None = None,
    device: str | torch.device = "cpu",
    progress: Callable[[int, int], None] | None = None,
) -> TrainResult:
    """Train `model` on `data` for `cfg.epochs`; resumes from `checkpoint_dir/last.pt` if present."""
    device = torch.device(device)
    model.to(device)
    data = data.to(device)
    opt, sched = make_optimizer(cfg, model)
    loss_of = loss_fn(cfg.loss)
    x_eval = data.x_test[:EVAL_BATCH]
    log: list[dict] = []
    start_epoch, step, wall_before = 0, 0, 0.0

    found = ckpt.last_checkpoint(checkpoint_dir)
    if found is not None:
        state = ckpt.load(found)
        if state["run_id"] != cfg.run_id:
            raise RuntimeError(f"checkpoint {found} belongs to run {state['run_id']}, not {cfg.run_id}; remove it")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng_cpu"])
        start_epoch, step, log, wall_before = state["epoch"], state["step"], state["log"], state["wall_s"]
    t0 = time.perf_counter() - wall_before

    def record(epoch: int, train_loss: float, train_acc: float, lr: float) -> dict:
        row = dict(epoch=epoch, step=step, train_loss=train_loss, train_acc=train_acc,
                   test_acc=evaluate(model, data.x_test, data.y_test), lr=lr,
                   **logits_summary(model, x_eval, cfg.temperature), wall_s=time.perf_counter() - t0)
        log.append(row)
        if on_epoch:
            on_epoch(row)
        return row

    def save(epoch: int) -> None:
        state = dict(run_id=cfg.run_id, config=cfg.to_dict(), epoch=epoch, step=step, log=log,
                     wall_s=time.perf_counter() - t0, model=model.state_dict(), optimizer=opt.state_dict(),
                     scheduler=sched.state_dict(), rng_cpu=torch.get_rng_state())
        ckpt.save_atomic(state, checkpoint_dir / "last.pt")
        if epoch in checkpoint_epochs(cfg):
            ckpt.save_atomic({k: state[k] for k in ("run_id", "config", "epoch", "model")},
                             checkpoint_dir / f"epoch{epoch:04d}.pt")

    if start_epoch == 0 and not log:
        record(0, math.nan, math.nan, opt.param_groups[0]["lr"])  # the network at initialisation
        save(0)

    n = len(data.x_train)
    for epoch in range(start_epoch + 1, cfg.epochs + 1):
        model.train()
        order = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)).to(device)
        lr = opt.param_groups[0]["lr"]
        total_loss = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        for i in range(0, n, cfg.batch_size):
            idx = order[i : i + cfg.batch_size]
            xb, yb = data.x_train[idx], data.y_train[idx]
            logits = model(xb)
            loss = loss_of(logits, yb, cfg.temperature)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            total_loss += loss.detach() * len(idx)
            correct += (logits.detach().argmax(1) == yb).sum()
        sched.step()
        mean_loss = float(total_loss) / n
        if not math.isfinite(mean_loss):
            raise Diverged(epoch, f"training loss became {mean_loss} in epoch {epoch} (T={cfg.temperature})")
        record(epoch, mean_loss, int(correct) / n, lr)
        save(epoch)
        if progress:
            progress(epoch, cfg.epochs)
    return TrainResult(epochs_done=cfg.epochs, resumed_from=start_epoch, log=log)
