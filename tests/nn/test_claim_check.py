"""dashsim.nn.tables.claim_check: each claim's paired per-seed evidence and verdict, on frames whose answer is known."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from dashsim.nn.tables import CLAIM_COLUMNS, CLAIMS, claim_check


def _rows(final: dict[str, list[float]], steps: dict[str, list[float]], *, J: int = 2) -> pd.DataFrame:
    """Engine-like rows: per method and seed, J experiments; the last has test accuracy ``final``, all ``steps``."""
    rows = []
    for method, accuracies in final.items():
        for seed, acc in enumerate(accuracies):
            for j in range(1, J + 1):
                rows.append({"dataset": "digits", "model": "mlp", "method": method, "seed": seed, "experiment": j,
                             "test_accuracy": acc if j == J else 0.1, "steps": steps[method][seed],
                             "converged": True})
    return pd.DataFrame(rows)


# The paper's ordering, five seeds, clear margins: every claim holds.
HOLDS = _rows({"cold": [0.80, 0.81, 0.79, 0.80, 0.82], "warm": [0.70, 0.72, 0.69, 0.71, 0.70],
               "sp": [0.78, 0.79, 0.77, 0.78, 0.80], "dash": [0.85, 0.86, 0.84, 0.85, 0.88]},
              {"cold": [100, 110, 105, 100, 120], "warm": [10] * 5, "sp": [60] * 5, "dash": [50, 52, 48, 55, 50]})


def test_every_claim_holds_on_the_papers_ordering():
    table = claim_check(HOLDS)
    assert list(table.columns) == list(CLAIM_COLUMNS)
    assert table.claim.tolist() == [c[0] for c in CLAIMS]
    assert table.verdict.tolist() == ["holds"] * 5 and (table.n_seeds == 5).all()


def test_mean_and_standard_error_by_hand():
    """DASH - cold per seed: 0.01, 0.02, 0.03 -> mean 0.02, sample std 0.01, se 0.01 / sqrt(3)."""
    rows = _rows({"cold": [0.5, 0.5, 0.5], "warm": [0.4] * 3, "sp": [0.45] * 3, "dash": [0.51, 0.52, 0.53]},
                 {"cold": [10, 10, 10], "warm": [1] * 3, "sp": [5] * 3, "dash": [4, 6, 8]})
    row = claim_check(rows).set_index("claim").loc["DASH >= cold"]
    assert row.difference_mean == pytest.approx(0.02) and row.difference_se == pytest.approx(0.01 / math.sqrt(3))
    assert (row.method_mean, row.versus_mean) == (pytest.approx(0.52), pytest.approx(0.5))
    # mean 0.02 > 2 * 0.00577: holds. Steps: cold - dash = 6, 4, 2 -> dash - cold mean -4, se 2/sqrt(3): holds.
    assert row.verdict == "holds"
    steps = claim_check(rows).set_index("claim").loc["DASH fewer steps than cold"]
    assert steps.difference_mean == pytest.approx(-4.0) and steps.difference_se == pytest.approx(2 / math.sqrt(3))
    assert steps.verdict == "holds"


def test_reversed_ordering_fails_and_noise_is_inconclusive():
    reversed_ = _rows({"cold": [0.70, 0.71, 0.70, 0.72], "warm": [0.80, 0.81, 0.80, 0.82],
                       "sp": [0.68, 0.69, 0.68, 0.70], "dash": [0.65, 0.66, 0.64, 0.66]},
                      {"cold": [10, 11, 10, 12], "warm": [5] * 4, "sp": [9] * 4, "dash": [20, 21, 22, 20]})
    verdicts = claim_check(reversed_).set_index("claim").verdict
    assert verdicts.tolist() == ["fails"] * 5
    # DASH = cold +- 0.01 alternating: the mean difference is 0, inside any band.
    noisy = _rows({"cold": [0.8] * 4, "warm": [0.7] * 4, "sp": [0.75] * 4, "dash": [0.81, 0.79, 0.81, 0.79]},
                  {"cold": [10] * 4, "warm": [1] * 4, "sp": [5] * 4, "dash": [9, 11, 9, 11]})
    verdicts = claim_check(noisy).set_index("claim").verdict
    assert verdicts["DASH >= cold"] == "inconclusive" and verdicts["DASH fewer steps than cold"] == "inconclusive"
    # The same -0.1 on every seed: no spread (se 0), so any difference in the claimed direction holds.
    assert verdicts["warm < cold"] == "holds"


def test_one_seed_is_inconclusive_and_unpaired_seeds_are_left_out():
    one = HOLDS[HOLDS.seed == 0]
    table = claim_check(one)
    assert table.verdict.tolist() == ["inconclusive"] * 5 and (table.n_seeds == 1).all()
    assert table.difference_se.isna().all()
    # DASH ran seeds 0-2 only: its comparisons pair 3 seeds; the others keep 5.
    partial = HOLDS[(HOLDS.method != "dash") | (HOLDS.seed < 3)]
    n = claim_check(partial).set_index("claim").n_seeds
    assert n["DASH >= cold"] == 3 and n["warm < cold"] == 5 and n["S&P between: S&P <= DASH"] == 3


def test_groups_and_run_folders(tmp_path):
    flipped = HOLDS.assign(optimizer="sam")
    flipped.loc[flipped.method == "warm", "test_accuracy"] = 0.95
    both = pd.concat([HOLDS.assign(optimizer="sgd"), flipped], ignore_index=True)
    table = claim_check(both)
    assert table.optimizer.tolist() == ["sgd"] * 5 + ["sam"] * 5
    assert table.set_index(["optimizer", "claim"]).verdict[("sam", "warm < cold")] == "fails"
    # One run folder per method, as the engine writes them.
    folders = []
    for method, rows in HOLDS.groupby("method"):
        folder = tmp_path / method
        folder.mkdir()
        rows.to_csv(folder / "metrics.csv", index=False)
        folders.append(folder)
    from_folders = claim_check(folders)
    pd.testing.assert_frame_equal(from_folders, claim_check(HOLDS))
    with pytest.raises(ValueError, match="has no metrics.csv"):
        claim_check(tmp_path / "missing")


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"lacks methods \['sp'\]"):
        claim_check(HOLDS[HOLDS.method != "sp"])
    with pytest.raises(ValueError, match=r"missing columns \['steps'\]"):
        claim_check(HOLDS.drop(columns="steps"))
    with pytest.raises(ValueError, match="mixes datasets"):
        claim_check(pd.concat([HOLDS, HOLDS.assign(dataset="cifar10", seed=HOLDS.seed + 10)]))
    with pytest.raises(ValueError, match="z must be a number > 0"):
        claim_check(HOLDS, z=0)
