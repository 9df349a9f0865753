"""`python -m training.launch …`: the launcher's command, kept where users and scripts expect it.

The launcher itself is orchestration and lives in lab/ (lab/commands/main.py, lab/sweeps/launch.py); this entry point
only hands over to it, so the training library never imports the lab.
"""

if __name__ == "__main__":
    import sys

    from lab.commands.launch import launch_main

    sys.exit(launch_main())
