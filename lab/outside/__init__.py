"""Networks and loops from elsewhere: timm / torchvision / your own models, their data, their runs, and measuring
inside your own training loop.

Imports the records room only.

    models.py     model specs (timm:NAME, torchvision:NAME, module:PKG.MOD:FACTORY) and their weights files
    data.py       the data an outside network is measured on, preprocessed the way it was trained
    runs.py       an outside run's identity and its run_configs row
    tracker.py    Tracker: the measurements inside your own training loop (`from lab import Tracker`)
    lightning.py  Tracker as a PyTorch Lightning callback
"""
