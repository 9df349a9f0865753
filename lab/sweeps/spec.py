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
    [slurm]                     # executor options (see slurm.SlurmOptions; CLI flags override them)
    partition = "gpu"
    gpus_per_node = 1
    cpus_per_task = 8
    mem_gb = 32
    timeout_min = 1440          # a timed-out or preempted job is requeued and resumes from its checkpoint
    max_requeues = 3
    array_parallelism = 64
    additional = { exclude = "node7" }   # any other sbatch flag
    [analysis]                  # how every run of the sweep is measured (analysis.settings.AnalysisSettings)
    max_samples = 5000
    alignment_top_k = 0         # no alignment

`python -m training.launch sweeps/cifar.toml --set seed=0,1,2` puts `--set` values on top: a
`--set` field replaces that field in [base] and [grid]; `--set analysis.NAME=V` sets one analysis
setting (one value: analysis settings are not part of a run's identity, so they cannot make a grid;
re-analyse existing checkpoints to compare settings). Every field and value is checked before
anything is submitted; a mistake is one line naming the section and the field.
Examples: sweeps/demo.toml (runs on a laptop), sweeps/cifar.toml and sweeps/imagenet.toml (the
paper's grids).

Torch-free: the dashboard's launch form builds its sweep with this same code.
"""

from __future__ import annotations

import itertools
import math
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analysis.settings import SETTING_NAMES, AnalysisSettings
from slurm.options import OptionError, SlurmOptions
from thermoscope import env
from training.config import FIELD_TYPES, ConfigError, RunConfig, coerce, make_config

SECTIONS = ("base", "grid", "points", "slurm", "analysis")
ANALYSIS_PREFIX = "analysis."


@dataclass(frozen=True)
class Sweep:
    base: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    points: tuple[dict[str, Any], ...] = ()
    slurm: dict[str, Any] = field(default_factory=dict)
    analysis: dict[str, Any] = field(default_factory=dict)  # AnalysisSettings fields, one value each

    def with_overrides(self, sets: list[str]) -> Sweep:
        """`--set FIELD=V1,V2` entries replace that field in the base and the grid; `--set analysis.NAME=V`
        replaces one analysis setting."""
        grid, base, analysis = dict(self.grid), dict(self.base), dict(self.analysis)
        for item in sets:
            name, values = parse_set(item)
            if name.startswith(ANALYSIS_PREFIX):
                analysis[name[len(ANALYSIS_PREFIX):]] = values[0]
                continue
            base.pop(name, None)
            grid[name] = values
        return Sweep(base, grid, self.points, self.slurm, analysis)

    def settings(self) -> AnalysisSettings:
        """How every run of the sweep is analysed: the defaults with the [analysis] values on top."""
        return AnalysisSettings.from_dict(self.analysis)

    def size(self) -> int:
        """How many runs the sweep describes (before duplicates merge): the product of the grid's value counts
        plus the points. Counted, never expanded, so a huge grid is measured in microseconds."""
        grid = math.prod(len(v) for v in self.grid.values()) if self.grid else 0
        return grid + len(self.points)

    def check_size(self) -> None:
        """ConfigError when the sweep has more runs than one launch may (THERMOSCOPE_MAX_RUNS)."""
        cap, n = env.MAX_RUNS.get(), self.size()
        if n > cap:
            raise ConfigError(f"the sweep has {n:,} runs, more than the {cap:,} one launch may have "
                              "(THERMOSCOPE_MAX_RUNS): give fewer values, or split it into several launches")

    def configs(self) -> list[RunConfig]:
        """Every run of the sweep, validated, without duplicates (same run id), in grid order."""
        for name, values in self.grid.items():
            if not values:
                raise ConfigError(f"grid field {name!r} has no values; give at least one")
        self.check_size()  # before the grid is expanded: a 10^6-run grid is refused at once
        names = list(self.grid)
        combos = [dict(zip(names, combo)) for combo in itertools.product(*(self.grid[n] for n in names))]
        if not self.points or self.grid:
            runs = [{**self.base, **combo} for combo in combos]
        else:
            runs = []
        runs += [{**self.base, **point} for point in self.points]
        if not self.grid and not self.points:
            raise ConfigError("the sweep has no runs: give [grid] values, [[points]] or --set FIELD=V1,V2")
        unique: dict[str, RunConfig] = {}
        for values in runs:
            cfg = make_config(**values)
            unique.setdefault(cfg.run_id, cfg)
        if not unique:
            raise ConfigError("the sweep has no runs: give a [grid], [[points]] or --set values")
        return list(unique.values())


def parse_set(item: str) -> tuple[str, tuple[Any, ...]]:
    """'temperature=1,10,100' → ('temperature', (1.0, 10.0, 100.0)), coerced to the field's type;
    'analysis.max_samples=2000' → ('analysis.max_samples', (2000,)), checked against AnalysisSettings."""
    if "=" not in item:
        raise ConfigError(f"--set wants FIELD=V1,V2,..., got {item!r}")
    name, _, raw = item.partition("=")
    name = name.strip()
    if raw.strip() == "" and typing.get_origin(FIELD_TYPES.get(name)) is tuple:
        return name, ((),)  # a list field given nothing: the empty list (`--set ood=`: no OOD sets)
    parts = [v.strip() for v in raw.split(",")]
    if any(p == "" for p in parts) and any(p != "" for p in parts):
        raise ConfigError(f"--set {name}={raw} has an empty value between commas; give V1,V2,... without gaps")
    if not [p for p in parts if p]:
        raise ConfigError(f"--set {name}= has no values; give at least one")
    if name.startswith(ANALYSIS_PREFIX):
        setting = name[len(ANALYSIS_PREFIX):]
        if len(parts) != 1:
            raise ConfigError(f"--set {name} takes one value (analysis settings do not make a grid: they are not "
                              "part of a run's identity); re-analyse checkpoints to compare settings")
        value = AnalysisSettings.from_dict({setting: parts[0]}).to_dict()[setting]
        return name, (value,)
    if name in SETTING_NAMES and name not in RunConfig.__dataclass_fields__:
        raise ConfigError(f"{name!r} is an analysis setting; write --set analysis.{name}={raw}")
    return name, tuple(coerce(name, p) for p in parts)


def load_sweep(path: str | Path) -> Sweep:
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"sweep file {str(path)!r} is a directory; give a .toml file (see sweeps/)")
    if not path.is_file():
        raise ConfigError(f"sweep file {str(path)!r} does not exist")
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return sweep_from_dict(doc, str(path))


def sweep_from_dict(doc: dict[str, Any], where: str = "sweep") -> Sweep:
    """Check every section, field and value; ConfigError/OptionError names the file, section and field."""
    unknown = set(doc) - set(SECTIONS)
    if unknown:
        raise ConfigError(f"{where}: unknown section(s) {sorted(unknown)}; sections are {', '.join(SECTIONS)}")
    for name in ("base", "grid", "slurm", "analysis"):
        if not isinstance(doc.get(name, {}), dict):
            raise ConfigError(f"{where}: [{name}] must be a table of FIELD = value lines")
    points_doc = doc.get("points", [])
    if not isinstance(points_doc, list) or not all(isinstance(p, dict) for p in points_doc):
        raise ConfigError(f"{where}: points must be [[points]] tables")
    analysis_only = set(SETTING_NAMES) - set(RunConfig.__dataclass_fields__)
    for section, values in (("[base]", doc.get("base", {})), ("[grid]", doc.get("grid", {})),
                            *((f"[[points]] #{i + 1}", p) for i, p in enumerate(points_doc))):
        misplaced = sorted(set(values) & analysis_only)
        if misplaced:
            raise ConfigError(f"{where}: {section} {misplaced[0]!r} is an analysis setting; put it in the "
                              "[analysis] table (one value for the whole sweep)")
    try:
        base = {k: coerce(k, v) for k, v in doc.get("base", {}).items()}
    except ConfigError as exc:
        raise ConfigError(f"{where}: [base] {exc}") from None
    grid: dict[str, tuple[Any, ...]] = {}
    for name, values in doc.get("grid", {}).items():
        values = values if isinstance(values, list) else [values]
        if not values:
            raise ConfigError(f"{where}: [grid] field {name!r} has no values; give at least one")
        try:
            grid[name] = tuple(coerce(name, v) for v in values)
        except ConfigError as exc:
            raise ConfigError(f"{where}: [grid] {exc}") from None
    points = []
    for i, p in enumerate(points_doc):
        try:
            points.append({k: coerce(k, v) for k, v in p.items()})
        except ConfigError as exc:
            raise ConfigError(f"{where}: [[points]] #{i + 1}: {exc}") from None
    slurm = dict(doc.get("slurm", {}))
    try:
        SlurmOptions.from_dict(slurm)
    except OptionError as exc:
        raise OptionError(f"{where}: [slurm] {exc}") from None
    analysis = dict(doc.get("analysis", {}))
    try:
        AnalysisSettings.from_dict(analysis)
    except ConfigError as exc:
        raise ConfigError(f"{where}: [analysis] {exc}") from None
    return Sweep(base, grid, tuple(points), slurm, analysis)
