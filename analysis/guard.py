"""`untouched(model)`: measure a model that is still training without changing anything about it.

Measuring puts the model in eval mode and runs forward passes; a model in the middle of someone's
training loop must come out exactly as it went in. Restored on exit, whatever happens inside:

- every module's own train/eval flag (a loop may keep its BatchNorms in eval while the rest trains;
  `model.train(was)` alone would flip them back);
- every buffer's values (BatchNorm running statistics and batch counters), copied back in place;
- every parameter's `.grad` (the same tensor object, so an optimizer step after measuring sees the
  gradients of the loop's own backward pass);
- the random number generators: torch's (CPU and every initialised CUDA device), NumPy's global one and
  Python's `random`, so the loop's next shuffle, dropout mask or augmentation is the one it would have
  drawn without measuring;
- whether autograd is enabled.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn


@contextmanager
def untouched(model: nn.Module) -> Iterator[nn.Module]:
    modes = [(m, m.training) for m in model.modules()]
    grads = [(p, p.grad) for p in model.parameters()]
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    cpu_rng = torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    np_rng = np.random.get_state()
    py_rng = random.getstate()
    grad_enabled = torch.is_grad_enabled()
    try:
        yield model
    finally:
        for m, training in modes:
            m.training = training
        for p, grad in grads:
            p.grad = grad
        with torch.no_grad():
            for b, saved in buffers:
                b.copy_(saved)
        torch.set_rng_state(cpu_rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)
        np.random.set_state(np_rng)
        random.setstate(py_rng)
        torch.set_grad_enabled(grad_enabled)
