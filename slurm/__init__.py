"""Executors for sweeps: Slurm through submitit, or local processes. Knows nothing about models."""

from slurm.executor import EXECUTORS, SlurmOptions, make_executor, slurm_available

__all__ = ["EXECUTORS", "SlurmOptions", "make_executor", "slurm_available"]
