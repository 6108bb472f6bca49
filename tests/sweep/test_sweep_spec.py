"""Sweep specs: the product of the axes, readable stable run names, TOML files, and bad specs refused."""

from __future__ import annotations

import itertools

import pytest

from dashsim.sweep import SpecError, Sweep, load_spec

ISSUE_SPEC = """
[base]
data = "digits"
model = "mlp"
width = 32
J = 3
max_epochs = 4

[grid]
method = ["cold", "warm", "dash"]
seed = [0, 1]

[grid.dash]
lam = [0.1, 0.3]
"""


def test_toml_spec_expands_to_the_product_of_its_axes(tmp_path):
    spec = tmp_path / "lam.toml"
    spec.write_text(ISSUE_SPEC)
    sweep = load_spec(spec)
    assert sweep.out == "runs/lam"
    runs = sweep.runs()
    # Hand-written: cold, warm, dash at two lams = 4 grid points, x 2 seeds.
    expected = [(m, p, s) for m, p in [("cold", {}), ("warm", {}), ("dash", {"lam": 0.1}), ("dash", {"lam": 0.3})]
                for s in (0, 1)]
    assert [(r.settings["method"], r.params, r.seed) for r in runs] == expected
    assert all(r.settings["width"] == 32 and r.settings["J"] == 3 and "seed" not in r.settings for r in runs)
    assert len({r.name for r in runs}) == 8
    assert runs[4].name.startswith("dash_lam0.1_seed0_") and runs[0].name.startswith("cold_seed0_")
    assert runs[4].varied == {"method": "dash", "lam": 0.1}


def test_names_of_existing_runs_survive_added_seeds_and_values():
    small = Sweep(base={"J": 3}, grid={"method": ["cold", "dash"], "lr": [0.01], "seed": [0],
                                       "dash": {"lam": [0.1]}})
    large = Sweep(base={"J": 3}, grid={"method": ["cold", "dash", "warm"], "lr": [0.01, 0.1], "seed": [0, 1],
                                       "dash": {"lam": [0.1, 0.5]}})
    assert {r.name for r in small.runs()} < {r.name for r in large.runs()}
    assert len(large.runs()) == 2 * (1 + 2 + 1) * 2  # lr x (cold, dash x 2 lams, warm) x seeds
    # The hash covers every setting: another base is another run folder.
    other = Sweep(base={"J": 4}, grid=small.grid)
    assert not {r.name for r in small.runs()} & {r.name for r in other.runs()}


def test_a_list_setting_is_one_value_and_axes_multiply_in_declared_order():
    sweep = Sweep(base={"lr_milestones": [2, 4], "seed": 3}, grid={"width": [8, 16], "batch_size": [32, 64]})
    runs = sweep.runs()
    assert [(r.settings["width"], r.settings["batch_size"]) for r in runs] == list(itertools.product([8, 16], [32, 64]))
    assert all(r.settings["lr_milestones"] == (2, 4) and r.seed == 3 for r in runs)


@pytest.mark.parametrize("base, grid, message", [
    ({}, {"lr": []}, r"grid\.lr: an axis needs at least one value"),
    ({}, {"method": ["dash"], "dash": {"lam": []}}, r"grid\.dash\.lam: an axis needs at least one value"),
    ({}, {"method": ["cold"], "dash": {"lam": [0.1]}}, r"grid\.dash: .*needs method 'dash' in the sweep"),
    ({"lr": 0.1}, {"lr": [0.1, 0.2]}, r"lr: a setting is either fixed in base or an axis of grid"),
    ({"seeds": [0, 1]}, {}, r"base\.seeds: name the seed setting 'seed'"),
    ({}, {"lr": 0.1}, r"grid\.lr: an axis is a list of values"),
    ({}, {"lr": [0.1, 0.1]}, r"grid\.lr: values must be distinct"),
    ({}, {"seed": [-1]}, r"seed: seeds are integers >= 0"),
])
def test_bad_specs_name_the_field(base, grid, message):
    with pytest.raises(SpecError, match=message):
        Sweep(base=base, grid=grid).runs()


def test_bad_toml_files(tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text('[base]\ndata = "digits"\n[grids]\nlr = [0.1]\n')
    with pytest.raises(SpecError, match=r"unknown top-level key\(s\) grids; allowed: base, grid, out"):
        load_spec(spec)
    spec.write_text("[base\n")
    with pytest.raises(SpecError, match="not a valid TOML file"):
        load_spec(spec)
