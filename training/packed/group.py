"""Which runs can train together: torch-free, so the launcher and the app can plan packs cheaply.

Runs pack when they differ only in what each stacked slice can own: the temperature (a per-run
divisor in the loss), the seed (its own init and data order) and the initialisation (scheme and
scale: each member is built by `build_model`). Everything else (architecture, data, batch size,
optimiser, schedule, epochs, checkpoints, analysis settings) must be equal, because one stacked step
and one epoch loop serve them all.
"""

from __future__ import annotations

from training.config import RunConfig

# Fields a packed member may have of its own; every other field is shared by the whole pack.
PER_RUN_FIELDS = frozenset({"temperature", "seed", "init", "init_std"})

# Architectures whose BatchNorm statistics the vmap engine keeps per run (stacked running buffers,
# per-slice batch statistics; tests/packing checks it on a BatchNorm net). Listed so that a new
# architecture with some other cross-sample state is a conscious decision, not an accident.
BATCHNORM_ARCHS = frozenset({"vgg19_bn", "resnet18", "resnet20", "resnet34", "resnet50"})


class PackError(ValueError):
    """A pack was asked for that cannot be built; the message says why and what to do."""


def compatibility_key(cfg: RunConfig) -> tuple:
    """Equal for two configs exactly when they may train in one pack."""
    return tuple(sorted((k, repr(v)) for k, v in cfg.to_dict().items() if k not in PER_RUN_FIELDS))


def pack_groups(configs: list[RunConfig], n: int, *, allow_batchnorm: bool = True) -> list[list[RunConfig]]:
    """Split `configs` into packs of at most `n` compatible runs, keeping the sweep's order.

    `n == 1` gives one run per pack (the solo path). With `allow_batchnorm=False`, architectures that
    use BatchNorm are refused (for a caller that wants the per-run-statistics-free MLP path only).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise PackError(f"--pack must be a positive number of runs per pack, got {n!r}")
    if not allow_batchnorm:
        bn = sorted({c.arch for c in configs if c.arch in BATCHNORM_ARCHS})
        if bn:
            raise PackError(f"cannot pack {', '.join(bn)}: BatchNorm keeps statistics across a batch; "
                            "run it solo (--pack 1) or allow the vmap engine's per-run statistics")
    groups: dict[tuple, list[RunConfig]] = {}
    for cfg in configs:
        groups.setdefault(compatibility_key(cfg), []).append(cfg)
    packs: list[list[RunConfig]] = []
    for members in groups.values():
        packs += [members[i : i + n] for i in range(0, len(members), n)]
    return packs


def describe_difference(a: RunConfig, b: RunConfig) -> str:
    """Which shared fields keep `a` and `b` out of one pack (for messages)."""
    da, db = a.to_dict(), b.to_dict()
    diff = [k for k in da if k not in PER_RUN_FIELDS and da[k] != db[k]]
    return ", ".join(f"{k}: {da[k]!r} vs {db[k]!r}" for k in diff) or "nothing"
