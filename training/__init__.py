"""Thermoscope training: registries, recipes, the epoch loop, jobs and the sweep launcher."""
