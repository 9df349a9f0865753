"""Executors for sweeps: Slurm through submitit, or local processes; options, job states, partition fit.

Knows nothing about models: it moves pickled callables to nodes and reads back what happened.
"""

from slurm.executor import EXECUTORS, make_executor, resolve_kind, slurm_available, submit_array
from slurm.options import OptionError, SlurmOptions

__all__ = ["EXECUTORS", "OptionError", "SlurmOptions", "make_executor", "resolve_kind", "slurm_available",
           "submit_array"]
