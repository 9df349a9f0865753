"""A kept checkpoint back into what the analysis needs: its run's config, model (with its weights) and data.

A checkpoint is a torch.save'd dict {'run_id', 'config': RunConfig.to_dict(), 'model': state_dict, 'epoch'}
(what the training loop keeps as epochNNNN.pt). Rows measured from it belong to the run the checkpoint
names (`run_id`), so re-analysing a checkpoint replaces that run's rows.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analysis.settings import AnalysisSettings
from lab.records.configs import stored_settings
from training.config import FIELD_NAMES, ConfigError, RunConfig, coerce
from warehouse import Home

# Config fields of older code that were analysis settings: a checkpoint made by that code says how its run
# was measured through them.
LEGACY_SETTINGS = {"probe_epochs": "probe_epochs", "analysis_samples": "max_samples", "max_features": "max_features",
                   "kappa_threshold": "kappa_threshold"}


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    run_id: str
    epoch: int
    config: RunConfig
    settings: dict[str, Any]  # the analysis settings its run was made with (legacy config fields), if any
    state: dict[str, Any]


class NotACheckpoint(ValueError):
    pass


def read_checkpoint(path: Path, *, trust_pickle: bool = False) -> Checkpoint:
    """`trust_pickle`: the owner's `analyse --trust-pickle` only; otherwise weights_only (training/safe_load.py)."""
    from training.safe_load import UnsafeCheckpoint, load_file

    try:
        state = load_file(path, trust_pickle=trust_pickle, offer_flag=True)
    except UnsafeCheckpoint as exc:
        raise NotACheckpoint(str(exc)) from None
    except Exception as exc:
        raise NotACheckpoint(f"{path}: cannot be read as a torch checkpoint ({type(exc).__name__}); give an "
                             "epochNNNN.pt file from $THERMOSCOPE_HOME/checkpoints/<run_id>/") from None
    if not isinstance(state, dict) or "config" not in state or "model" not in state:
        raise NotACheckpoint(f"{path}: not a Thermoscope checkpoint (a dict with 'config', 'model', 'epoch')")
    raw = dict(state["config"])
    unknown = sorted(set(raw) - set(FIELD_NAMES) - set(LEGACY_SETTINGS))
    if unknown:
        print(f"note: {path} has config fields this code does not know, ignored: {', '.join(unknown)}", file=sys.stderr)
    try:
        cfg = RunConfig(**{k: coerce(k, v) for k, v in raw.items() if k in FIELD_NAMES})
    except ConfigError as exc:
        raise NotACheckpoint(f"{path}: its config is not valid here ({exc})") from None
    legacy = {LEGACY_SETTINGS[k]: v for k, v in raw.items() if k in LEGACY_SETTINGS}
    return Checkpoint(Path(path), str(state.get("run_id") or cfg.run_id), int(state.get("epoch", 0)), cfg, legacy,
                      state)


def settings_for(ckpt: Checkpoint, where: Home, overrides: dict[str, Any] | None = None) -> AnalysisSettings:
    """The run's own settings (stored with it, or its legacy config fields), with `overrides` on top."""
    return AnalysisSettings.from_dict({**ckpt.settings, **stored_settings(where, ckpt.run_id), **(overrides or {})})


def rebuild(ckpt: Checkpoint, settings: AnalysisSettings, device, ood: tuple[str, ...] | None = None
            ) -> tuple[Any, Any]:
    """(model with the checkpoint's weights on `device`, AnalysisData of the run's datasets, or of `ood` as the
    out-of-distribution sets instead of the run's own)."""
    from lab.jobs.pipeline import analysis_data, prepare_run

    run = prepare_run(ckpt.config if ood is None else ckpt.config.replace(ood=tuple(ood)), device)
    run.model.load_state_dict(ckpt.state["model"])
    run.model.to(device)
    return run.model, analysis_data(run, settings)
