"""The epoch loop: SGD on the temperature-scaled loss, a per-epoch log, checkpoints, resume.

Batches come from a feed (training/fast.py): in-memory data stays on the device and is augmented
there; folder data streams through a DataLoader. Each epoch draws its order and its augmentation
from generators seeded by (seed, epoch), so a run resumed from its last complete checkpoint sees
exactly the batches an uninterrupted one would, and on the CPU finishes with the same weights.

Checkpoints: `last.pt` (everything needed to resume) after every epoch, and `epochNNNN.pt` (weights
for the analysis) at epoch 0, cfg.checkpoint_epochs and the last epoch. The epoch file is written
before `last.pt`, both atomically, so a kill at any moment leaves either the previous complete
state or the new one, never a resume point whose analysis checkpoint is missing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from training import checkpoint as ckpt
from training.config import RunConfig
from training.data.registry import DataBundle, StreamBundle
from training.distributed import SINGLE, DistInfo, wrap
from training.fast import Speed, make_feed
from training.losses import loss_fn

EVAL_BATCH = 512  # samples in the fixed evaluation batch for logits norm and rank


class Diverged(RuntimeError):
    """The loss became NaN or infinite; the run ends with status 'diverged'."""

    def __init__(self, epoch: int, reason: str) -> None:
        super().__init__(reason)
        self.epoch = epoch
        self.reason = reason


@dataclass
class TrainResult:
    epochs_done: int
    resumed_from: int  # epoch of the checkpoint the run resumed from (0 = fresh start)
    log: list[dict] = field(default_factory=list)


def make_optimizer(cfg: RunConfig, params: Iterable[torch.Tensor]):
    """SGD with the config's momentum and weight decay, stepped down by gamma at each milestone.

    Both loops build theirs here: the solo loop over one model's parameters, the packed loop over the
    stacked tensors of R runs (SGD is element-wise, so each slice steps exactly as its solo run would)."""
    opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(cfg.milestones), gamma=cfg.gamma)
    return opt, sched


def divergence(mean_loss: float, epoch: int, cfg: RunConfig, lr: float) -> Diverged | None:
    """The one rule for a run that blew up: a non-finite mean training loss ends it as 'diverged'."""
    if math.isfinite(mean_loss):
        return None
    return Diverged(epoch, f"training loss became {mean_loss} in epoch {epoch} (T={cfg.temperature}, lr={lr}); "
                           "lower the lr or check the temperature")


# ---- checkpoints: one format for both loops, so a packed run can resume solo and a solo run packed ----

def resume_state(checkpoint_dir: Path, cfg: RunConfig) -> dict | None:
    """The run's `last.pt` (everything needed to resume), checked to be this run's; None for a fresh start."""
    found = ckpt.last_checkpoint(checkpoint_dir)
    if found is None:
        return None
    state = ckpt.load(found)
    if state["run_id"] != cfg.run_id:
        raise RuntimeError(f"checkpoint {found} belongs to run {state['run_id']}, not {cfg.run_id}; remove it")
    return state


def checkpoint_state(cfg: RunConfig, *, epoch: int, step: int, log: list[dict], wall_s: float, model: dict,
                     optimizer: dict, scheduler: dict) -> dict:
    """What `last.pt` holds: the run, where it is, its weights, optimizer, scheduler and the CPU RNG."""
    return dict(run_id=cfg.run_id, config=cfg.to_dict(), epoch=epoch, step=step, log=log, wall_s=wall_s,
                model=model, optimizer=optimizer, scheduler=scheduler, rng_cpu=torch.get_rng_state())


def save_checkpoints(checkpoint_dir: Path, cfg: RunConfig, state: dict) -> None:
    """The epoch's analysis checkpoint (when the epoch is kept) first, then `last.pt`, both atomically:
    a kill at any moment never leaves a resume point whose analysis checkpoint is missing."""
    epoch = state["epoch"]
    if epoch in checkpoint_epochs(cfg):
        ckpt.save_atomic({k: state[k] for k in ("run_id", "config", "epoch", "model")},
                         checkpoint_dir / f"epoch{epoch:04d}.pt")
    ckpt.save_atomic(state, checkpoint_dir / "last.pt")


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 1024) -> float:
    """Accuracy of `model` on in-memory (x, y)."""
    model.eval()
    correct = sum(int((model(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum()) for i in range(0, len(x), batch))
    return correct / max(len(x), 1)


@torch.no_grad()
def evaluate_feed(model: nn.Module, feed, speed: Speed, device: torch.device) -> float:
    """Test accuracy over the feed's whole test split."""
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=device)
    with speed.autocast(device):
        for x, y in feed.test_batches():
            correct += (model(x).argmax(1) == y).sum()
    return int(correct) / max(feed.n_test, 1)


@torch.no_grad()
def logits_summary(model: nn.Module, x_eval: torch.Tensor, temperature: float) -> dict:
    """Logits norm (mean per-sample L2, and Frobenius) and pre/post-softmax rank on the eval batch.

    Always float32 (no autocast): ranks and norms are measurements, not training arithmetic."""
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


def epoch_row(model: nn.Module, feed, speed: Speed, device: torch.device, x_eval: torch.Tensor, cfg: RunConfig, *,
              epoch: int, step: int, train_loss: float, train_acc: float, lr: float, wall_s: float) -> dict:
    """One row of the run's epoch log (table `epochs`): what it did this epoch and where it stands."""
    return dict(epoch=epoch, step=step, train_loss=train_loss, train_acc=train_acc,
                test_acc=evaluate_feed(model, feed, speed, device), lr=lr,
                **logits_summary(model, x_eval, cfg.temperature), wall_s=wall_s)


def checkpoint_epochs(cfg: RunConfig) -> set[int]:
    """Epochs whose weights are kept for the analysis: the configured ones, 0 and the last."""
    return {0, cfg.epochs, *[e for e in cfg.checkpoint_epochs if 0 < e <= cfg.epochs]}


def train(
    cfg: RunConfig,
    model: nn.Module,
    data: DataBundle | StreamBundle,
    *,
    checkpoint_dir: Path,
    on_epoch: Callable[[dict], None] | None = None,
    device: str | torch.device = "cpu",
    progress: Callable[[int, int], None] | None = None,
    dist: DistInfo = SINGLE,
    speed: Speed | None = None,
) -> TrainResult:
    """Train `model` on `data` for `cfg.epochs`; resumes from `checkpoint_dir/last.pt` if present.

    Under DDP (`dist.world > 1`) every rank calls this; rank 0 alone logs and writes checkpoints.
    """
    device = torch.device(device)
    speed = speed or Speed.for_device(device)
    model.to(device)
    if speed.channels_last:
        model.to(memory_format=torch.channels_last)
    feed = make_feed(data, cfg.arch, device, speed.channels_last)
    opt, sched = make_optimizer(cfg, model.parameters())
    loss_of = loss_fn(cfg.loss)
    x_eval = feed.eval_batch(EVAL_BATCH)
    log: list[dict] = []
    start_epoch, step, wall_before = 0, 0, 0.0

    state = resume_state(checkpoint_dir, cfg)
    dist.barrier()  # every rank has looked before rank 0 may write the epoch-0 checkpoint
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng_cpu"])
        start_epoch, step, log, wall_before = state["epoch"], state["step"], state["log"], state["wall_s"]
    net = wrap(model, dist, device)
    if speed.compile:
        net = torch.compile(net)
    t0 = time.perf_counter() - wall_before

    def record(epoch: int, train_loss: float, train_acc: float, lr: float) -> None:
        if not dist.is_main:
            return
        row = epoch_row(model, feed, speed, device, x_eval, cfg, epoch=epoch, step=step, train_loss=train_loss,
                        train_acc=train_acc, lr=lr, wall_s=time.perf_counter() - t0)
        log.append(row)
        if on_epoch:
            on_epoch(row)

    def save(epoch: int) -> None:
        if not dist.is_main:
            return
        save_checkpoints(checkpoint_dir, cfg, checkpoint_state(
            cfg, epoch=epoch, step=step, log=log, wall_s=time.perf_counter() - t0, model=model.state_dict(),
            optimizer=opt.state_dict(), scheduler=sched.state_dict()))

    if start_epoch == 0 and not log:
        record(0, math.nan, math.nan, opt.param_groups[0]["lr"])  # the network at initialisation
        save(0)

    for epoch in range(start_epoch + 1, cfg.epochs + 1):
        net.train()
        lr = opt.param_groups[0]["lr"]
        total_loss = torch.zeros((), device=device, dtype=torch.float64)
        correct = torch.zeros((), device=device, dtype=torch.long)
        for xb, yb, global_n in feed.train_batches(epoch, cfg.seed, cfg.batch_size, dist.rank, dist.world):
            with speed.autocast(device):
                logits = net(xb)
            loss = loss_of(logits.float(), yb, cfg.temperature)
            # DDP averages gradients over ranks: weighting each rank's mean by its share of the global
            # batch (× world) makes that average the gradient of the global batch's mean loss
            scaled = loss * (len(yb) * dist.world / global_n) if dist.active else loss
            opt.zero_grad(set_to_none=True)
            scaled.backward()
            opt.step()
            step += 1
            total_loss += loss.detach().double() * len(yb)
            correct += (logits.detach().argmax(1) == yb).sum()
        sched.step()
        dist.sum_(total_loss)
        dist.sum_(correct)
        mean_loss = float(total_loss) / feed.n_train
        blown = divergence(mean_loss, epoch, cfg, lr)
        if blown is not None:
            raise blown
        record(epoch, mean_loss, int(correct) / feed.n_train, lr)
        save(epoch)
        if progress and dist.is_main:
            progress(epoch, cfg.epochs)
    dist.barrier()
    return TrainResult(epochs_done=cfg.epochs, resumed_from=start_epoch, log=log)
