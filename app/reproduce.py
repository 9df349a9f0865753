"""The commands that make a set of runs again: `python -m training.launch --set …` from their stored configs.

Each trained run keeps its whole config (`run_configs.config_json`) and its analysis settings
(`analysis_json`). A run's id is a hash of its config, so a command reproduces a run exactly when the
launcher, given it, plans a run with the same id. These functions write the fewest `--set` grids that
cover exactly the given runs (a grid is a cartesian product: a sweep with [[points]], or a selection
that is not a full grid, needs several commands) and check each against the ids with the launcher's own
torch-free config code (training.config.make_config), so the report never shows a command that would
train something else without saying so.
"""

from __future__ import annotations

import itertools
import json
import shlex
from dataclasses import dataclass
from typing import Any

from analysis.settings import AnalysisSettings
from training.config import FIELD_NAMES, ConfigError, coerce, make_config

LAUNCH = ("python", "-m", "training.launch")
ALWAYS = ("preset", "arch", "dataset", "ood", "temperature", "seed")  # written even when equal to the default
GRID_LAST = ("temperature", "seed")  # split a non-grid set by other fields first: T x seed stays one grid


@dataclass(frozen=True)
class Command:
    args: tuple[str, ...]  # argv after `python -m training.launch`
    run_ids: tuple[str, ...]  # the ids the launcher would plan from it
    exact: bool  # they are exactly the runs it was written for

    @property
    def text(self) -> str:
        return " ".join((*LAUNCH, *(shlex.quote(a) for a in self.args)))


def set_text(value: Any) -> str:
    """A value as `--set` reads it back: 1.0 → '1', lists 'a+b' (empty: ''), booleans 'true'/'false'."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        short = f"{value:g}"
        return short if float(short) == value else repr(value)
    if isinstance(value, list | tuple):
        return "+".join(set_text(v) for v in value)
    return "none" if value is None else str(value)


def _typed(config: dict[str, Any]) -> dict[str, Any]:
    """The stored config with each field in its RunConfig type (JSON lists → tuples); unknown keys dropped."""
    return {k: coerce(k, v) for k, v in config.items() if k in FIELD_NAMES}


def _grids(members: list[tuple[str, dict[str, Any]]]) -> list[tuple[dict[str, Any], dict[str, list], set[str]]]:
    """Split (run id, config) pairs into (fixed fields, grid fields → values, their run ids) whose products
    are exactly the configs."""
    configs = [c for _, c in members]
    names = [n for n in FIELD_NAMES if any(n in c for c in configs)]
    values = {n: list(dict.fromkeys(c.get(n) for c in configs)) for n in names}
    fixed = {n: v[0] for n, v in values.items() if len(v) == 1}
    grid = {n: v for n, v in values.items() if len(v) > 1}
    have = {tuple(c.get(n) for n in grid) for c in configs}
    if have == set(itertools.product(*grid.values())):
        return [(fixed, {n: _sorted(v) for n, v in grid.items()}, {rid for rid, _ in members})]
    # not a full grid: split by the field with the fewest values (temperature and seed last), recurse
    key = min(grid, key=lambda n: (n in GRID_LAST, len(grid[n]), FIELD_NAMES.index(n)))
    out = []
    for v in _sorted(grid[key]):
        out += _grids([(rid, c) for rid, c in members if c.get(key) == v])
    return out


def _sorted(values: list) -> list:
    try:
        return sorted(values)
    except TypeError:
        return values


def _defaults(preset: str) -> dict[str, Any]:
    try:
        return make_config(preset=preset).to_dict()
    except ConfigError:
        return {}


def _settings_args(analysis: dict[str, Any]) -> list[str]:
    default = AnalysisSettings().to_dict()
    try:
        chosen = AnalysisSettings.from_dict(analysis).to_dict()
    except (ConfigError, TypeError):
        chosen = {k: v for k, v in analysis.items() if k in default}
    return [f"analysis.{k}={set_text(v)}" for k, v in chosen.items() if default.get(k) != v]


def commands(runs: list[tuple[str, str, str | None]]) -> list[Command]:
    """Launch commands for (run_id, config_json, analysis_json) triples, one per grid, each checked."""
    by_settings: dict[str, list[tuple[str, dict]]] = {}
    for run_id, config_json, analysis_json in runs:
        by_settings.setdefault(analysis_json or "{}", []).append((run_id, json.loads(config_json)))
    out = []
    for analysis_json, members in by_settings.items():
        settings = _settings_args(json.loads(analysis_json))
        try:
            typed = [(rid, _typed(cfg)) for rid, cfg in members]
        except ConfigError:  # a field this code no longer reads the old way: say so, with the ids
            out.append(Command((), tuple(rid for rid, _ in members), False))
            continue
        for fixed, grid, wanted in _grids(typed):
            base = _defaults(str(fixed.get("preset", "")))
            args: list[str] = []
            for name in dict.fromkeys((*ALWAYS, *FIELD_NAMES)):  # the fields a reader looks for first
                if name in grid:
                    args += ["--set", f"{name}={','.join(set_text(v) for v in grid[name])}"]
                elif name in fixed and (name in ALWAYS or base.get(name) != fixed[name]):
                    args += ["--set", f"{name}={set_text(fixed[name])}"]
            for item in settings:
                args += ["--set", item]
            planned = planned_ids(args)
            out.append(Command(tuple(args), tuple(sorted(planned)), planned == wanted))
    return out


def planned_ids(args: list[str]) -> set[str]:
    """The run ids the launcher would plan from `--set` arguments, read back from their text the way it reads
    them (values split at commas, each coerced to the field's type, 'a+b' lists, '' = the empty list) and built
    with its own make_config; analysis settings are not part of an id. Empty when a value does not read back."""
    grid: dict[str, list] = {}
    for flag, item in zip(args[::2], args[1::2]):
        name, _, raw = item.partition("=")
        if flag != "--set" or name.startswith("analysis."):
            continue
        try:
            grid[name] = [coerce(name, part) for part in (raw.split(",") if raw else [raw])]
        except ConfigError:
            return set()
    ids = set()
    for combo in itertools.product(*grid.values()):
        try:
            ids.add(make_config(**dict(zip(grid, combo))).run_id)
        except ConfigError:
            return set()
    return ids
