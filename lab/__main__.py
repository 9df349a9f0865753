"""`python -m lab …` = `thermoscope …` (lab/cli.py)."""

import sys

from lab.cli import main

sys.exit(main())
