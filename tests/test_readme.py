"""The README's "library in five minutes" code runs as written (in a fresh folder), so the tour cannot rot."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def _tour_blocks() -> list[str]:
    text = README.read_text()
    section = text[text.index("## The library in five minutes"):]
    section = section[: section.index("\n## ", 1)]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_tour_has_a_simulator_and_a_torch_block():
    blocks = _tour_blocks()
    assert len(blocks) >= 2 and any("dashsim.simulate" in b for b in blocks) and any("dashsim.nn" in b for b in blocks)


@pytest.mark.parametrize("index", range(len(_tour_blocks())))
def test_tour_block_runs(tmp_path, index):
    block = _tour_blocks()[index]
    script = tmp_path / "tour.py"
    script.write_text("import torch\ntorch.set_num_threads(1)\n" + block)
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    if "run_incremental" in block:
        assert (tmp_path / "runs" / "mine" / "metrics.csv").exists() and "ShrinkHead" in done.stdout
