"""dashsim.nn.tables: runs of several datasets or models in one table1 group are an error, not duplicate rows."""

from __future__ import annotations

import pandas as pd
import pytest

from dashsim.nn.tables import claim_check, table1


def _runs(dataset: str, model: str, accuracy: dict[str, float]) -> pd.DataFrame:
    rows = [("sgd", method, seed, j, acc - 0.01 * seed, 10 * j) for method, acc in accuracy.items()
            for seed in (0, 1) for j in (1, 2)]
    df = pd.DataFrame(rows, columns=["optimizer", "method", "seed", "experiment", "test_accuracy", "steps"])
    return df.assign(dataset=dataset, model=model, converged=True)


ACC = {"cold": 0.6, "warm": 0.5, "sp": 0.6, "dash": 0.7}


@pytest.mark.parametrize("column", ["dataset", "model"])
def test_table1_refuses_two_datasets_or_models_in_one_group(column):
    other = {"dataset": ("cifar10", "mlp"), "model": ("digits", "resnet18")}[column]
    metrics = pd.concat([_runs("digits", "mlp", ACC), _runs(*other, ACC)], ignore_index=True)
    mixed = {"dataset": r"\['digits', 'cifar10'\]", "model": r"\['mlp', 'resnet18'\]"}[column]
    with pytest.raises(ValueError, match=f"optimizer='sgd' mixes {column}s {mixed}.*pass by='{column}'"):
        table1(metrics)
    # Split by the mixed column instead: one labelled row per (value, method), and the claim reads each.
    table = table1(metrics, by=column)
    assert len(table) == 8 and not table.duplicated([column, "method"]).any()
    checks = claim_check(table, by=column)
    assert len(checks) == 2 and checks["dash_ge_cold"].all() and checks["cold_gt_warm"].all()


def test_table1_one_dataset_and_model_per_group_still_works():
    metrics = pd.concat([_runs("digits", "mlp", ACC).assign(optimizer="sgd"),
                         _runs("digits", "mlp", ACC).assign(optimizer="sam")], ignore_index=True)
    table = table1(metrics)
    assert list(zip(table.optimizer, table.method))[:2] == [("sgd", "cold"), ("sgd", "warm")] and len(table) == 8
    assert table["final_test_accuracy_mean"].tolist()[:4] == pytest.approx([0.595, 0.495, 0.595, 0.695])
