"""`thermoscope …`: the console script that reaches every command by one name.

    thermoscope launch [SWEEP.toml] [--set FIELD=V1,V2 …] [--executor …] [--dry-run] [--wait] [--pack N] …
    thermoscope status [SWEEP_ID] | cancel [SWEEP_ID] | list
    thermoscope delete SWEEP_ID|RUN_ID [--dry-run]                                     (runs and all kept of them)
    thermoscope analyse CHECKPOINT … | analyse-model … | reanalyse … | theory | init-norms … | calibrate … | settings
    thermoscope ingest | rebuild | migrate | export | sql "SELECT …" | schema-doc      (the warehouse's)
    thermoscope app [--port N] [--address A] [--token T | --no-token]                 (the dashboard, owner only)
    thermoscope report [SWEEP_ID …] [--set FIELD=V …] [--out report.html]              (one HTML file to send)

`python -m training.launch ARGS` is `thermoscope launch ARGS` (and its `status`, `cancel`, `--list`);
`python -m analysis ARGS` is `thermoscope ARGS` for the analysis commands; `python -m warehouse ARGS`
is the warehouse's own CLI.
"""

from __future__ import annotations

import sys

from lab.commands.launch import follow, launch_main, list_registered

ANALYSIS_COMMANDS = ("analyse", "analyze", "analyse-model", "analyze-model", "reanalyse", "reanalyze", "theory",
                     "init-norms", "settings")
WAREHOUSE_COMMANDS = ("ingest", "rebuild", "migrate", "export", "sql", "schema-doc")


def main(argv: list[str] | None = None) -> int:
    """`thermoscope COMMAND …`: one entry point for every command (see the module docstring)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command, rest = (argv[0], argv[1:]) if argv else ("--help", [])
    if command == "launch":
        return launch_main(rest, prog="thermoscope launch")
    if command in ("status", "cancel"):
        return follow([command, *rest], "thermoscope")
    if command == "delete":
        from lab.commands.delete import main as delete_main

        return delete_main(rest)
    if command == "list":
        print(list_registered())
        return 0
    if command in ANALYSIS_COMMANDS:
        from lab.commands.analyse import main as analysis_main

        return analysis_main([command, *rest])
    if command == "calibrate":
        from lab.commands.calibrate import main as calibrate_main

        return calibrate_main(rest)
    if command in WAREHOUSE_COMMANDS:
        from warehouse.__main__ import main as warehouse_main

        return warehouse_main([command, *rest])
    if command == "app":
        from lab.commands.app import serve

        return serve(rest)
    if command == "report":  # app/report.py writes it; lab never imports app, so it runs as its own process
        import subprocess

        return subprocess.call([sys.executable, "-m", "app.report", *rest])
    print(__doc__.split("\n\n")[1] if command in ("-h", "--help", "help") else
          f"thermoscope: unknown command {command!r}; see `thermoscope --help`",
          file=sys.stdout if command in ("-h", "--help", "help") else sys.stderr)
    return 0 if command in ("-h", "--help", "help") else 2
