"""The main-results figure helpers: Table 1 formatting, Figure 13's previous-data bookkeeping."""

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
    np.testing.assert_allclose([cold.final_test_accuracy_mean, cold.avg_test_accuracy_mean, cold.final_steps_mean, cold.avg_steps_mean],
                               [0.8, 0.675, 25.0, 18.0])
    np.testing.assert_allclose([cold.final_test_accuracy_std, cold.avg_test_accuracy_std, cold.final_steps_std, cold.avg_steps_std],
                               [0.2 / math.sqrt(2), 0.15 / math.sqrt(2), 10 / math.sqrt(2), 6 / math.sqrt(2)])
    assert cold.n_seeds == 2 and table.iloc[1].n_seeds == 1 and math.isnan(table.iloc[1].final_steps_std)
    shown = format_table1(table)
    assert list(shown.columns) == ["optimizer", "method", "test acc. final (%)", "test acc. avg (%)", "steps final", "steps avg"]
    assert shown.iloc[0].tolist() == ["sgd", "cold", "80.0 (14.1)", "67.5 (10.6)", "25 (7)", "18 (4)"]
    assert shown.iloc[2].tolist() == ["sam", "dash", "60.0 (-)", "50.0 (-)", "6 (-)", "7 (-)"]
    with pytest.raises(ValueError, match="by='lr'"):
        table1(_metrics(), by="lr")


@pytest.fixture(scope="module")
def figure13():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "paper_figures"))
    import figure13 as module

    return module


def test_figure13_previous_data_accuracy_bookkeeping(figure13):
    import torch

    from dashsim.nn import TrainConfig, load_dataset

    dataset = load_dataset("digits")
    config = TrainConfig(data="digits", model="mlp", width=16, method="warm", J=3, subset=150, max_epochs=5, batch_size=32, device="cpu")
    methods = ["warm", "shrink", "dash"]
    rows = pd.DataFrame(figure13.previous_data_accuracy(config, dataset, 0, methods, epochs=2))
    assert list(rows.columns) == list(figure13.COLUMNS)
    assert rows.method.tolist() == [m for m in methods for _ in range(3)] and rows.epoch.tolist() == [0, 1, 2] * 3
    assert (rows.n_previous == 100).all()  # old data = 2 of 3 chunks of 50
    assert rows.steps.tolist() == [0, 5, 10] * 3  # ceil(150 / 32) = 5 steps per epoch on all data
    # Epoch 0 of warm is the pretrained model itself: its accuracy on the old data, recomputed in NumPy.
    pre = figure13.pretrain(config, dataset, 0, torch.device("cpu"))
    learner, x, y = pre.learner, pre.x, pre.y
    old = torch.cat(pre.chunks[:2]).numpy()
    assert torch.equal(pre.old, torch.cat(pre.chunks[:2]))
    for column, training in (("previous_accuracy", False), ("previous_accuracy_batch_stats", True)):
        learner.model.train(training)
        with torch.no_grad():
            logits = learner.model(x[torch.from_numpy(old)]).numpy()  # batch statistics of the old data only
        expected = np.mean(logits.argmax(axis=1) == y.numpy()[old])
        assert rows[column].iloc[0] == pytest.approx(expected, abs=1e-12), column
    # Shrinking by lam changes the old-data accuracy at once; every value is a count over 100 images.
    assert rows.previous_accuracy.iloc[3] != rows.previous_accuracy.iloc[0]
    np.testing.assert_allclose(rows.previous_accuracy * 100, np.round(rows.previous_accuracy * 100), atol=1e-9)
    # The batch-statistics probe must not move the running statistics the eval-mode numbers use.
    learner.model.eval()
    running = {k: v.clone() for k, v in learner.model.state_dict().items()}
    figure13.batch_stats_accuracy(learner.model, x, y)
    assert not learner.model.training
    assert all(torch.equal(v, learner.model.state_dict()[k]) for k, v in running.items())
    # A record does not depend on how many epochs follow: one epoch gives the first two rows of each method.
    short = pd.DataFrame(figure13.previous_data_accuracy(config, dataset, 0, methods, epochs=1))
    pd.testing.assert_frame_equal(short, rows[rows.epoch <= 1].reset_index(drop=True))


def test_claim_check_reads_each_part_of_the_claim():
    from dashsim.nn.tables import PAPER_FIGURE1, claim_check

    paper = PAPER_FIGURE1.rename(columns={"final_test_accuracy": "final_test_accuracy_mean", "avg_steps": "avg_steps_mean"})
    ours = paper.assign(optimizer="sgd")
    flipped = ours.assign(optimizer="sam", final_test_accuracy_mean=[0.5, 0.6, 0.2, 0.45])  # cold, warm, sp, dash
    checks = claim_check(pd.concat([ours, flipped], ignore_index=True))
    assert checks.optimizer.tolist() == ["sgd", "sam"]
    # The paper's own Figure 1 numbers satisfy every part of the claim.
    assert checks.iloc[0][["dash_ge_cold", "cold_gt_warm", "dash_fewer_steps_than_cold", "sp_between"]].tolist() == [True] * 4
    assert checks.iloc[1][["dash_ge_cold", "cold_gt_warm", "dash_fewer_steps_than_cold", "sp_between"]].tolist() == [False, False, True, False]
    assert checks.iloc[1].dash_accuracy == 0.45 and checks.iloc[0].cold_steps == 17_500
    with pytest.raises(ValueError, match="lacks methods"):
        claim_check(ours[ours.method != "sp"])
