"""The paper-figure scripts' faithful defaults: what a full run would use, and what a quick run did.

Full-mode defaults are read from the parsed flags (the scripts' computing step is replaced by a
stub that records its arguments, so nothing trains); quick runs train in this process into fresh
folders and the run folders' recorded configuration and metrics are checked.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest

FIGURES = Path(__file__).resolve().parent.parent / "paper_figures"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"paper_figures_{name}_defaults", FIGURES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Stop(Exception):
    pass


def _full_args(name: str, function: str, monkeypatch, tmp_path, *flags: str):
    """The parsed arguments a full run of script ``name`` hands to its ``function`` (which is not run)."""
    module = _load(name)
    seen = {}

    def stub(args, *rest, **keywords):
        seen["args"] = args
        raise _Stop

    monkeypatch.setattr(module, function, stub)
    with pytest.raises(_Stop):
        module.main(["--out", str(tmp_path / "never"), "--no-progress", *flags])
    assert not (tmp_path / "never").exists()
    return seen["args"]


@pytest.mark.parametrize("name", ["figure1", "table1"])
def test_figure1_and_table1_full_cap_is_the_authors(name, monkeypatch, tmp_path):
    args = _full_args(name, "incremental_metrics", monkeypatch, tmp_path)
    assert args.max_epochs == 10_000  # the DASH authors' main.py cap: no experiment is censored
    assert (args.model, args.J, args.seeds, args.optimizers) == ("resnet18", 50, (0, 1, 2, 3, 4), ("sgd", "sam"))


def test_figure2_full_second_phase_is_300_epochs(monkeypatch, tmp_path):
    args = _full_args("figure2", "sweep", monkeypatch, tmp_path)
    module = _load("figure2")
    assert args.second_epochs == 300 and module.second_epochs(args) == 300
    args = _full_args("figure2", "sweep", monkeypatch, tmp_path, "--to-target")
    assert module.second_epochs(args) is None
    with pytest.raises(ValueError, match="--second-epochs must be an integer >= 1"):
        module.main(["--out", str(tmp_path / "never"), "--second-epochs", "0"])
    assert not (tmp_path / "never").exists()


def test_figure2_quick_trains_the_second_phase_a_fixed_number_of_epochs(tmp_path):
    _load("figure2").main(["--quick", "--no-progress", "--out", str(tmp_path), "--pretrain-epochs", "0", "3",
                           "--second-epochs", "4", "--seeds", "0"])
    folders = list((tmp_path / "cache" / "two_phase").iterdir())
    assert len(folders) == 1
    rows = pd.read_csv(folders[0] / "metrics.csv")
    second = rows[rows.experiment == 2]
    assert list(second.epochs) == [4, 4]  # exactly --second-epochs, whether the target was reached or not
    first = rows[(rows.experiment == 1) & (rows.pretrain_epochs == 3)]
    assert list(first.epochs) == [3]


def test_ash_adams_table1_full_uses_their_models_and_recipe(monkeypatch, tmp_path):
    args = _full_args("ash_adams_table1", "compute", monkeypatch, tmp_path)
    assert args.models == ("resnet18_ash", "mlp_ash", "logistic") and args.preset == "ash_adams"
    module = _load("ash_adams_table1")
    sgd, adam = module.run_fields(args, "sgd"), module.run_fields(args, "adam")
    # Ash & Adams, run.py: SGD without momentum at lr 1e-3, optimizer rebuilt every round, mean = std = 0.5.
    assert sgd["lr"] == 1e-3 and sgd["momentum"] == 0.0 and sgd["rebuild_optimizer"] is True
    assert sgd["norm_stats"] == "half" and sgd["normalize"] is True and sgd["target_accuracy"] == 0.99
    assert sgd["max_epochs"] == 10_000 and adam["lr"] == 1e-3 and adam["optimizer"] == "adam"
    args = _full_args("ash_adams_table1", "compute", monkeypatch, tmp_path, "--preset", "none")
    assert "momentum" not in module.run_fields(args, "sgd")  # the TrainConfig defaults


def test_ash_adams_table1_quick_runs_record_the_preset(tmp_path):
    _load("ash_adams_table1").main(["--quick", "--no-progress", "--out", str(tmp_path), "--optimizers", "sgd",
                                    "--models", "mlp_ash", "--seeds", "0"])
    configs = [json.loads(p.read_text()) for p in sorted((tmp_path / "cache" / "ash_adams").glob("*/config.json"))]
    assert len(configs) == 2 and {c["method"] for c in configs} == {"cold", "warm"}
    for c in configs:
        assert (c["model"], c["momentum"], c["rebuild_optimizer"], c["norm_stats"]) == ("mlp_ash", 0.0, True, "half")
        assert (c["lr"], c["target_accuracy"], c["J"]) == (0.1, 0.99, 2)


def test_l2_init_in_the_dash_paper_scripts_is_the_authors_formula(tmp_path):
    from dashsim.figures import parse_args
    from dashsim.nn.figures import add_incremental_flags, incremental_tasks, paper_method, probed_tasks, task
    from dashsim.nn.methods import L2Init
    from dashsim.nn.protocols import run_incremental

    assert paper_method("l2_init") == L2Init(variant="authors") and paper_method("dash").name == "dash"
    args = parse_args("doc", ["--quick", "--out", str(tmp_path), "--methods", "l2_init", "cold"],
                      add_incremental_flags)
    probed = probed_tasks(args, "probe")
    assert [t.kwargs["method"] for t in probed[:2]] == [L2Init(variant="authors"), paper_method("cold")]
    fields = {"model": "mlp", "width": 32, "method": "l2_init", "J": 3, "seeds": (0,), "subset": 300,
              "max_epochs": 10}
    (l2,) = incremental_tasks(args, "incremental", [fields])
    assert l2.kwargs["method"] == L2Init(variant="authors")
    # The formula is part of the run folder's key: the authors' runs never reuse a sum-of-squares folder.
    other = task(args, "incremental", fields, run_incremental, method=L2Init(), sweep={"method_params":
                                                                                       L2Init().hyperparameters()})
    assert other.config.out != l2.config.out and other.kwargs["method"].variant == "sum_of_squares"
    cold = incremental_tasks(args, "incremental", [{**fields, "method": "cold"}])[0]
    assert "method" not in cold.kwargs  # other methods keep their run folders and defaults
