"""The house's one-way picture, checked on the source: which package may import which (docs/architecture.md).

Lowest first: thermoscope (the shared vocabulary) ← warehouse, slurm ← analysis ← training ← lab ← app.
An arrow never runs back up. Two entry points keep the commands users type (`python -m training.launch`,
`python -m analysis`); they hand over to the lab inside their `if __name__ == "__main__":` block only,
so importing the libraries never reaches the lab.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

OURS = ("thermoscope", "warehouse", "slurm", "analysis", "training", "lab", "app")
# what each package may import of ours (besides itself)
ALLOWED = {
    "thermoscope": set(),
    "warehouse": {"thermoscope"},
    "slurm": {"thermoscope"},
    "analysis": {"thermoscope"},
    "training": {"thermoscope", "analysis"},
    "lab": {"thermoscope", "warehouse", "slurm", "analysis", "training"},
    "app": {"thermoscope", "warehouse", "slurm", "lab", "training", "analysis"},
}
NO_TORCH = {"thermoscope", "warehouse", "slurm"}
ENTRY_POINTS = {"analysis/__main__.py", "training/launch.py"}


def _is_main_guard(node: ast.AST) -> bool:
    return (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__")


def imports(path: Path, skip_main_guard: bool) -> list[tuple[int, str]]:
    """(line, top-level module) of every import in the file, however deep (lazy imports count)."""
    tree = ast.parse(path.read_text(), str(path))
    skipped = set()
    if skip_main_guard:
        for node in tree.body:
            if _is_main_guard(node):
                skipped |= {id(n) for n in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", OURS)
def test_imports_only_run_down_the_house(package):
    wrong = []
    for path in sources(package):
        rel = str(path.relative_to(ROOT))
        for line, module in imports(path, skip_main_guard=rel in ENTRY_POINTS):
            if module in OURS and module != package and module not in ALLOWED[package]:
                wrong.append(f"{rel}:{line} imports {module}")
            if package in NO_TORCH and module in ("torch", "torchvision", "timm"):
                wrong.append(f"{rel}:{line} imports {module}")
    assert not wrong, wrong


def test_the_entry_points_only_hand_over():
    for rel in ENTRY_POINTS:
        tree = ast.parse((ROOT / rel).read_text())
        body = [n for n in tree.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
        assert len(body) == 1 and _is_main_guard(body[0]), f"{rel} should hold only its __main__ hand-over"


def test_no_path_hacks_outside_tests():
    hacks = [str(p.relative_to(ROOT)) for package in (*OURS, "bench") for p in sources(package)
             if "sys.path.insert" in p.read_text()]
    assert not hacks, hacks


def test_every_package_is_declared_and_documented():
    import tomllib

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    assert set(OURS) <= set(declared)
    layout = (ROOT / "docs" / "architecture.md").read_text()
    readme = (ROOT / "README.md").read_text()
    for package in OURS:
        assert f"`{package}/`" in layout and f"`{package}/`" in readme, package


def test_the_package_installs_into_an_empty_target_and_runs_from_there(tmp_path):
    """`pip install --no-deps .` gives every package, the pages and the console script; they work without
    the checkout (run from elsewhere, nothing but the target on the path)."""
    import subprocess
    import sys

    target = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                           str(ROOT)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (target / "app" / "pages" / "2_Rank.py").is_file() and (target / "bin" / "thermoscope").is_file()
    code = ("import sys, lab.cli, app, warehouse, slurm, training.config, analysis.settings, thermoscope; "
            "assert all(m.__file__.startswith(sys.argv[1]) for m in (lab.cli, app, warehouse, slurm, training.config)); "
            "print('torch' in sys.modules)")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(target)}
    ran = subprocess.run([sys.executable, "-c", code, str(target)], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120)
    assert ran.returncode == 0 and ran.stdout.strip() == "False", ran.stderr[-2000:]
    listed = subprocess.run([sys.executable, "-m", "training.launch", "--list"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and "THERMOSCOPE_HOME" in listed.stdout, listed.stderr[-2000:]
