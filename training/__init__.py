"""Thermoscope training: model and dataset registries, recipes (config, presets), augmentations, losses, the epoch
loop (solo and packed), checkpoints. Sweeps and jobs are the lab's (lab/); `python -m training.launch` only hands
over to it."""
