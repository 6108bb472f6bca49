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


def _outside_code(text: str) -> str:
    """The text without its fenced code blocks (whose `# comments` are not headings, nor their brackets links)."""
    return re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", text, flags=re.S | re.M)


def _headings(text: str, level: str = "#+") -> list[str]:
    return re.findall(rf"^{level} +(.+?) *#* *$", _outside_code(text), flags=re.M)


def test_the_layout_follows_the_tour_before_every_other_section():
    headings = _headings(README.read_text(), "##")
    layout = headings.index("Layout")
    tour = next(i for i, h in enumerate(headings) if h.startswith("The library in"))
    assert tour == layout - 1, headings
    assert set(headings[:tour]) <= {"Results next to the papers", "Install"}, headings


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: links and code reduced to their text, lowercase, punctuation
    except `-` and `_` dropped, spaces to `-`."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for heading in _headings(page.read_text()):
        slug = _slug(heading)
        anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return anchors


def _relative_links(page: Path) -> list[str]:
    links = re.findall(r"!?\[[^\]]*\]\(<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\)", _outside_code(page.read_text()))
    return [link for link in links if not re.match(r"[a-z][a-z0-9+.-]*:", link)]


def test_the_slug_follows_githubs_rules():
    assert _slug("Why Ray core tasks, not Ray Tune") == "why-ray-core-tasks-not-ray-tune"
    assert _slug("`dashsim sweep` and [runs](x.md): 1.5 s_per run") == "dashsim-sweep-and-runs-15-s_per-run"


def test_every_relative_link_and_image_resolves_and_every_anchor_names_a_heading():
    root = README.parent
    pages = [README, *sorted((root / "docs").glob("*.md"))]
    broken = []
    for page in pages:
        links = _relative_links(page)
        assert page is not README or len(links) > 10
        for link in links:
            target, _, anchor = link.partition("#")
            path = (page.parent / target).resolve() if target else page
            if not path.exists():
                broken.append(f"{page.relative_to(root)}: {link} (no such file)")
            elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
                broken.append(f"{page.relative_to(root)}: {link} (no such heading)")
    assert not broken, "\n".join(broken)
