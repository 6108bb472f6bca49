"""The notebooks run top to bottom in quick mode from their own folder (as Jupyter starts them), without warnings.

They are committed without outputs, take their quick mode from a ``parameters`` cell (as papermill
does), and read the committed results wherever the kernel starts.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "notebooks"
NOTEBOOKS = sorted(FOLDER.glob("*.ipynb"))


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 4


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs_and_has_a_quick_parameter(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: strip outputs before committing"
    (params,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assigned = {node.targets[0].id: ast.literal_eval(node.value)
                for node in ast.parse(params.source).body if isinstance(node, ast.Assign)}
    assert assigned == {"QUICK": True}
    assert nb.cells.index(params) == 1  # right after the title, before anything runs
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "DASHSIM_QUICK" not in source and "os.environ" not in source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_from_its_own_folder_without_warnings(path, monkeypatch):
    # The kernel inherits this environment: this checkout's dashsim even if it is not pip-installed.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    before = sorted(p.name for p in FOLDER.iterdir())
    nb = nbformat.read(path, as_version=4)
    # Jupyter starts a notebook's kernel in the notebook's folder, not at the repository's root.
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(FOLDER)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    stderr = "".join(o.get("text", "") for o in outputs if o.output_type == "stream" and o.get("name") == "stderr")
    assert stderr == "", f"{path.name} wrote to stderr (a warning, or a progress bar):\n{stderr[:2000]}"
    assert sorted(p.name for p in FOLDER.iterdir()) == before, "the notebook wrote files into notebooks/"
    text = "\n".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in outputs)
    images = sum("image/png" in o.get("data", {}) for o in outputs)
    if path.name.startswith("01"):
        assert "quick mode: True" in text and images >= 2  # Figure 3, then the custom rules
        assert "shrink_perturb" in text and "forget_old_memory" in text
    elif path.name.startswith("03"):
        assert f"reading {ROOT / 'paper_figures' / 'results'}" in text and images >= 5
        assert "no lr 0.001 results" not in text and "inconclusive" in text  # both rates' seed-level claims
    elif path.name.startswith("04"):
        assert "no committed results" not in text and images >= 2  # the quick run, then the committed CSV
