"""`python -m lab …` = `thermoscope …` (lab/commands/main.py)."""

import sys

from lab.commands.main import main

sys.exit(main())
