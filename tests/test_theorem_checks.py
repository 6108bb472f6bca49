"""experiments/theorem_checks.py in a quick mode, through its main(argv)."""

import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest

from dashsim.sim.theory import CLAIM_NAMES

_SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "theorem_checks.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("theorem_checks", _SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_run_writes_tables(script, tmp_path, capsys):
    argv = ["--instances", "200", "--dense-instances", "100", "--broken-instances", "40", "--max-chunks", "10",
            "--workers", "1", "--shrink-seconds", "1", "--out", str(tmp_path)]
    assert script.main(argv) == 0
    out = capsys.readouterr().out
    assert "Valid instances" in out and "breaking one assumption" in out
    valid = pd.read_csv(tmp_path / "valid_instances.csv")
    assert valid["claim"].tolist() == list(CLAIM_NAMES)
    assert (valid["instances"] == 200).all()
    assert (valid["held"] + valid["failed"] == valid["checked"]).all()
    by_claim = valid.set_index("claim")
    # Facts that hold on every valid instance (proved in the paper and re-derived in the report).
    for claim in ("L_warm^(J) = G", "T_cold = n J (J+1)/2", "L_cold = L_ideal", "T_warm < T_cold"):
        assert by_claim.loc[claim, "failed"] == 0
    # Under Assumption 3.3(ii) nothing is well-classified after experiment 1, so ideal and cold
    # both pay 3n at J = 2: the strict T_ideal < T_cold fails on every valid instance.
    assert by_claim.loc["T_ideal < T_cold", "failed"] == 200
    broken = pd.read_csv(tmp_path / "broken_instances.csv")
    assert broken.shape == (len(CLAIM_NAMES), 5)
    cex = json.loads((tmp_path / "counterexamples.json").read_text())
    assert "T_ideal < T_cold" in {c["claim"] for c in cex}
    for c in cex:
        assert c["claim"] in c["description"] and sum(c["counts"]) >= 1


def test_bad_arguments(script, tmp_path):
    with pytest.raises(SystemExit):
        script.main(["--instances", "0", "--out", str(tmp_path)])
    with pytest.raises(SystemExit):
        script.main(["--unknown-flag"])


def test_exhaustive_mode_runs_the_theorems_command(script, capsys):
    assert script.main(["--exhaustive", "--C", "1", "--K", "2", "--max-count", "2", "--J", "3", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["bound"] == {"num_classes": 1, "num_features": 2, "max_count": 2, "max_chunks": 3, "min_count": 1,
                             "min_tau": 1}
    assert [c["claim"] for c in data["claims"]] == list(CLAIM_NAMES)
