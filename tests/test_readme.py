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


def _bash_commands(text: str) -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    return [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()
            if line.strip() and not line.startswith("#")]


def test_the_first_screen_has_the_two_commands_and_the_results_table():
    text = README.read_text()
    first_screen = "\n".join(text.splitlines()[:40])
    commands = _bash_commands(first_screen)
    install = 'python3 -m pip install -q torch==2.13.0 -e ".[dev]"'
    assert commands[:2] == [f"{install} && dashsim simulate",
                            f"{install} && python3 -m ruff check . && python3 -m pytest"]
    assert "## Results next to the papers" in first_screen


def test_ci_runs_exactly_the_readmes_test_command():
    ci = (README.parent / ".ci" / "run").read_text().splitlines()
    assert _bash_commands(README.read_text())[1] in ci


def test_docs_links_resolve_and_nothing_cites_files_outside_the_repository():
    root = README.parent
    pages = [README, *sorted((root / "docs").glob("*.md"))]
    for page in pages:
        text = page.read_text()
        assert "shared/" not in text, f"{page.name} cites a file outside the repository"
        for target in re.findall(r"\]\(([^)#]+\.md)\)", text):
            path = (page.parent / target).resolve()
            assert path.exists(), f"{page.name}: {target}"
    linked = set(re.findall(r"\]\((docs/[^)]+\.md)\)", README.read_text()))
    assert {p.relative_to(root).as_posix() for p in (root / "docs").glob("*.md")} <= linked
