"""Did a run learn? One rule, computed once when the run ends, stored as its `learned` row.

A high temperature (or a small logits norm) can leave a network on the plateau where it predicts the
uniform distribution: its ranks, probes and ρ then describe an untrained network, not the temperature.
Every comparison of temperatures must be able to leave such runs out, so each run that ends (finished
or diverged) gets a verdict from its last epoch row and the number of classes of its data:

    learned  ⇔  test_acc ≥ 1/C + 0.1 · (1 − 1/C)          (a tenth of the way from chance to perfect)
            and train_loss ≤ 0.95 · chance_loss            (clearly below the uniform prediction's loss)

with chance_loss = ln C for cross-entropy and 1 − 1/C for the MSE loss (the losses of predicting the
uniform distribution). A run that diverged did not learn. The verdict is a `run_metrics` row (metric
`learned`, value 1 or 0, the numbers it used in `detail`); the warehouse's `runs.learned` reads it, NULL
until the run has ended.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

ACC_SHARE = 0.1  # of the distance from chance to perfect accuracy
LOSS_SHARE = 0.95  # of the uniform prediction's loss
WHAT_HELPS = ("train longer, start from a larger initial logits norm (init=kaiming) or calibrate T "
              "(thermoscope calibrate)")


def chance_loss(loss: str, num_classes: int) -> float:
    """The training loss of predicting the uniform distribution over `num_classes` classes."""
    return math.log(num_classes) if loss == "ce" else 1.0 - 1.0 / num_classes


@dataclass(frozen=True)
class Verdict:
    learned: bool
    reason: str  # one line
    detail: dict

    def row(self, run_id: str, epoch: int, dataset: str) -> dict:
        return dict(run_id=run_id, epoch=int(epoch), dataset=dataset, metric="learned",
                    value=1.0 if self.learned else 0.0, detail=json.dumps(self.detail, sort_keys=True))


def judge(last: dict | None, num_classes: int, loss: str, diverged: bool = False) -> Verdict:
    """The verdict from the run's last epoch row (`test_acc`, `train_loss`)."""
    c = int(num_classes)
    acc_bar = 1.0 / c + ACC_SHARE * (1.0 - 1.0 / c)
    loss_bar = LOSS_SHARE * chance_loss(loss, c)
    detail = dict(rule=f"test_acc >= 1/C + {ACC_SHARE}(1 - 1/C) and train_loss <= {LOSS_SHARE} chance_loss",
                  num_classes=c, loss=loss, acc_bar=acc_bar, loss_bar=loss_bar, chance_acc=1.0 / c)
    if diverged:
        return Verdict(False, "diverged", dict(detail, diverged=True))
    if not last:
        return Verdict(False, "no epoch was logged", detail)
    acc, train_loss = last.get("test_acc"), last.get("train_loss")
    detail.update(test_acc=acc, train_loss=train_loss, epoch=last.get("epoch"))
    if acc is None or train_loss is None or not math.isfinite(train_loss):
        return Verdict(False, "no training epoch to judge", detail)
    ok = acc >= acc_bar and train_loss <= loss_bar
    reason = (f"test accuracy {acc:.3f} (chance {1 / c:.3f}), train loss {train_loss:.4g} "
              f"(chance {chance_loss(loss, c):.4g})")
    return Verdict(ok, reason, detail)
