"""Thermoscope's shared vocabulary: the few names every package agrees on, and nothing else.

- `thermoscope.env`: every `THERMOSCOPE_*` environment variable, its meaning and its default;
- `thermoscope.status`: the run statuses (`RunStatus`), which of them are live and which are final;
- `thermoscope.fields`: `ConfigError` and the one coercion of typed config fields from TOML/CLI text.

This package imports nothing of Thermoscope's (and no torch): every other package may import it.
The rest of the house, lowest first: `warehouse` and `slurm` (rows, executors), `analysis` and
`training` (the measurement and training libraries), `lab` (orchestration), `app` (the dashboard).
See docs/architecture.md.
"""

__version__ = "0.3.0"
