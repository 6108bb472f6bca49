"""Who may import whom inside ``dashsim``, read from the source with ``ast`` (nothing is imported).

The rules:

1. ``dashsim/sim/`` (the simulator) never imports torch, and neither does anything that
   ``import dashsim`` or ``import dashsim.sim`` loads at module level;
2. ``dashsim/nn/`` (torch) never imports ``dashsim.sim``;
3. only ``dashsim/bridge/`` may import both ``dashsim.sim`` and ``dashsim.nn``;
4. the shared top-level modules (``runs.py``, ``stats.py``, ``cli.py``, ...) import neither
   (``cli.py`` reaches the sub-commands through ``importlib`` by module name, which is no import);
5. no module inside the package imports the ``dashsim`` facade (``import dashsim``,
   ``import dashsim.x`` without ``as``, ``from dashsim import name`` for a name that is not a
   submodule): it would tie the module to everything the facade loads, cycles included.
"""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "dashsim"


def _module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str, package: Path) -> bool:
    """Whether the dotted ``name`` is a module or package of the source tree at ``package``."""
    path = package.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _module_level(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node run when the module is imported (function bodies are left out)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            stack.extend(ast.iter_child_nodes(node))


def _imports(path: Path, package: Path, *, module_level: bool = False) -> Iterator[tuple[int, str, bool]]:
    """(line, imported module, binds the facade) for every import in ``path``, relative ones resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = _module_name(path, package)
    current = here if path.name == "__init__.py" else here.rpartition(".")[0]
    for node in (_module_level(tree) if module_level else ast.walk(tree)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                # `import dashsim.x` binds the name `dashsim`: the facade.
                yield node.lineno, alias.name, _within(alias.name, package.name) and alias.asname is None
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = current.split(".")
                base = ".".join(parts[:len(parts) - (node.level - 1)])
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                if _is_module(sub, package):
                    yield node.lineno, sub, False
                else:
                    yield node.lineno, source, source == package.name


def _loaded_at_import(start: str, package: Path) -> set[str]:
    """Every module that importing ``start`` loads at module level (its parents and their imports)."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        chain = [".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 2)]
        for module in chain:
            if module in seen:
                continue
            seen.add(module)
            if not _within(module, package.name):
                continue
            path = package.parent.joinpath(*module.split("."))
            path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
            if path.is_file():
                todo.extend(target for _, target, _ in _imports(path, package, module_level=True))
    return seen


def violations(package: Path) -> list[str]:
    """Every broken rule (see the module docstring) in the source tree at ``package``, as messages."""
    name = package.name
    sim, nn, bridge = f"{name}.sim", f"{name}.nn", f"{name}.bridge"
    found = []
    for path in sorted(package.rglob("*.py")):
        module = _module_name(path, package)
        where = path.relative_to(package.parent).as_posix()
        imported = list(_imports(path, package))
        uses_sim = any(_within(target, sim) for _, target, _ in imported)
        uses_nn = any(_within(target, nn) for _, target, _ in imported)
        for line, target, facade in imported:
            if _within(module, sim) and _within(target, "torch"):
                found.append(f"{where}:{line}: imports {target}; the simulator ({sim}) must not use torch")
            if _within(module, nn) and _within(target, sim):
                found.append(f"{where}:{line}: imports {target}; {nn} must not use the simulator ({bridge} joins them)")
            if facade and module != name:
                found.append(f"{where}:{line}: imports the {name} facade; import the module that defines the name")
        if uses_sim and uses_nn and not _within(module, bridge) and module != name:
            found.append(f"{where}: imports both {sim} and {nn}; only {bridge} may")
        if module.count(".") == 1 and not _within(module, sim) and not _within(module, nn) and (uses_sim or uses_nn):
            if not _within(module, bridge):
                found.append(f"{where}: a shared top-level module imports {sim if uses_sim else nn}")
    for start in (name, sim):
        torch = sorted(m for m in _loaded_at_import(start, package) if _within(m, "torch"))
        if torch:
            found.append(f"import {start} loads {torch[0]} at module level; it must work without torch")
    return found


def test_the_package_keeps_its_architecture():
    assert PACKAGE.is_dir()
    found = violations(PACKAGE)
    assert not found, "\n".join(found)


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def test_every_rule_catches_a_planted_violation(tmp_path):
    package = tmp_path / "dashsim"
    _write(tmp_path, {
        "dashsim/__init__.py": "from dashsim.sim import simulate\n",
        "dashsim/runs.py": "import json\n",
        "dashsim/cli.py": "import importlib\nMODULES = ('dashsim.sim.cli',)\n",
        "dashsim/stats.py": "from .sim import settings\n",  # rule 4
        "dashsim/sim/__init__.py": "from .simulator import simulate\n",
        "dashsim/sim/simulator.py": "from .. import runs\nfrom .helpers import f\n",
        "dashsim/sim/helpers.py": "def f():\n    import torch\n",  # rule 1 (inside a function still counts)
        "dashsim/sim/settings.py": "import dashsim\nfrom dashsim import simulate\n",  # rule 5, twice
        "dashsim/sim/cli.py": "import dashsim.runs\nimport dashsim.runs as runs\n",  # rule 5 for the first only
        "dashsim/nn/__init__.py": "from .train import fit\n",
        "dashsim/nn/train.py": "import torch\nfrom ..sim.simulator import simulate\n",  # rule 2
        "dashsim/nn/ok.py": "import torch\nfrom .. import runs\nfrom dashsim import stats\n",
        "dashsim/bridge/__init__.py": "from ..sim import simulate\nfrom ..nn import train\n",
        "dashsim/tables.py": "from dashsim.sim import settings\nfrom dashsim.nn import train\n",  # rules 3, 4
    })
    found = violations(package)
    expected = [
        "dashsim/nn/train.py:2: imports dashsim.sim.simulator; dashsim.nn must not use the simulator",
        "dashsim/sim/cli.py:1: imports the dashsim facade",
        "dashsim/sim/helpers.py:2: imports torch; the simulator (dashsim.sim) must not use torch",
        "dashsim/sim/settings.py:1: imports the dashsim facade",
        "dashsim/sim/settings.py:2: imports the dashsim facade",
        "dashsim/stats.py: a shared top-level module imports dashsim.sim",
        "dashsim/tables.py: imports both dashsim.sim and dashsim.nn; only dashsim.bridge may",
        "dashsim/tables.py: a shared top-level module imports dashsim.sim",
    ]
    for message in expected:
        assert sum(f.startswith(message) for f in found) == 1, (message, found)
    assert len(found) == len(expected), found
    # torch reached at module level through the facade: settings.py imports the facade, which imports
    # sim/__init__; make one of sim's modules import torch at the top.
    _write(tmp_path, {"dashsim/sim/helpers.py": "import torch\n"})
    loaded = violations(package)
    assert any(f.startswith("import dashsim loads torch at module level") for f in loaded), loaded
    assert any(f.startswith("import dashsim.sim loads torch at module level") for f in loaded), loaded
