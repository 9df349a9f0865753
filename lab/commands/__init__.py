"""The commands people type: `thermoscope …`, `python -m training.launch`, `python -m analysis`.

The top room of the lab: it may import every other room; none imports it.

    main.py           `thermoscope COMMAND …`: one name for every command
    launch.py         `python -m training.launch`: launch, status, cancel, --list
    analyse.py        `python -m analysis`: analyse, theory, settings, and the hand-over to the two below
    analyse_model.py  `analyse-model`: a network trained elsewhere, from its weights file
    reanalyse.py      `reanalyse`: kept checkpoints measured again as one job array
    init_norms.py     `init-norms`: logits norm at initialisation (Figure 8)
    calibrate.py      `calibrate`: the temperature that matches an initial logits norm
    app.py            `thermoscope app`: the dashboard
    shared.py         what several commands share: one-line errors, --set settings, Slurm flags, reporting
"""
