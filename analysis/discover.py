"""Layer taps for any `nn.Module`, found with the paper's rule: a representation after each non-linearity,
the classifier's input, and the logits (softmax(logits/T) is derived from the logits by the analysis).

`model_taps(model, example)` returns a `TapSet`: the module to run and its `LayerTap`s. A model that
describes its own layers (`model.layer_taps()`, every registry model) keeps them ('declared'); any
other model's taps are discovered by the first method of `METHODS` that applies ('auto'):

- 'timm': a timm model's declared feature points (`feature_info`, the tensors `forward_intermediates`
  returns), when they are not themselves non-linearity outputs: a ViT's blocks end in a residual sum,
  and its block outputs (the residual stream) are the representation, as for the registry's ViT. Where
  every feature point is a non-linearity's output (CNN stages end in a ReLU), the finer rule below
  already contains them, so 'auto' goes on to it.
- 'fx': the model's graph, traced with torchvision's `NodePathTracer` (timm's untraceable layers kept
  as leaves): every activation call, module or function, each call of a module used twice (torchvision's
  BasicBlock reuses its ReLU) separately. The model runs as its traced graph with an identity module
  after each tapped node: hooks read the value there, before any in-place op changes it, and the graph
  shares every parameter and buffer with the model.
- 'hooks': forward hooks on activation modules, for models FX cannot trace; a module called more than
  once per forward pass is read at its last call, and functional activations are invisible to it.

Tap names are the model's own module paths (FX node names, e.g. 'layer1.0.relu_1'); the last tap is
always 'logits'. `TapSet.select(include, exclude)` keeps taps by glob; `describe()` lists them.
"""

from __future__ import annotations

import fnmatch
import math
import operator
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from analysis.capture import hooks
from analysis.taps import LayerTap

LOGITS = "logits"

# ---- what counts as a non-linearity --------------------------------------------------------------------

ACTIVATION_MODULES: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
    nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.Sigmoid, nn.Tanh, nn.Softplus, nn.Softsign, nn.Tanhshrink,
    nn.LogSigmoid, nn.GLU, nn.Threshold,
)
# timm defines its own activation classes (Swish, GELU, HardMish, ...) in these modules
TIMM_ACTIVATION_PACKAGES = ("timm.layers.activations",)
ACTIVATION_FUNCTIONS = frozenset({
    F.relu, F.relu_, torch.relu, torch.relu_, F.relu6, F.leaky_relu, F.prelu, F.rrelu, F.elu, F.selu, F.celu,
    F.gelu, F.silu, F.mish, F.hardswish, F.hardsigmoid, F.hardtanh, torch.sigmoid, F.sigmoid, torch.tanh, F.tanh,
    F.softplus, F.softsign, F.logsigmoid, F.glu,
})
ACTIVATION_METHODS = frozenset({"relu", "relu_", "sigmoid", "sigmoid_", "tanh", "tanh_"})
WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
# ops that only move values around: walking back from a non-linearity to the weight that feeds it passes them
_PASS_THROUGH_FUNCTIONS = frozenset({operator.add, operator.iadd, torch.add, torch.flatten, F.dropout})


def is_activation_module(m: nn.Module) -> bool:
    return isinstance(m, ACTIVATION_MODULES) or type(m).__module__.startswith(TIMM_ACTIVATION_PACKAGES)


class TapError(ValueError):
    """Taps cannot be found or selected; the message says why and what to do."""


@dataclass(frozen=True)
class TapSet:
    """What the analysis runs (`model`: the model itself or its traced graph) and where it reads it."""

    model: nn.Module
    taps: tuple[LayerTap, ...]
    method: str  # 'declared' | 'timm' | 'fx' | 'hooks'

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.taps]

    def select(self, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> TapSet:
        """Keep the hidden taps whose name matches a glob of `include` (all when empty) and none of
        `exclude`; the logits tap always stays (the analysis derives softmax, κ's curve ends, from it)."""
        kept = [t for t in self.taps if t.kind == "logits" or (
            (not include or any(fnmatch.fnmatchcase(t.name, p) for p in include))
            and not any(fnmatch.fnmatchcase(t.name, p) for p in exclude))]
        if (include or exclude) and not any(t.kind != "logits" for t in kept):
            shown = ", ".join(self.names[:12]) + (", ..." if len(self.taps) > 12 else "")
            raise TapError(f"no layer tap matches include={list(include)} exclude={list(exclude)}; the taps are: "
                           f"{shown}")
        return replace(self, taps=tuple(kept))

    def describe(self, example: torch.Tensor) -> list[str]:
        """One line per tap: index, name, kind, output shape per sample, its pre-activation and weight."""
        shapes = tap_shapes(self, example)
        names = {id(m): n for n, m in self.model.named_modules()}
        lines = [f"{len(self.taps)} taps ({self.method})"]
        for i, t in enumerate(self.taps):
            pre = "yes" if t.pre_module is not None else "no"
            weight = names.get(id(t.weight_module), type(t.weight_module).__name__) if t.weight_module is not None \
                else "-"
            lines.append(f"  {i:3d}  {t.name:<32} {t.kind:<7} {'x'.join(map(str, shapes[i])):<14} preact: {pre:<3} "
                         f"weight: {weight}")
        return lines


@torch.no_grad()
def tap_shapes(taps: TapSet, example: torch.Tensor) -> list[tuple[int, ...]]:
    """Each tap's output shape for one sample, from one forward pass on `example`."""
    got: dict[int, tuple[int, ...]] = {}
    with _eval(taps.model), hooks([t.module for t in taps.taps], lambda m, out: got.__setitem__(id(m),
                                                                                            tuple(out.shape[1:]))):
        taps.model(example[:2])
    return [got.get(id(t.module), ()) for t in taps.taps]


class _eval:
    """The model in eval mode for the duration (BatchNorm reads its running statistics, updates nothing); each
    module's own mode back afterwards (`train(was)` would flatten a loop's mix, e.g. BatchNorms kept in eval)."""

    def __init__(self, model: nn.Module) -> None:
        self.model, self.modes = model, [(m, m.training) for m in model.modules()]

    def __enter__(self) -> nn.Module:
        self.model.eval()
        return self.model

    def __exit__(self, *exc) -> None:
        for m, training in self.modes:
            m.training = training


# ---- 'auto' and the methods -----------------------------------------------------------------------------

def model_taps(model: nn.Module, example: torch.Tensor, *, method: str = "auto") -> TapSet:
    """The model's own taps (`layer_taps()`), else the discovered ones (see the module docstring)."""
    if method in ("auto", "declared") and callable(getattr(model, "layer_taps", None)):
        return TapSet(model, tuple(model.layer_taps()), "declared")
    if method == "declared":
        raise TapError(f"{type(model).__name__} declares no layer_taps(); use method 'auto', 'timm', 'fx' or 'hooks'")
    return discover_taps(model, example, method=method)


def discover_taps(model: nn.Module, example: torch.Tensor, *, method: str = "auto") -> TapSet:
    """Taps found by `method` ('auto' = the first of METHODS that applies)."""
    if method != "auto" and method not in METHODS:
        raise TapError(f"unknown tap method {method!r}; choose auto, declared, {', '.join(METHODS)}")
    why: list[str] = []
    for name in ([method] if method != "auto" else list(METHODS)):
        found = METHODS[name](model, example, method == name)
        if isinstance(found, TapSet):
            return found
        why.append(f"{name}: {found}")
    raise TapError(f"no layer taps found for {type(model).__name__} ({'; '.join(why)})")


def _is_timm(model: nn.Module) -> bool:
    return hasattr(model, "forward_intermediates") and isinstance(getattr(model, "feature_info", None), list | tuple)


@torch.no_grad()
def _timm_taps(model: nn.Module, example: torch.Tensor, forced: bool) -> TapSet | str:
    if not _is_timm(model):
        return "not a timm model (no feature_info / forward_intermediates)"
    try:
        points = [(f["module"], model.get_submodule(f["module"])) for f in model.feature_info]
    except (AttributeError, KeyError, TypeError) as exc:
        return f"its feature_info names no module ({exc})"
    calls = _record_calls(model, example)
    activation_outputs = {c.key for c in calls if is_activation_module(c.module)}
    point_keys = {id(m): c.key for c in calls for _, m in points if c.module is m}
    if not forced and all(point_keys.get(id(m)) in activation_outputs for _, m in points):
        return "its feature points are non-linearity outputs, which the finer rule contains"
    taps = [LayerTap(name, m) for name, m in points]
    return TapSet(model, tuple(_with_head(model, taps, calls)), "timm")


@torch.no_grad()
def _hook_taps(model: nn.Module, example: torch.Tensor, forced: bool) -> TapSet | str:
    calls = _record_calls(model, example)
    taps: list[LayerTap] = []
    seen: set[int] = set()
    last_weight: nn.Module | None = None
    for i, c in enumerate(calls):
        if isinstance(c.module, WEIGHTED):
            last_weight = c.module
        if not is_activation_module(c.module) or id(c.module) in seen:
            continue
        seen.add(id(c.module))
        pre = next((p.module for p in reversed(calls[:i]) if p.key == c.input_key and p.module is not c.module), None)
        taps.append(LayerTap(c.name, c.module, pre_module=pre, weight_module=last_weight))
        last_weight = None  # a weight feeds the first non-linearity after it only
    return TapSet(model, tuple(_with_head(model, taps, calls)), "hooks")


@dataclass(frozen=True, eq=False)
class _Call:
    name: str
    module: nn.Module
    key: tuple  # (data pointer, shape) of its output: tells which module produced a tensor
    input_key: tuple | None


def _key(t) -> tuple | None:
    return (t.data_ptr(), tuple(t.shape)) if isinstance(t, torch.Tensor) else None


def _record_calls(model: nn.Module, example: torch.Tensor) -> list[_Call]:
    """Every module call of one eval-mode forward pass, in the order the calls ended (the root last)."""
    calls: list[_Call] = []
    names = {id(m): n for n, m in model.named_modules()}
    handles = []
    # every module output stays alive until the pass ends: a freed output's memory could otherwise be reused by
    # a later, functional (module-less) result, whose key would then name the wrong producer
    kept: list[torch.Tensor] = []

    def record(mod, args, out):
        first = out[0] if isinstance(out, tuple | list) and out else out
        if isinstance(first, torch.Tensor):
            kept.append(first)
        calls.append(_Call(names.get(id(mod), ""), mod, _key(first), _key(args[0]) if args else None))

    try:
        for m in dict.fromkeys(model.modules()):
            handles.append(m.register_forward_hook(record))
        with _eval(model):
            out = model(example[:2])
    finally:
        for h in handles:
            h.remove()
    if not isinstance(out, torch.Tensor):
        raise TapError(f"{type(model).__name__}.forward returned {type(out).__name__}; the analysis needs a model "
                       "that returns the logits tensor (wrap it to return them)")
    return calls


def _with_head(model: nn.Module, taps: list[LayerTap], calls: list[_Call]) -> list[LayerTap]:
    """taps + the classifier's input (when no tap reads it yet) + the logits, read where the model returns them."""
    root = calls[-1]
    at = next((i for i, c in enumerate(calls[:-1]) if c.key == root.key and isinstance(c.module, WEIGHTED)), None)
    head = None if at is None else calls[at]
    if head is not None:
        tapped = {id(t.module) for t in taps}
        # the latest call before the head whose output is the head's input (a freed tensor's memory can be reused)
        feeding = [c for c in calls[:at] if c.key == head.input_key]
        if feeding and not any(id(c.module) in tapped for c in feeding):
            taps.append(LayerTap(feeding[-1].name, feeding[-1].module))
    logits_module = head.module if head is not None else model
    return taps + [LayerTap(LOGITS, logits_module, "logits", weight_module=head.module if head else None)]


# ---- 'fx' --------------------------------------------------------------------------------------------

def _tracer_kwargs() -> dict:
    """torchvision's ops as leaves (as its feature extraction does), plus timm's untraceable layers."""
    import torchvision

    leaves = [obj for obj in vars(torchvision.ops).values() if isinstance(obj, type) and issubclass(obj, nn.Module)]
    functions: list = []
    try:
        from timm.layers import get_notrace_functions, get_notrace_modules

        leaves += get_notrace_modules()
        functions += get_notrace_functions()
    except ImportError:  # timm is optional for models that are not timm's
        pass
    return {"leaf_modules": leaves, "autowrap_modules": (math, torchvision.ops), "autowrap_functions": functions}


def _is_activation_node(node, gm) -> bool:
    if node.op == "call_module":
        return is_activation_module(gm.get_submodule(node.target))
    if node.op == "call_function":
        return node.target in ACTIVATION_FUNCTIONS
    return node.op == "call_method" and node.target in ACTIVATION_METHODS


def _fx_taps(model: nn.Module, example: torch.Tensor, forced: bool) -> TapSet | str:
    from torch import fx
    from torchvision.models.feature_extraction import NodePathTracer

    tracer = NodePathTracer(**_tracer_kwargs())
    try:
        with _eval(model), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graph = tracer.trace(model)
    except Exception as exc:  # data-dependent control flow and the like: the hooks still work
        return f"FX cannot trace it ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
    gm = fx.GraphModule(tracer.root, graph, class_name=f"Tapped{type(model).__name__}")
    gm.training = model.training  # its own flag only: train() would reset every shared module's
    qualname = tracer.node_to_qualname
    nodes = list(graph.nodes)
    output = next(n for n in nodes if n.op == "output")
    logits = output.args[0]
    if not isinstance(logits, fx.Node):
        return f"{type(model).__name__}.forward returns {type(logits).__name__}, not the logits tensor"
    module_of = {n: gm.get_submodule(n.target) for n in nodes if n.op == "call_module"}
    acts = [n for n in nodes if _is_activation_node(n, gm)]

    def weight_feeding(node) -> nn.Module | None:
        """The Linear/Conv whose output reaches `node` through pass-through ops only (norms, sums, dropout)."""
        seen = node
        while isinstance(seen, fx.Node) and seen.args and isinstance(seen.args[0], fx.Node):
            seen = seen.args[0]
            if seen.op == "placeholder" or seen in tapped:
                return None
            module = module_of.get(seen)
            if isinstance(module, WEIGHTED):
                return module
            if _is_activation_node(seen, gm):
                return None
            if seen.op == "call_function" and seen.target not in _PASS_THROUGH_FUNCTIONS:
                return None
        return None

    tapped = set(acts)
    head = module_of.get(logits)
    head_input = logits.args[0] if logits.args and isinstance(logits.args[0], fx.Node) else None
    penultimate = head_input if (head_input is not None and head_input not in tapped
                                 and head_input.op != "placeholder") else None

    emitters: dict[fx.Node, nn.Module] = {}

    def emit(node) -> nn.Module:
        if node not in emitters:
            name = f"thermoscope_tap{len(emitters)}"
            gm.add_submodule(name, nn.Identity())
            with graph.inserting_after(node):
                graph.call_module(name, (node,))
            emitters[node] = gm.get_submodule(name)
        return emitters[node]

    taps = []
    for node in acts:
        pre = node.args[0] if node.args and isinstance(node.args[0], fx.Node) else None
        pre_module = emit(pre) if pre is not None and pre.op != "placeholder" else None
        taps.append(LayerTap(qualname.get(node, node.name), emit(node), pre_module=pre_module,
                             weight_module=weight_feeding(node)))
    if penultimate is not None:
        taps.append(LayerTap(qualname.get(penultimate, penultimate.name), emit(penultimate)))
    taps.append(LayerTap(LOGITS, emit(logits), "logits", weight_module=head if isinstance(head, WEIGHTED) else None))
    gm.recompile()
    return TapSet(gm, tuple(taps), "fx")


METHODS: dict[str, Callable[[nn.Module, torch.Tensor, bool], TapSet | str]] = {
    "timm": _timm_taps, "fx": _fx_taps, "hooks": _hook_taps}
