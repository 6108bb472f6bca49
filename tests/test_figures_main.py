"""The main-results table helpers: Table 1 formatting and the claim check."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dashsim.nn.tables import format_mean_std, format_table1, table1


def _metrics() -> pd.DataFrame:
    # (optimizer, method, seed, experiment, test_accuracy, steps), rows deliberately out of order.
    rows = [
        ("sgd", "cold", 0, 2, 0.7, 20), ("sgd", "cold", 0, 1, 0.5, 10),
        ("sgd", "cold", 1, 1, 0.6, 12), ("sgd", "cold", 1, 2, 0.9, 30),
        ("sgd", "dash", 0, 1, 0.5, 10), ("sgd", "dash", 0, 2, 0.8, 4),
        ("sam", "dash", 0, 1, 0.4, 8), ("sam", "dash", 0, 2, 0.6, 6),
    ]
    df = pd.DataFrame(rows, columns=["optimizer", "method", "seed", "experiment", "test_accuracy", "steps"])
    return df.assign(dataset="digits", model="mlp", converged=True)


def test_format_mean_std():
    assert format_mean_std(0.4613, 0.0052, scale=100) == "46.1 (0.5)"
    assert format_mean_std(8300.4, 612.0, decimals=0) == "8300 (612)"
    assert format_mean_std(0.5, math.nan, scale=100, decimals=2) == "50.00 (-)"
    with pytest.raises(ValueError, match="decimals"):
        format_mean_std(1.0, 0.0, decimals=-1)


def test_table1_against_a_hand_computed_case():
    table = table1(_metrics())
    assert list(zip(table.optimizer, table.method)) == [("sgd", "cold"), ("sgd", "dash"), ("sam", "dash")]
    cold = table.iloc[0]
    # Seed 0: final 0.7, avg 0.6, steps 20 / 15; seed 1: final 0.9, avg 0.75, steps 30 / 21.
    np.testing.assert_allclose([cold.final_test_accuracy_mean, cold.avg_test_accuracy_mean, cold.final_steps_mean,
                                cold.avg_steps_mean],
                               [0.8, 0.675, 25.0, 18.0])
    np.testing.assert_allclose([cold.final_test_accuracy_std, cold.avg_test_accuracy_std, cold.final_steps_std,
                                cold.avg_steps_std],
                               [0.2 / math.sqrt(2), 0.15 / math.sqrt(2), 10 / math.sqrt(2), 6 / math.sqrt(2)])
    assert cold.n_seeds == 2 and table.iloc[1].n_seeds == 1 and math.isnan(table.iloc[1].final_steps_std)
    shown = format_table1(table)
    assert list(shown.columns) == ["optimizer", "method", "test acc. final (%)", "test acc. avg (%)", "steps final",
                                   "steps avg"]
    assert shown.iloc[0].tolist() == ["sgd", "cold", "80.0 (14.1)", "67.5 (10.6)", "25 (7)", "18 (4)"]
    assert shown.iloc[2].tolist() == ["sam", "dash", "60.0 (-)", "50.0 (-)", "6 (-)", "7 (-)"]
    with pytest.raises(ValueError, match="by='lr'"):
        table1(_metrics(), by="lr")


def test_claim_check_reads_each_part_of_the_claim():
    from dashsim.nn.tables import PAPER_FIGURE1, claim_check

    paper = PAPER_FIGURE1.rename(columns={"final_test_accuracy": "final_test_accuracy_mean",
                                          "avg_steps": "avg_steps_mean"})
    ours = paper.assign(optimizer="sgd")
    flipped = ours.assign(optimizer="sam", final_test_accuracy_mean=[0.5, 0.6, 0.2, 0.45])  # cold, warm, sp, dash
    checks = claim_check(pd.concat([ours, flipped], ignore_index=True))
    assert checks.optimizer.tolist() == ["sgd", "sam"]
    # The paper's own Figure 1 numbers satisfy every part of the claim.
    parts = ["dash_ge_cold", "cold_gt_warm", "dash_fewer_steps_than_cold", "sp_between"]
    assert checks.iloc[0][parts].tolist() == [True] * 4
    assert checks.iloc[1][parts].tolist() == [False, False, True, False]
    assert checks.iloc[1].dash_accuracy == 0.45 and checks.iloc[0].cold_steps == 17_500
    with pytest.raises(ValueError, match="lacks methods"):
        claim_check(ours[ours.method != "sp"])


# --- the figure scripts' library: dashsim.figures, dashsim.nn.figures ---------------------------------------

def test_config_flags_take_type_help_and_full_default_from_the_dataclass():
    import argparse
    import dataclasses

    from dashsim.figures import ModeDefault, add_config_flags, parse_args
    from dashsim.nn import TrainConfig

    parser = argparse.ArgumentParser()
    add_config_flags(parser, TrainConfig, ["max_epochs", "seeds", "model"], full={"seeds": (0, 1, 2)},
                     quick={"max_epochs": 7, "model": "mlp"})
    text = " ".join(parser.format_help().split())
    field_default = {f.name: f.default for f in dataclasses.fields(TrainConfig)}["max_epochs"]
    help_text = "epoch cap per experiment (hitting it is recorded as not converged)"
    assert f"{help_text} (full: {field_default}; quick: 7)" in text
    assert "(full: 0 1 2)" in text and "(full: resnet18; quick: mlp)" in text
    assert parser.parse_args([]).max_epochs == ModeDefault(field_default, 7)

    def flags(p):
        add_config_flags(p, TrainConfig, ["max_epochs", "seeds", "model"], full={"seeds": (0, 1, 2)},
                         quick={"max_epochs": 7, "model": "mlp"})

    full = parse_args("doc", ["--out", "x", "--seeds", "4", "5"], flags)
    assert (full.max_epochs, full.seeds, full.model) == (field_default, (4, 5), "resnet18")
    quick = parse_args("doc", ["--out", "x", "--quick", "--max-epochs", "3"], flags)
    assert (quick.max_epochs, quick.seeds, quick.model) == (3, (0, 1, 2), "mlp")
    with pytest.raises(SystemExit):
        parse_args("doc", ["--out", "x", "--model", "no-such-net"], flags)  # choices come from the registry
    with pytest.raises(ValueError, match="has no fields \\['epochs'\\]"):
        add_config_flags(argparse.ArgumentParser(), TrainConfig, ["epochs"])


def test_mode_flag_help_shows_both_defaults_once():
    import argparse

    from dashsim.figures import mode_flag

    parser = argparse.ArgumentParser()
    mode_flag(parser, "--alphas", type=float, nargs="+", full=(0.1, 0.5), quick=(0.3,), help="DASH alpha values")
    mode_flag(parser, "--lam", type=float, full=0.3, help="shrink")
    text = " ".join(parser.format_help().split())
    assert "DASH alpha values (full: 0.1 0.5; quick: 0.3)" in text and "shrink (full: 0.3)" in text


def test_runner_flags_are_checked_before_anything_runs(tmp_path):
    from dashsim.figures import LocalRunner, make_runner, parse_args
    from dashsim.sweep import LocalExecutor, ProcessExecutor

    out = tmp_path / "never"
    args = parse_args("doc", ["--out", str(out)])
    assert isinstance(args.runner, LocalExecutor) and LocalRunner is LocalExecutor
    assert args.runner.map(lambda x: x * x, [3, 1, 2]) == [9, 1, 4]
    args = parse_args("doc", ["--out", str(out), "--executor", "processes", "--workers", "2"])
    assert isinstance(args.runner, ProcessExecutor) and args.runner.workers == 2 and args.runner._pool is None
    args.runner.close()
    for flags, message in (({"executor": "local", "workers": 0}, "--workers must be an integer >= 1, got 0"),
                           ({"executor": "processes", "workers": 0}, "--workers must be an integer >= 1, got 0"),
                           ({"executor": "local", "workers": 2}, "--workers needs --executor processes or ray"),
                           ({"executor": "processes", "address": "h:1"}, "--address .* needs --executor ray"),
                           ({"executor": "slurm"}, "--executor must be one of local, processes, ray")):
        with pytest.raises(ValueError, match=message):
            make_runner(argparse_namespace(**{"workers": None, "address": None, **flags}))
    for bad in (["--workers", "0"], ["--workers", "2"], ["--executor", "processes", "--address", "h:1"],
                ["--executor", "ray", "--address", "127.0.0.1:1"]):  # nothing listens on port 1
        with pytest.raises(SystemExit):
            parse_args("doc", ["--out", str(out), *bad])
    assert not out.exists()


def argparse_namespace(**values):
    import argparse

    return argparse.Namespace(**values)


def test_run_folder_is_the_hash_of_the_settings(tmp_path):
    import argparse
    import hashlib

    from dashsim.figures import run_dir

    args = argparse.Namespace(cache=tmp_path / "cache")
    config = {"data": "digits", "seeds": (0,), "model": "mlp", "max_epochs": 5}
    expected = hashlib.sha1(b'{"data": "digits", "max_epochs": 5, "model": "mlp", "seeds": [0]}').hexdigest()[:12]
    assert run_dir(args, "incremental", config) == tmp_path / "cache" / "incremental" / expected
    assert run_dir(args, "incremental", dict(reversed(config.items()))) == run_dir(args, "incremental", config)
    assert run_dir(args, "incremental", {**config, "max_epochs": 6}) != run_dir(args, "incremental", config)


def test_lr_flag_reaches_the_run_and_its_key_only_when_given(tmp_path):
    from dashsim.figures import parse_args
    from dashsim.nn.figures import add_incremental_flags, incremental_grid, probed_tasks, setting_line

    def flags(parser):
        add_incremental_flags(parser, optimizers=True)

    given = parse_args("doc", ["--quick", "--out", str(tmp_path), "--lr", "0.001"], flags)
    default = parse_args("doc", ["--quick", "--out", str(tmp_path)], flags)
    # figure1 / table1's grid and the probed scripts' runs.
    assert all(run["lr"] == 0.001 for run in incremental_grid(given))
    assert not any("lr" in run for run in incremental_grid(default))
    (with_lr, *_), (without, *_) = probed_tasks(given, "x"), probed_tasks(default, "x")
    assert with_lr.config.lr == 0.001 and without.config.lr is None
    assert without.config.resolved_lr == 0.01 and with_lr.config.out != without.config.out
    assert "lr 0.001" in setting_line(given, "J=3") and " lr " not in setting_line(default, "J=3")


def test_titles_wrap_to_the_width_of_their_figure_axes_or_subfigure():
    from matplotlib.figure import Figure

    from dashsim.figures import fit_title

    title = "Figure 7: " + ", ".join(f"setting {i}" for i in range(30))
    for width in (5.4, 12.0):
        fig = Figure(figsize=(width, 3))
        left, right = fig.subfigures(1, 2)
        ax = right.subplots()
        fit_title(fig, title, fontsize=9)
        fit_title(left, title, fontsize=9)
        fit_title(ax, title, fontsize=9)
        fig.canvas.draw()
        texts = [t for t in fig.findobj(lambda a: hasattr(a, "get_text") and a.get_text().startswith("Figure 7"))]
        assert len(texts) == 3
        for text in texts:
            box = text.get_window_extent()
            assert box.x0 >= 0 and box.x1 <= fig.bbox.x1  # never runs off the figure
            assert " ".join(text.get_text().split("\n")) == title
        lines = sorted(text.get_text().count("\n") for text in texts)
        assert lines[0] < lines[1]  # a half-width subfigure or axes wraps more than the whole figure


