"""`python -m analysis …`: the analysis commands, kept where users and scripts expect them.

Analysing a checkpoint needs its model and data rebuilt and its rows written, which is orchestration:
the commands live in lab/commands/analyse.py, and this entry point only hands over, so the analysis library
itself imports neither training, nor the warehouse, nor the lab.
"""

if __name__ == "__main__":
    import sys

    from lab.commands.analyse import main

    sys.exit(main())
