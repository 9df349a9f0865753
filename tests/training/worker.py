"""A real training process for the resume and DDP tests: MLP on the embedded digits.

    python tests/training/worker.py CHECKPOINT_DIR OUT_FILE EPOCHS WIDTH [BATCH]

Prints 'epoch N' after each logged epoch (rank 0); rank 0 writes the final weights and log to
OUT_FILE. Under torchrun-style variables (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT) it joins a
gloo process group through training.distributed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from training import distributed  # the installed package: no path set-up
from training.config import make_config
from training.data import load_dataset
from training.loop import train
from training.models import ModelSpec, build_model


def config(epochs: int, width: int, batch: int = 128):
    return make_config(preset="demo", epochs=epochs, width=width, depth=4, batch_size=batch, seed=7,
                       checkpoint_epochs=(2,))


def main() -> None:
    torch.set_num_threads(1)
    ckpt_dir, out, epochs, width = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    batch = int(sys.argv[5]) if len(sys.argv) > 5 else 128
    info = distributed.setup()
    cfg = config(epochs, width, batch)
    data = load_dataset(cfg.dataset, cfg.data_dir)
    model = build_model(cfg, ModelSpec(data.num_classes, data.input_shape))
    result = train(cfg, model, data, checkpoint_dir=ckpt_dir, dist=info,
                   on_epoch=lambda row: print(f"epoch {row['epoch']}", flush=True))
    if info.is_main:
        torch.save({"model": model.state_dict(), "log": result.log, "resumed_from": result.resumed_from}, out)
    distributed.teardown()


if __name__ == "__main__":
    main()
