"""``dashsim sweep`` and ``dashsim runs``: a spec end to end, the listing, the CSV, and usage errors before any run."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from dashsim.cli import main

SPEC = """
out = "{out}"
[base]
data = "digits"
model = "mlp"
width = 8
J = 2
max_epochs = 2
subset = 300
test_subset = 200

[grid]
method = ["cold", "dash"]
seed = [0]

[grid.dash]
lam = [0.3]
"""


def test_sweep_runs_lists_and_collects(tmp_path, capsys):
    out = tmp_path / "sweep"
    spec = tmp_path / "tiny.toml"
    spec.write_text(SPEC.format(out=out))
    assert main(["sweep", str(spec), "--list"]) == 0
    listed = capsys.readouterr().out
    assert "cold_seed0_" in listed and "dash_lam0.3_seed0_" in listed and not out.exists()
    assert main(["sweep", str(spec), "-q"]) == 0
    printed = capsys.readouterr().out
    table = pd.read_csv(out / "collected.csv")
    assert len(table) == 2 * 2 and set(table["method"]) == {"cold", "dash"}
    assert "2 runs; means and stds over seeds" in printed and "final_test_accuracy_mean" in printed
    assert main(["runs", str(out), "--collect", str(tmp_path / "all.csv")]) == 0
    listing = capsys.readouterr().out
    assert listing.count(" done ") == 2 and "2/2" in listing and "lam=0.3" in listing
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "all.csv"), table)
    # A second invocation finds everything finished and only collects again.
    assert main(["sweep", str(spec), "--collect"]) == 0
    assert "2 runs" in capsys.readouterr().out


def test_runs_shows_partial_and_failed_runs(tmp_path, capsys):
    from dashsim.nn import TrainConfig
    from dashsim.nn.engine import PROTOCOLS, run

    config = TrainConfig(data="digits", model="mlp", width=8, J=2, max_epochs=2, subset=300, method="warm",
                         seeds=(0,), out=str(tmp_path / "train" / "warm"))
    run(config, PROTOCOLS["incremental"]())
    metrics = tmp_path / "train" / "warm" / "metrics.csv"
    metrics.write_text("\n".join(metrics.read_text().splitlines()[:2]) + "\n")  # as if stopped after round 1
    (tmp_path / "train" / "broken").mkdir()
    (tmp_path / "train" / "broken" / "config.json").write_text("{not json")
    assert main(["runs", str(tmp_path / "train")]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert "unreadable" in listing[1] and listing[1].startswith("broken")
    assert "partial" in listing[2] and "1/2" in listing[2]


@pytest.mark.parametrize("extra, body, message", [
    ([], "[base]\ncolour = 1\n", "base.colour: unknown setting"),
    ([], "[grid]\nmethod = []\n", "grid.method: an axis needs at least one value"),
    ([], '[grid]\nmethod = ["cold"]\n[grid.cold]\nlam = [0.1]\n',
     "grid.cold.lam: method 'cold' has no hyper-parameter"),
    (["--workers", "0"], "[base]\nJ = 2\n", "argument --workers: must be an integer >= 1, got '0'"),
    (["--executor", "local", "--workers", "2"], '[base]\ndata = "digits"\nmodel = "mlp"\n',
     "workers must be 1 .* for the local executor"),
])
def test_usage_errors_before_any_run(tmp_path, capsys, extra, body, message):
    spec = tmp_path / "bad.toml"
    spec.write_text(f'out = "{tmp_path / "never"}"\n' + body)
    with pytest.raises(SystemExit) as info:
        main(["sweep", str(spec), *extra])
    assert info.value.code == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "never").exists()


def test_unreachable_address_is_an_error_before_any_run(tmp_path, capsys):
    pytest.importorskip("ray")
    spec = tmp_path / "s.toml"
    spec.write_text(f'out = "{tmp_path / "never"}"\n[base]\ndata = "digits"\nmodel = "mlp"\n')
    assert main(["sweep", str(spec), "--executor", "ray", "--address", "127.0.0.1:1"]) == 1
    assert "cannot reach the Ray cluster at address '127.0.0.1:1'" in capsys.readouterr().err
    assert not (tmp_path / "never").exists()
