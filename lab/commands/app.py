"""`thermoscope app`: start the Streamlit dashboard on this home."""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
from pathlib import Path

from warehouse import home


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="thermoscope app", description="start the dashboard on this home")
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--address", default="127.0.0.1")
    args = parser.parse_args(argv)
    # found, not imported: the dashboard's package runs in the Streamlit process, never in the lab's
    script = Path(importlib.util.find_spec("app").submodule_search_locations[0]).resolve() / "Home.py"
    print(f"Thermoscope dashboard: http://{args.address}:{args.port}  (warehouse: {home().database})")
    return subprocess.call([sys.executable, "-m", "streamlit", "run", str(script), "--server.address", args.address,
                            "--server.port", str(args.port), "--server.headless", "true",
                            "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer"])
