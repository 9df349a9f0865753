"""Sweeps: a grid over any config fields (plus optional explicit points), from TOML or `--set`.

    [base]                      # fields every run shares (a preset's values come first)
    preset = "cifar_resnet"
    arch = "resnet18"
    [grid]                      # every combination of these
    temperature = [1, 10, 100, 1000]
    seed = [0, 1, 2]
    [[points]]                  # extra single runs, each on top of [base]
    arch = "vgg19"
    temperature = 50
    [slurm]                     # executor options (see slurm.SlurmOptions)
    partition = "gpu"

Torch-free: the dashboard's launch form builds its sweep with this same code.
"""

from __future__ import annotations

import itertools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.config import ConfigError, RunConfig, coerce, make_config

SECTIONS = ("base", "grid", "points", "slurm")


@dataclass(frozen=True)
class Sweep:
    base: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    points: tuple[dict[str, Any], ...] = ()
    slurm: dict[str, Any] = field(default_factory=dict)

    def with_overrides(self, sets: list[str]) -> Sweep:
        """`--set FIELD=V1,V2` entries replace that field in the base and the grid."""
        grid, base = dict(self.grid), dict(self.base)
        for item in sets:
            name, values = parse_set(item)
            base.pop(name, None)
            grid[name] = values
        return Sweep(base, grid, self.points, self.slurm)

    def configs(self) -> list[RunConfig]:
        """Every run of the sweep, validated, without duplicates (same run id), in grid order."""
        for name, values in self.grid.items():
            if not values:
                raise ConfigError(f"grid field {name!r} has no values; give at least one")
        names = list(self.grid)
        combos = [dict(zip(names, combo)) for combo in itertools.product(*(self.grid[n] for n in names))]
        if not self.points or self.grid:
            runs = [{**self.base, **combo} for combo in combos]
        else:
            runs = []
        runs += [{**self.base, **point} for point in self.points]
        unique: dict[str, RunConfig] = {}
        for values in runs:
            cfg = make_config(**values)
            unique.setdefault(cfg.run_id, cfg)
        if not unique:
            raise ConfigError("the sweep has no runs: give a [grid], [[points]] or --set values")
        return list(unique.values())


def parse_set(item: str) -> tuple[str, tuple[Any, ...]]:
    """'temperature=1,10,100' → ('temperature', (1.0, 10.0, 100.0)), coerced to the field's type."""
    if "=" not in item:
        raise ConfigError(f"--set wants FIELD=V1,V2,..., got {item!r}")
    name, _, raw = item.partition("=")
    name = name.strip()
    values = tuple(coerce(name, v.strip()) for v in raw.split(",") if v.strip() != "")
    if not values:
        raise ConfigError(f"--set {name}= has no values; give at least one")
    return name, values


def load_sweep(path: str | Path) -> Sweep:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"sweep file {str(path)!r} does not exist")
    try:
        doc = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return sweep_from_dict(doc, str(path))


def sweep_from_dict(doc: dict[str, Any], where: str = "sweep") -> Sweep:
    unknown = set(doc) - set(SECTIONS)
    if unknown:
        raise ConfigError(f"{where}: unknown section(s) {sorted(unknown)}; sections are {', '.join(SECTIONS)}")
    base = {k: coerce(k, v) for k, v in doc.get("base", {}).items()}
    grid: dict[str, tuple[Any, ...]] = {}
    for name, values in doc.get("grid", {}).items():
        values = values if isinstance(values, list) else [values]
        if not values:
            raise ConfigError(f"{where}: grid field {name!r} has no values; give at least one")
        grid[name] = tuple(coerce(name, v) for v in values)
    points = tuple({k: coerce(k, v) for k, v in p.items()} for p in doc.get("points", []))
    return Sweep(base, grid, points, dict(doc.get("slurm", {})))
