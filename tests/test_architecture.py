"""The house's one-way picture, checked on the source: which package may import which (docs/architecture.md).

Lowest first: thermoscope (the shared vocabulary) ← warehouse, slurm ← analysis ← training ← lab ← app.
Inside the lab, rooms likewise: records ← outside ← jobs ← sweeps ← commands. An arrow never runs back up,
and no module reaches itself through others (no import circle anywhere). Two entry points keep the
commands users type (`python -m training.launch`, `python -m analysis`); they hand over to the lab inside
their `if __name__ == "__main__":` block only, so importing the libraries never reaches the lab.
Imports by name at run time (`__import__("x")`, `importlib.import_module("x")`) count like `import x`.
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


def _dynamic_import(node: ast.AST) -> str | None:
    """The literal module name of `__import__("x")` / `importlib.import_module("x")` / `import_module("x")`."""
    if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)):
        return None
    fn = node.func
    name = fn.id if isinstance(fn, ast.Name) else fn.attr if isinstance(fn, ast.Attribute) else ""
    return node.args[0].value if name in ("__import__", "import_module") else None


def full_imports(path: Path, skip_main_guard: bool) -> list[tuple[int, str]]:
    """(line, dotted name) of every import in the file, however deep (lazy and by-name imports count):
    `from a.b import c` gives 'a.b.c' (c may be a module or a name in a.b)."""
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
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
        elif name := _dynamic_import(node):
            found.append((node.lineno, name))
    return found


def imports(path: Path, skip_main_guard: bool) -> list[tuple[int, str]]:
    """(line, top-level package) of every import in the file (see full_imports)."""
    return [(line, name.split(".")[0]) for line, name in full_imports(path, skip_main_guard)]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Our modules and the modules of ours each one imports (a name imported from a module counts as that module)."""
    paths = {module_name(p): p for package in OURS for p in sources(package)}
    graph = {}
    for name, path in paths.items():
        rel = str(path.relative_to(ROOT))
        targets = set()
        for _, dotted in full_imports(path, skip_main_guard=rel in ENTRY_POINTS):
            parts = dotted.split(".")
            hit = next((".".join(parts[:n]) for n in range(len(parts), 0, -1) if ".".join(parts[:n]) in paths), None)
            if hit and hit != name:
                targets.add(hit)
        graph[name] = targets
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), i.e. every import circle."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
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


def test_no_import_circles_anywhere_in_the_house():
    assert circles(import_graph()) == []


def test_the_circle_finder_finds_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_by_name_imports_count(tmp_path):
    source = tmp_path / "m.py"
    source.write_text('import importlib\nx = __import__("app")\ny = importlib.import_module("lab.commands.main")\n')
    assert imports(source, skip_main_guard=False) == [(1, "importlib"), (2, "app"), (3, "lab")]


# the lab's rooms, lowest first: each may import only the rooms before it. lab/jobs/run_job.py and lab/jobs/analyse_job.py
# (top level) only re-export for jobs pickled before the rooms existed.
LAB_ROOMS = ("records", "outside", "jobs", "sweeps", "commands")


def test_lab_rooms_only_import_down():
    wrong = []
    for name, targets in import_graph().items():
        parts = name.split(".")
        if parts[0] != "lab" or len(parts) < 3:
            continue
        mine = LAB_ROOMS.index(parts[1])
        for target in targets:
            tparts = target.split(".")
            if tparts[0] == "lab" and len(tparts) > 2 and LAB_ROOMS.index(tparts[1]) > mine:
                wrong.append(f"{name} imports {target}")
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


@pytest.mark.slow
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
    code = ("import sys, lab.commands.main, app, warehouse, slurm, training.config, analysis.settings, thermoscope; "
            "assert all(m.__file__.startswith(sys.argv[1]) for m in (lab.commands.main, app, warehouse, slurm, training.config)); "
            "print('torch' in sys.modules)")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(target)}
    ran = subprocess.run([sys.executable, "-c", code, str(target)], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120)
    assert ran.returncode == 0 and ran.stdout.strip() == "False", ran.stderr[-2000:]
    listed = subprocess.run([sys.executable, "-m", "training.launch", "--list"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and "THERMOSCOPE_HOME" in listed.stdout, listed.stderr[-2000:]
