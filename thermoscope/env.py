"""Every environment variable Thermoscope reads, declared once: name, meaning, default, parser.

Code reads a variable through its declaration (`env.HOME.get()`), never through `os.environ`
directly, so this module is the complete list; `python -m training.launch --list` prints it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def flag(text: str) -> bool:
    """'1'/'true'/'yes'/'on' → True, '0'/'false'/'no'/'off' → False (case-insensitive)."""
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"want one of {'/'.join(_TRUE + _FALSE)}")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError("want a positive integer")
    return value


def _seconds(text: str) -> float:
    return max(0.5, float(text))


def _amp(text: str) -> bool:
    value = text.strip().lower()
    return True if value == "bf16" else False if value == "off" else flag(value)


def _engine(text: str) -> str:
    value = text.strip().lower()
    choices = ("auto", "solo", "grouped", "vmap", "loop")
    if value not in choices:
        raise ValueError(f"want one of {', '.join(choices)}")
    return value


@dataclass(frozen=True)
class EnvVar:
    name: str
    default: str  # as the user would write it; '' = unset
    meaning: str
    parse: Callable[[str], Any] = str
    secret: bool = False  # its value is never printed (describe() says only that it is set)

    def raw(self) -> str:
        return os.environ.get(self.name, "")

    def is_set(self) -> bool:
        return self.raw() != ""

    def get(self) -> Any:
        """The parsed value: the variable's if set, else the default ('' default: None when unset)."""
        text = self.raw() or self.default
        if text == "":
            return None
        try:
            return self.parse(text)
        except ValueError as exc:
            raise ValueError(f"{self.name}={text!r}: {exc}") from None


HOME = EnvVar("THERMOSCOPE_HOME", "thermoscope-home",
              "where shards, checkpoints, job folders and the DuckDB warehouse live (relative: to the working "
              "directory)")
DATA = EnvVar("THERMOSCOPE_DATA", "data",
              "where datasets are looked for and downloaded to; a run's data_root field overrides it")
OFFLINE = EnvVar("THERMOSCOPE_OFFLINE", "0",
                 "1: never try to download a missing dataset (compute nodes without a network fail at once)", flag)
THREADS = EnvVar("THERMOSCOPE_THREADS", "",
                 "torch threads inside a job (unset: torch's default; local sweeps set cores / jobs)", _positive_int)
WORKERS = EnvVar("THERMOSCOPE_WORKERS", "",
                 "DataLoader workers for streamed (class-folder) data (unset: min(8, CPU cores))", int)
HEARTBEAT_S = EnvVar("THERMOSCOPE_HEARTBEAT_S", "60",
                     "seconds between a running job's heartbeat rows (tells a hung job from a slow one)", _seconds)
PACK_ENGINE = EnvVar("THERMOSCOPE_PACK_ENGINE", "auto",
                     "engine for --pack: auto (solo on a CPU, stacked on a GPU), solo, grouped, vmap or loop", _engine)
AMP = EnvVar("THERMOSCOPE_AMP", "",
             "bf16 autocast on CUDA: off or bf16/1 (unset: on for CUDA, never on the CPU)", _amp)
CHANNELS_LAST = EnvVar("THERMOSCOPE_CHANNELS_LAST", "",
                       "channels_last memory layout: 0 or 1 (unset: on for CUDA, off on the CPU)", flag)
COMPILE = EnvVar("THERMOSCOPE_COMPILE", "0",
                 "1: torch.compile the model on CUDA (the first compile takes minutes; for long runs)", flag)
TIMM_HUB = EnvVar("THERMOSCOPE_TIMM_HUB", "0",
                  "1: vit_b16 without a pretrained file loads timm's pretrained weights from the hub", flag)

JOB_INGEST = EnvVar("THERMOSCOPE_JOB_INGEST", "1",
                    "1: each job ingests the home's new shards into the warehouse when its last run ends (under the "
                    "ingest lock; never fails the job); 0: only `python -m warehouse ingest` does", flag)

SQL_SLOTS = EnvVar("THERMOSCOPE_SQL_SLOTS", "4",
                   "sandboxed SQL queries (the dashboard's console, `warehouse sql --safe`) running at once per "
                   "home; one more is answered 'running already'", _positive_int)

SHARE_GROUP = EnvVar("THERMOSCOPE_SHARE_GROUP", "0",
                     "1: the home is shared with its Unix group (folders 2750, files 0640); 0: the owner only "
                     "(0700/0600). docs/cluster.md", flag)
TOKEN = EnvVar("THERMOSCOPE_TOKEN", "",
               "the dashboard's access token (at least 24 URL-safe characters); unset: `thermoscope app` draws a "
               "random one each start", secret=True)
TOKEN_FILE = EnvVar("THERMOSCOPE_TOKEN_FILE", "",
                    "the 0600 file `thermoscope app` keeps the dashboard's token in (unset: "
                    "~/.thermoscope/app-PORT.token); the dashboard's server reads its token from it")
APP_NO_TOKEN = EnvVar("THERMOSCOPE_APP_NO_TOKEN", "0",
                      "1: the dashboard lets anyone who reaches it in (set by `thermoscope app --no-token`; "
                      "never on a shared machine)", flag)

MAX_RUNS = EnvVar("THERMOSCOPE_MAX_RUNS", "1000",
                  "most runs one launch may have (grid size plus points, counted before the grid is expanded); "
                  "a larger sweep is refused in one line: split it, or raise this", _positive_int)
DATA_ROOTS = EnvVar("THERMOSCOPE_DATA_ROOTS", "",
                    "folders (separated by ':') under which the dashboard's launch form accepts typed paths "
                    "(folder:PATH datasets, pretrained, data_root); unset: $THERMOSCOPE_HOME/data and "
                    "$THERMOSCOPE_DATA. The command line is not limited by it", lambda t: [p for p in t.split(":") if p])
KEEP_SUPERSEDED = EnvVar("THERMOSCOPE_KEEP_SUPERSEDED", "1",
                         "superseded checkpoint folders (<run>.superseded-<time>, made by --force) kept per run; "
                         "older ones are deleted when --force moves another aside (0: keep none)", int)

VARIABLES: tuple[EnvVar, ...] = (HOME, DATA, OFFLINE, THREADS, WORKERS, HEARTBEAT_S, PACK_ENGINE, AMP,
                                 CHANNELS_LAST, COMPILE, TIMM_HUB, JOB_INGEST, SHARE_GROUP, TOKEN, TOKEN_FILE,
                                 APP_NO_TOKEN, SQL_SLOTS, MAX_RUNS, DATA_ROOTS, KEEP_SUPERSEDED)


def describe() -> str:
    """One line per variable: name, default, meaning, and the value set now (for --list)."""
    width = max(len(v.name) for v in VARIABLES)
    lines = []
    for v in VARIABLES:
        now = ("  [set]" if v.secret else f"  [set: {v.raw()!r}]") if v.is_set() else ""
        lines.append(f"{v.name:<{width}}  default {v.default or '(unset)'!s:<18} {v.meaning}{now}")
    return "\n".join(lines)
