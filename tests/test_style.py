"""dashsim.style: one look per method everywhere, seaborn's seed bands equal the CSV's statistics, PNG + PDF."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from dashsim import style
from dashsim.stats import seed_stats


def _band(ax, index=0):
    vertices = ax.collections[index].get_paths()[0].vertices
    x = np.unique(vertices[:, 0])
    return (x, np.array([vertices[vertices[:, 0] == v, 1].min() for v in x]),
            np.array([vertices[vertices[:, 0] == v, 1].max() for v in x]))


def test_every_method_of_both_halves_has_its_own_colour_blind_safe_look():
    import seaborn as sns

    from dashsim.nn import METHODS

    methods = {"cold", "warm", "ideal", *METHODS}
    assert methods <= set(style.METHOD_STYLES)
    looks = [(s["color"], str(s["linestyle"])) for s in style.METHOD_STYLES.values()]
    assert len(set(looks)) == len(looks)
    assert len({s["color"] for s in style.METHOD_STYLES.values()}) == len(style.METHOD_STYLES)
    assert {s["color"] for s in style.METHOD_STYLES.values()} <= set(sns.color_palette("colorblind").as_hex())


def test_unknown_names_keep_their_look_and_never_share_one_in_a_figure():
    names = [f"my rule {i}" for i in range(len(style.EXTRA_STYLES))]
    assert style.method_style("my rule 3") == style.method_style("my rule 3")
    assert style.method_styles(["my rule 3"])["my rule 3"] == style.method_style("my rule 3")
    styles = style.method_styles(names)
    assert len({(s["color"], str(s["linestyle"])) for s in styles.values()}) == len(names)
    assert style.method_styles(["cold", "x"], {"cold": {"linestyle": ":"}})["cold"]["linestyle"] == ":"
    style.method_style("cold")["color"] = "red"  # a copy: the table is unchanged
    assert style.METHOD_STYLES["cold"]["color"] != "red"


@pytest.mark.parametrize("seed", range(5))
def test_a_summary_becomes_rows_with_exactly_its_mean_and_std(seed):
    rng = np.random.default_rng(seed)
    rows = pd.DataFrame({"method": rng.choice(["a", "b"], 40), "experiment": rng.integers(1, 4, 40),
                         "seed": np.arange(40), "q": rng.normal(size=40) * 10, "r": rng.uniform(size=40)})
    summary = seed_stats(rows, ["method", "experiment"], ["q", "r"])
    rebuilt = seed_stats(style.seed_rows(summary, ["q", "r"]), ["method", "experiment"], ["q", "r"])
    for column in ("q_mean", "q_std", "r_mean", "r_std"):
        expected = summary[column].to_numpy()
        got = rebuilt[column].to_numpy()
        np.testing.assert_allclose(np.nan_to_num(got), np.nan_to_num(expected), rtol=1e-12, atol=1e-12)
    assert style.seed_rows(rows, ["q"]) is rows
    with pytest.raises(ValueError, match="missing"):
        style.seed_rows(summary.drop(columns="q_std"), ["q"])


def test_seed_lineplot_draws_the_seed_mean_and_a_one_std_band():
    rng = np.random.default_rng(0)
    rows = pd.DataFrame([{"method": m, "seed": s, "experiment": j, "acc": rng.uniform()}
                         for m in ("warm", "mine") for s in range(4) for j in range(1, 6)])
    expected = seed_stats(rows, ["method", "experiment"], ["acc"])
    ax = Figure().subplots()
    style.seed_lineplot(ax, rows, "experiment", "acc", order=["warm", "mine"], scale=100)
    assert [line.get_label() for line in ax.lines] == ["warm", "mine"]
    for index, method in enumerate(["warm", "mine"]):
        e = expected[expected.method == method]
        np.testing.assert_allclose(ax.lines[index].get_ydata(), 100 * e.acc_mean, rtol=1e-12)
        x, low, high = _band(ax, index)
        np.testing.assert_allclose(low, 100 * (e.acc_mean - e.acc_std), rtol=1e-9)
        np.testing.assert_allclose(high, 100 * (e.acc_mean + e.acc_std), rtol=1e-9)
        assert to_hex(ax.lines[index].get_color()) == style.method_styles(["warm", "mine"])[method]["color"]
    single = Figure().subplots()
    style.seed_lineplot(single, rows[rows.seed == 0], "experiment", "acc")
    assert len(single.lines) == 2  # one seed: no band (seaborn's collections hold no finite point)
    assert not any(np.isfinite(p.vertices).all(axis=1).any() for c in single.collections for p in c.get_paths())
    with pytest.raises(ValueError, match="'dash' has no rows"):
        style.seed_lineplot(Figure().subplots(), rows, "experiment", "acc", order=["dash"])


def test_capped_counts_and_marks():
    rows = pd.DataFrame({"method": ["a"] * 4 + ["b"] * 4, "experiment": [1, 1, 2, 2] * 2, "seed": [0, 1] * 4,
                         "steps": [1.0, 3, 5, 7, 2, 2, 4, 4],
                         "converged": [True, True, False, False, True, False, True, True]})
    counts = style.capped_counts(rows, ["method", "experiment"])
    assert counts.values.tolist() == [["a", 1, 0], ["a", 2, 2], ["b", 1, 1], ["b", 2, 0]]
    ax = Figure().subplots()
    assert style.mark_capped(ax, rows, "experiment", "steps") == 2
    marks = {to_hex(line.get_color()): (list(line.get_xdata()), list(line.get_ydata())) for line in ax.lines}
    assert marks == {style.method_style("a")["color"]: ([2], [6.0]), style.method_style("b")["color"]: ([1], [2.0])}
    assert [line.get_label() for line in ax.lines] == [style.CAP_LABEL, "_nolegend_"]  # one legend entry
    other = Figure().subplots()
    style.mark_capped(other, rows, "experiment", "steps", label="ended below the target")
    assert other.lines[0].get_label() == "ended below the target"
    with pytest.raises(ValueError, match="converged"):
        style.capped_counts(rows.drop(columns="converged"), ["method"])


def test_heatmap_annotates_each_cell_with_its_value():
    table = pd.DataFrame({"alpha": [0.1, 0.1, 0.3], "lam": [0.3, 0.9, 0.3], "acc": [81.25, 82.5, 79.0]})
    ax = Figure().subplots()
    style.heatmap(ax, table, x="alpha", y="lam", value="acc")
    texts = sorted(t.get_text() for t in ax.texts)
    assert texts == ["79.0", "81.2", "82.5"]  # the missing (0.3, 0.9) cell is blank
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0.9", "0.3"]  # lam grows upwards
    with pytest.raises(ValueError, match="several rows"):
        style.heatmap(Figure().subplots(), pd.concat([table, table]), x="alpha", y="lam", value="acc")


def test_save_figure_writes_a_publication_png_and_a_pdf_or_nothing(tmp_path, monkeypatch):
    from matplotlib.image import imread

    fig = Figure(figsize=(2, 1))
    fig.subplots().plot([0, 1], [0, 1])
    png, pdf = style.save_figure(fig, tmp_path / "fig.png")
    assert (png.name, pdf.name) == ("fig.png", "fig.pdf")
    assert imread(png).shape[:2] == (style.DPI, 2 * style.DPI) and pdf.read_bytes()[:4] == b"%PDF"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.pdf", "fig.png"]
    first = pdf.read_bytes()
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")  # what matplotlib would otherwise stamp as the creation date
    style.save_figure(fig, tmp_path / "fig")
    assert pdf.read_bytes() == first  # no creation date: the same figure gives the same PDF

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(fig, "savefig", broken)
    with pytest.raises(RuntimeError):
        style.save_figure(fig, tmp_path / "other")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.pdf", "fig.png"]  # no half-made file


def test_no_figure_code_picks_a_colour_of_its_own():
    """Colours come from dashsim.style; figure code elsewhere may use only neutral accents (grey, black, white)."""
    import json
    import re
    from pathlib import Path

    from matplotlib.colors import to_rgb

    root = Path(__file__).resolve().parent.parent
    keywords = r"color|c|colors|edgecolors?|facecolors?|cmap|foreground|ecolor|mec|mfc|markeredgecolor|markerfacecolor"
    literal = re.compile(rf"""["']?\b(?:{keywords})["']?\s*[:=]\s*["']([^"']+)["']""")
    offenders = []
    for path in sorted(p for d in ("dashsim", "paper_figures", "experiments", "benchmarks", "notebooks")
                       for p in (root / d).rglob("*") if p.suffix in (".py", ".ipynb") and p.name != "style.py"):
        text = path.read_text()
        if path.suffix == ".ipynb":  # the cells' code, not its JSON escapes
            text = "\n".join("".join(cell["source"]) for cell in json.loads(text)["cells"])
        for value in literal.findall(text) + re.findall(r"""["'](#[0-9a-fA-F]{6})["']""", text):
            if value == "none":
                continue
            try:
                r, g, b = to_rgb(value)
            except ValueError:  # a colour map's name
                offenders.append(f"{path.relative_to(root)}: {value}")
                continue
            if max(r, g, b) - min(r, g, b) > 1e-9:  # not a grey
                offenders.append(f"{path.relative_to(root)}: {value}")
    assert not offenders, offenders
