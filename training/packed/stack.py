"""R models of one architecture as one stacked model: parameters (R, ...) and one forward for all runs.

Three engines share one interface (`parameters`, `forward_backward`, `slots`, `write_back`, `keep`):

- `GroupedMLP`: the paper's MLP as grouped matmuls (`torch.baddbmm` over stacked weights). Exact
  (each run's slice is the same matmul the solo run does) and, unlike torch.func's vmap, not slower
  than R sequential models on a CPU (docs/testing.md: vmap measured ~2x slower there).
- `VmapStack`: any module through torch.func (`stack_module_state` + `functional_call` + `vmap`); used
  for the ResNet-18 benchmark on a GPU. Buffers (BatchNorm running statistics) are stacked too, so
  every run keeps its own statistics; batch statistics are per run because vmap gives each slice its
  own batch. Note: stack_module_state itself is not used; `Stacked` builds the same stacked leaves
  in a fixed parameter order that the optimizer and the checkpoints rely on.
- `MemberLoop`: no stacking: each member steps on its own module, inside the one packed loop.

On a CPU, `resolve_engine` picks none of them by default: the runs train solo, one after another.

Stacked parameters are listed in each member's `named_parameters()` order, so slice r of parameter i
is parameter i of member r: that is how solo-format checkpoints and optimizer states are cut out.
"""

from __future__ import annotations

import contextlib
import copy

import torch
import torch.nn.functional as F
from torch import nn


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
    from training.losses import loss_fn

    fn = loss_fn(name)
    return torch.stack([fn(logits[r], target[r], float(t)) for r, t in enumerate(temps.tolist())])


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

    def slots(self, r: int) -> list[tuple[torch.Tensor, int | None]]:
        """Where run r's parameters live for the optimizer: (stacked tensor, row r), in member order."""
        return [(self.params[n], r) for n in self.names]

    def keep(self, rows: list[int]) -> dict[torch.Tensor, tuple[torch.Tensor, torch.Tensor | None]]:
        """Drop every run not in `rows` (a diverged run); returns old -> (new parameter, rows of the old
        optimizer state to keep) for the optimizer."""
        index = torch.tensor(rows, device=next(iter(self.params.values())).device)
        mapping = {}
        for n in self.names:
            new = nn.Parameter(self.params[n].detach().index_select(0, index))
            mapping[self.params[n]] = (new, index)
            self.params[n] = new
        self.buffers = {n: b.index_select(0, index) for n, b in self.buffers.items()}
        return mapping

    def forward_backward(self, xb: torch.Tensor, yb: torch.Tensor, temps: torch.Tensor, loss: str,
                         autocast=contextlib.nullcontext):
        """One step's forward and backward for all runs: (per-run losses (R,), logits (R, B, C)), detached.

        As in the solo loop, only the forward runs under `autocast()`; the loss is taken in float32."""
        with autocast():
            logits = self(xb)
        losses = stacked_loss(loss, logits.float(), yb, temps)
        losses.sum().backward()  # d(sum)/d(run r's weights) = d(loss_r)/d(run r's weights)
        return losses.detach(), logits.detach()


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


class MemberLoop:
    """The members themselves, stepped one after another inside the packed loop.

    Each run does its forward and backward on its own module (the solo computation, with R runs'
    activations never alive at once); what is shared is one optimizer step over all runs' tensors and
    one epoch loop. For architectures vmap cannot batch, and as a measured alternative on a CPU.
    """

    def __init__(self, members: list[nn.Module]) -> None:
        if not members:
            raise ValueError("a pack needs at least one member")
        self.members = list(members)

    @property
    def size(self) -> int:
        return len(self.members)

    def parameters(self) -> list[nn.Parameter]:
        return [p for m in self.members for p in m.parameters()]

    def train(self, mode: bool = True) -> None:
        for m in self.members:
            m.train(mode)

    def write_back(self, members: list[nn.Module]) -> None:
        pass  # the members are the state

    def slots(self, r: int) -> list[tuple[torch.Tensor, int | None]]:
        return [(p, None) for p in self.members[r].parameters()]

    def keep(self, rows: list[int]) -> dict[torch.Tensor, tuple[torch.Tensor, torch.Tensor | None]]:
        self.members = [self.members[k] for k in rows]
        return {p: (p, None) for p in self.parameters()}

    def forward_backward(self, xb: torch.Tensor, yb: torch.Tensor, temps: torch.Tensor, loss: str,
                         autocast=contextlib.nullcontext):
        from training.losses import loss_fn

        loss_of = loss_fn(loss)
        losses, logits = [], []
        for r, (m, t) in enumerate(zip(self.members, temps.tolist())):
            with autocast():
                z = m(xb[r])
            value = loss_of(z.float(), yb[r], t)
            value.backward()
            losses.append(value.detach())
            logits.append(z.detach())
        return torch.stack(losses), torch.stack(logits)


ENGINES = {"grouped": GroupedMLP, "vmap": VmapStack, "loop": MemberLoop}


def resolve_engine(engine: str, members: list[nn.Module], device: torch.device) -> str:
    """'auto' (or $THERMOSCOPE_PACK_ENGINE when set): on a GPU, grouped GEMMs for the MLP and vmap for
    anything else; on a CPU 'solo': the runs train one after another through the solo loop itself.

    Why solo on a CPU: there batching saves no arithmetic, and every packed engine interleaves R runs
    step by step, so R working sets (weights, momentum, activations) compete for the cache that one
    solo run has to itself; bench_packing measured all three engines at 0.8-1.2x of sequential on the
    2-core machine (noisy), so the only way never to be slower there is not to pack.
    """
    from thermoscope import env
    from training.models.mlp import MLP

    if engine == "auto":
        engine = env.PACK_ENGINE.get()
    if engine == "auto":
        if torch.device(device).type == "cpu":
            return "solo"
        return "grouped" if all(type(m) is MLP for m in members) else "vmap"
    if engine not in (*ENGINES, "solo"):
        raise ValueError(f"unknown packing engine {engine!r}; choose auto, solo, {', '.join(ENGINES)}")
    return engine


def stack_members(members: list[nn.Module], engine: str = "auto") -> Stacked | MemberLoop:
    """The stacked engine for these members ('auto': see resolve_engine; never 'solo' here)."""
    from training.models.mlp import MLP

    if engine == "auto":
        engine = resolve_engine(engine, members, next(members[0].parameters()).device)
        engine = "loop" if engine == "solo" else engine
    if engine not in ENGINES:
        raise ValueError(f"unknown packing engine {engine!r}; choose auto, {', '.join(ENGINES)}")
    if engine == "grouped" and not all(type(m) is MLP for m in members):
        raise ValueError("the grouped engine packs training.models.mlp.MLP only; use vmap or loop")
    return ENGINES[engine](members)
