"""R models of one architecture as one stacked model: parameters (R, ...) and one forward for all runs.

Three engines share one interface (`params`, `forward(x) -> (R, B, classes)`, `write_back`, `keep`):

- `GroupedMLP`: the paper's MLP as grouped matmuls (`torch.baddbmm` over stacked weights). Exact
  (each run's slice is the same matmul the solo run does) and, unlike torch.func's vmap, not slower
  than R sequential models on a CPU (TESTING.md measured vmap ~2x slower there).
- `VmapStack`: any module through torch.func (`stack_module_state` + `functional_call` + `vmap`); used
  for the ResNet-18 benchmark on a GPU. Buffers (BatchNorm running statistics) are stacked too, so
  every run keeps its own statistics; batch statistics are per run because vmap gives each slice its
  own batch. Note: stack_module_state itself is not used; `Stacked` builds the same stacked leaves
  in a fixed parameter order that the optimizer and the checkpoints rely on.
- `LoopStack`: the same state, run by run: the CPU fallback for non-MLP models (vmap is slower there).

Stacked parameters are listed in each member's `named_parameters()` order, so slice r of parameter i
is parameter i of member r: that is how solo-format checkpoints and optimizer states are cut out.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn


def _stack(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack([t.detach() for t in tensors])


class Stacked:
    """Common part: stacked leaf parameters and buffers in the members' order."""

    def __init__(self, members: list[nn.Module]) -> None:
        if not members:
            raise ValueError("a pack needs at least one member")
        self.names = [n for n, _ in members[0].named_parameters()]
        self.buffer_names = [n for n, _ in members[0].named_buffers()]
        self.params = {n: nn.Parameter(_stack([dict(m.named_parameters())[n] for m in members]))
                       for n in self.names}
        self.buffers = {n: _stack([dict(m.named_buffers())[n] for m in members]) for n in self.buffer_names}

    @property
    def size(self) -> int:
        return next(iter(self.params.values())).shape[0]

    def parameters(self) -> list[nn.Parameter]:
        return [self.params[n] for n in self.names]

    def train(self, mode: bool = True) -> None:
        self.training = mode

    @torch.no_grad()
    def write_back(self, members: list[nn.Module]) -> None:
        """Copy each run's slice into its own module (for evaluation and solo-format checkpoints)."""
        for r, m in enumerate(members):
            state = m.state_dict()
            for n in self.names:
                state[n].copy_(self.params[n][r])
            for n in self.buffer_names:
                state[n].copy_(self.buffers[n][r])

    def keep(self, rows: list[int]) -> dict[nn.Parameter, nn.Parameter]:
        """Drop every run not in `rows` (a diverged run); returns old -> new parameter for the optimizer."""
        index = torch.tensor(rows, device=next(iter(self.params.values())).device)
        mapping = {}
        for n in self.names:
            new = nn.Parameter(self.params[n].detach().index_select(0, index))
            mapping[self.params[n]] = new
            self.params[n] = new
        self.buffers = {n: b.index_select(0, index) for n, b in self.buffers.items()}
        return mapping


class GroupedMLP(Stacked):
    """training.models.mlp.MLP, R at once: x (R, B, ...) -> logits (R, B, classes)."""

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__(members)
        self.depth = len(members[0].linears)
        self.layernorm = isinstance(members[0].norms[0], nn.LayerNorm) if self.depth else False
        self.eps = members[0].norms[0].eps if self.layernorm else 0.0

    @staticmethod
    def _linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        # (R, B, in) @ (R, in, out) + (R, 1, out): one batched GEMM for R runs' layers
        return torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.params
        x = x.flatten(2)
        for i in range(self.depth):
            x = self._linear(x, p[f"linears.{i}.weight"], p[f"linears.{i}.bias"])
            if self.layernorm:
                x = F.layer_norm(x, x.shape[-1:], eps=self.eps)
                x = x * p[f"norms.{i}.weight"].unsqueeze(1) + p[f"norms.{i}.bias"].unsqueeze(1)
            x = torch.relu(x)
        return self._linear(x, p["head.weight"], p["head.bias"])

    __call__ = forward


class VmapStack(Stacked):
    """Any module, R at once, through torch.func.vmap over `functional_call`."""

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__(members)
        # a parameter-free copy that only supplies the forward code; the stacked tensors are the state
        self.base = copy.deepcopy(members[0]).to("meta")
        self.training = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from torch.func import functional_call, vmap

        self.base.train(self.training)

        def one(params, buffers, xb):
            return functional_call(self.base, (params, buffers), (xb,))

        # randomness='different': a dropout layer draws its own mask per run
        return vmap(one, randomness="different")(self.params, self.buffers, x)

    __call__ = forward


class LoopStack(VmapStack):
    """Any module, run by run over slices of the stacked tensors: the CPU fallback for non-MLP models.

    On a CPU, vmap's batching rules cost more than they save (TESTING.md: ~2x slower for small MLPs),
    so there the runs go one after another: sequential speed, but still one process, one data copy,
    one optimizer step and one epoch loop, and the same per-run state (BatchNorm buffers are updated
    in place through their slices).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from torch.func import functional_call

        self.base.train(self.training)
        params = {n: p.unbind(0) for n, p in self.params.items()}  # one unbind: its backward is one stack
        buffers = {n: b.unbind(0) for n, b in self.buffers.items()}
        return torch.stack([
            functional_call(self.base, ({n: p[r] for n, p in params.items()}, {n: b[r] for n, b in buffers.items()}),
                            (x[r],))
            for r in range(x.shape[0])
        ])

    __call__ = forward


ENGINES = {"grouped": GroupedMLP, "vmap": VmapStack, "loop": LoopStack}


def stack_members(members: list[nn.Module], engine: str = "auto") -> Stacked:
    """`engine='auto'`: grouped GEMMs for the MLP (any device); otherwise vmap on a GPU, the loop on a CPU."""
    from training.models.mlp import MLP

    if engine == "auto":
        if all(type(m) is MLP for m in members):
            engine = "grouped"
        else:
            on_gpu = next(members[0].parameters()).device.type != "cpu"
            engine = "vmap" if on_gpu else "loop"
    if engine not in ENGINES:
        raise ValueError(f"unknown packing engine {engine!r}; choose auto, {', '.join(ENGINES)}")
    if engine == "grouped" and not all(type(m) is MLP for m in members):
        raise ValueError("the grouped engine packs training.models.mlp.MLP only; use vmap or loop")
    return ENGINES[engine](members)
