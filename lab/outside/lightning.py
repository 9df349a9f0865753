"""`ThermoscopeCallback`: the Tracker (lab/outside/tracker.py) as a PyTorch Lightning callback.

    from lab.outside.lightning import ThermoscopeCallback

    trainer = lightning.Trainer(callbacks=[ThermoscopeCallback(train_set, test_set, name="my-run", every=5)])

It measures the LightningModule (whose forward must return the logits) before the first epoch (epoch 0)
and after every `every`-th epoch, on rank 0 only, passing the epoch's `train_loss` when the module logs
one; the run ends finished with `fit`, failed (or cancelled) with an exception. Lightning is optional:
Thermoscope does not depend on it, and this module says how to install it when it is missing.
"""

from __future__ import annotations

from typing import Any

try:
    import lightning.pytorch as pl
except ImportError:
    try:
        import pytorch_lightning as pl
    except ImportError:
        raise ImportError("lab.outside.lightning needs PyTorch Lightning, which Thermoscope does not install: "
                          "pip install lightning (or use lab.Tracker in a plain loop)") from None

from lab.outside.tracker import Tracker


class ThermoscopeCallback(pl.Callback):
    def __init__(self, train_data: Any, test_data: Any, **tracker_options: Any) -> None:
        super().__init__()
        self.train_data, self.test_data, self.options = train_data, test_data, tracker_options
        self.tracker: Tracker | None = None

    def on_fit_start(self, trainer, pl_module) -> None:
        if trainer.is_global_zero:
            self.tracker = Tracker(pl_module, self.train_data, self.test_data, **self.options).start()
            self.tracker.measure(trainer.current_epoch)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self.tracker is None:
            return
        loss = trainer.callback_metrics.get("train_loss")
        self.tracker.measure(trainer.current_epoch + 1, train_loss=None if loss is None else float(loss))

    def on_fit_end(self, trainer, pl_module) -> None:
        if self.tracker is not None:
            self.tracker.close()

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        if self.tracker is not None:
            self.tracker.close(exception)
