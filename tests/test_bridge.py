"""dashsim.bridge: framework data as real inputs, the simulator's quantities measured on networks, both side by side."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import dashsim
from dashsim.bridge import (COLUMNS, BridgeConfig, correct, embed, experiment, feature_correct, feature_scores, jaccard,
                            learned_features, make_embedding, make_inputs, margins, memorized, nonzero_gradient,
                            point_losses, run_bridge, run_bridge_sweep, sample_bridge_data)
from dashsim.nn import engine

TINY = BridgeConfig(C=2, K=6, n_per_chunk=20, J=3, p_max=0.6, gamma=2.0, tau=2, n_test=40, dim=32, width=16,
                    max_epochs=30, methods=("cold", "warm", "dash"), seeds=(0,), device="cpu")


def _random_points(rng, n, C, K):
    return rng.random((n, K)) < 0.5, rng.integers(0, C, n)


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(5))
def test_embed_matches_a_plain_transcription_of_the_rule(seed):
    rng = np.random.default_rng(seed)
    C, K, n = int(rng.integers(1, 4)), int(rng.integers(1, 6)), int(rng.integers(1, 30))
    features, labels = _random_points(rng, n, C, K)
    a, b = float(rng.uniform(0.5, 2)), float(rng.uniform(2, 5))
    emb = make_embedding(C, K, dim=C * K + int(rng.integers(1, 20)), feature_strength=a, noise_strength=b, seed=seed)
    out = embed(emb, features, labels, seed=seed + 100)
    assert out.x.shape == (n, emb.dim) and out.x.dtype == torch.float32 and out.y.dtype == torch.int64
    for i in range(n):
        expected = sum((a * emb.patterns[labels[i], k] for k in range(K) if features[i, k]), np.zeros(emb.dim))
        np.testing.assert_allclose((out.x[i] - out.noise[i]).numpy(), expected, atol=1e-5)
    np.testing.assert_array_equal(out.y.numpy(), labels)


def test_strengths_orthogonality_and_unshared_noise():
    rng = np.random.default_rng(0)
    features, labels = _random_points(rng, 200, 3, 5)
    emb, train, test = make_inputs(features, labels, test_features=features[:50], test_labels=labels[:50], dim=128,
                                   feature_strength=1.0, noise_strength=2.5, seed=3)
    flat = emb.flat_patterns()
    np.testing.assert_allclose(flat @ flat.T, np.eye(15), atol=1e-12)  # unit-norm, pairwise orthogonal features
    noise = train.noise.double().numpy()
    norms = np.linalg.norm(noise, axis=1)
    np.testing.assert_allclose(norms, 2.5, rtol=1e-6)
    assert (norms > emb.feature_strength * np.linalg.norm(flat, axis=1).max()).all()  # noise beats any one feature
    assert np.abs(noise @ flat.T).max() < 1e-5  # orthogonal to every feature
    cos = (noise @ noise.T) / np.outer(norms, norms)
    np.fill_diagonal(cos, 0)
    assert np.abs(cos).max() < 0.5  # independent per point: no two points share noise
    # The test set: same patterns (same features give the same noise-free input), other noise.
    np.testing.assert_allclose((test.x - test.noise).numpy(), (train.x - train.noise)[:50].numpy(), atol=1e-6)
    assert float((test.noise * train.noise[:50]).sum(1).abs().max()) < 0.5 * 2.5 ** 2


def test_image_patterns_are_local_disjoint_patches():
    emb = make_embedding(2, 3, kind="image", image_size=16, channels=3, patch_size=4, seed=1)
    assert emb.shape == (3, 16, 16) and emb.patterns.shape == (2, 3, 3, 16, 16)
    support = np.abs(emb.patterns).sum(axis=2) > 0  # (C, K, 16, 16)
    assert (support.reshape(6, -1).sum(axis=1) == 16).all()  # one 4x4 cell each
    assert support.reshape(6, -1).sum(axis=0).max() == 1  # no two features share a pixel
    rng = np.random.default_rng(1)
    features, labels = _random_points(rng, 10, 2, 3)
    out = embed(emb, features, labels, seed=0)
    assert out.x.shape == (10, 3, 16, 16)
    assert np.abs(out.noise.reshape(10, -1).double().numpy() @ emb.flat_patterns().T).max() < 1e-5


def test_bad_generator_parameters_are_clear_errors():
    f, y = np.zeros((4, 3), bool), np.zeros(4, int)
    with pytest.raises(ValueError, match="dim must be > C\\*K = 6"):
        make_embedding(2, 3, dim=6)
    with pytest.raises(ValueError, match="kind"):
        make_embedding(2, 3, kind="audio")
    with pytest.raises(ValueError, match="noise_strength"):
        make_embedding(2, 3, noise_strength=0.0)
    with pytest.raises(ValueError, match="feature_strength"):
        make_embedding(2, 3, feature_strength=float("nan"))
    with pytest.raises(ValueError, match="patch_size"):
        make_embedding(2, 8, kind="image", image_size=16, patch_size=4)
    emb = make_embedding(2, 3)
    with pytest.raises(ValueError, match="K=3"):
        embed(emb, np.zeros((4, 2), bool), y)
    with pytest.raises(ValueError, match="labels must be in"):
        embed(emb, f, np.full(4, 2))
    with pytest.raises(ValueError, match="binary"):
        embed(emb, np.full((4, 3), 2), y)
    with pytest.raises(ValueError, match="together"):
        make_inputs(f, y, test_features=f)


# --------------------------------------------------------------------------------------------
# Measurements on hand-made networks
# --------------------------------------------------------------------------------------------
def _linear_reading(emb, learned, weight=2.0, extra_rows=None, bias=None):
    """f(x) = W x + b with W[c] = weight * sum of class c's learned patterns (plus extra rows)."""
    C, K = learned.shape
    W = weight * np.einsum("ck,ckd->cd", learned.astype(float), emb.patterns.reshape(C, K, -1))
    if extra_rows is not None:
        W = W + extra_rows
    model = nn.Linear(emb.dim, C, bias=True)
    with torch.no_grad():
        model.weight.copy_(torch.from_numpy(W))
        model.bias.copy_(torch.zeros(C) if bias is None else torch.as_tensor(bias))
    return model


@pytest.mark.parametrize("seed", range(4))
def test_a_linear_model_reading_exactly_some_patterns_has_learned_exactly_those(seed):
    rng = np.random.default_rng(seed)
    C, K = 3, 4
    emb = make_embedding(C, K, dim=40, feature_strength=0.7, seed=seed)
    learned = rng.random((C, K)) < 0.5
    model = _linear_reading(emb, learned, weight=2.0, bias=rng.normal(size=C))
    scores = feature_scores(model, emb)
    # Pure pattern: its class's logit rises by 2 * 0.7, the others stay, so the margin rises by 1.4.
    np.testing.assert_allclose(scores.scores, np.where(learned, 1.4, 0.0), atol=1e-5)
    assert scores.null_rms < 1e-5  # random patterns are orthogonal to every row of W
    np.testing.assert_array_equal(learned_features(model, emb), learned)


@pytest.mark.parametrize("seed", range(3))
def test_feature_scores_match_a_direct_loop_on_a_random_mlp(seed):
    torch.manual_seed(seed)
    emb = make_embedding(3, 2, dim=16, seed=seed, feature_strength=1.3)
    model = nn.Sequential(nn.Linear(16, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    model.train()
    result = feature_scores(model, emb, n_null=5, seed=7)
    assert model.training  # mode restored
    model.eval()
    with torch.no_grad():
        def m(x, c):
            z = model(torch.as_tensor(x, dtype=torch.float32)[None])[0].double().numpy()
            return z[c] - max(z[i] for i in range(3) if i != c)

        zero = np.zeros(16)
        for c in range(3):
            for k in range(2):
                assert result.scores[c, k] == pytest.approx(m(1.3 * emb.patterns[c, k], c) - m(zero, c), abs=1e-5)
        u = embed(emb, np.zeros((5, 2), bool), np.zeros(5, int), seed=7).noise.double().numpy() / emb.noise_strength
        null = [m(1.3 * u[i], c) - m(zero, c) for i in range(5) for c in range(3)]
    assert result.null_rms == pytest.approx(np.sqrt(np.mean(np.square(null))), abs=1e-5)
    with pytest.raises(ValueError, match="threshold"):
        learned_features(model, emb, threshold=-1)


def test_losses_margins_and_nonzero_gradient_on_known_logits():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 5.0, 1.0], [1.0, 1.0, 1.0]])
    np.testing.assert_allclose(margins(logits, torch.tensor([0, 1, 2])).numpy(), [2.0, 4.0, 0.0])
    # A "network" that returns fixed logits per input row (identity on 3-d inputs).
    model = nn.Linear(3, 3, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.eye(3))
    y = torch.tensor([0, 1, 2])
    expected = -np.log(np.exp(logits.numpy())[np.arange(3), y.numpy()] / np.exp(logits.numpy()).sum(1))
    np.testing.assert_allclose(point_losses(model, logits, y).numpy(), expected, rtol=1e-5)
    # Losses are about 0.17, 0.025, 1.10.
    np.testing.assert_array_equal(nonzero_gradient(model, logits, y, loss_threshold=0.1), [True, False, True])
    np.testing.assert_array_equal(nonzero_gradient(model, logits, y, loss_threshold=0.5), [False, False, True])
    with pytest.raises(ValueError, match="loss_threshold"):
        nonzero_gradient(model, logits, y, loss_threshold=0)


def test_memorized_means_right_on_the_point_and_wrong_without_its_noise():
    emb = make_embedding(2, 2, dim=400, feature_strength=1.0, noise_strength=3.0, seed=0)
    # Points: A (class 1, learned feature), B (class 1, no learned feature, its noise read by W),
    # D (class 1, no learned feature, noise not read), E (class 0, nothing: the bias favours class 0).
    features = np.array([[1, 0], [0, 1], [0, 1], [0, 0]], dtype=bool)
    labels = np.array([1, 1, 1, 0])
    pts = embed(emb, features, labels, seed=1)
    learned = np.array([[False, False], [True, False]])
    extra = np.zeros((2, 400))
    extra[1] = 5.0 * pts.noise[1].double().numpy() / 3.0  # memorize B through its noise
    model = _linear_reading(emb, learned, weight=5.0, extra_rows=extra, bias=[3.0, 0.0])
    x, y, noise = pts.x, pts.y, pts.noise
    right = (model(x).argmax(1) == y).numpy()
    assert right.tolist()[:2] == [True, True] and right[3]
    np.testing.assert_array_equal(correct(model, x, y), right)
    np.testing.assert_array_equal(feature_correct(model, x, y, noise), [True, False, False, True])
    got = memorized(model, x, y, noise)
    assert got[1] and not got[0] and not got[3]
    assert got[2] == bool(right[2])  # D: memorized only if its noise happens to lean on B's
    with pytest.raises(ValueError, match="noise must have the shape"):
        memorized(model, x, y, noise[:, :3])


def test_jaccard():
    a = np.array([[1, 1, 0], [0, 1, 0]], bool)
    b = np.array([[1, 0, 0], [0, 1, 1]], bool)
    assert jaccard(a, b) == pytest.approx(2 / 4)
    assert jaccard(a, a) == 1.0 and jaccard(np.zeros(3, bool), np.zeros(3, bool)) == 1.0
    assert jaccard(a, ~a) == 0.0
    with pytest.raises(ValueError, match="equal shape"):
        jaccard(a, b[:, :2])


# --------------------------------------------------------------------------------------------
# The experiment
# --------------------------------------------------------------------------------------------
def test_bad_configs_name_the_field():
    with pytest.raises(ValueError, match="BridgeConfig.dim"):
        dataclasses.replace(TINY, dim=12)
    with pytest.raises(ValueError, match="BridgeConfig.model"):
        dataclasses.replace(TINY, model="resnet18")
    with pytest.raises(ValueError, match="BridgeConfig.methods"):
        dataclasses.replace(TINY, methods=("ideal",))
    with pytest.raises(ValueError, match="BridgeConfig.n_per_chunk"):
        dataclasses.replace(TINY, n_per_chunk=21)
    with pytest.raises(ValueError, match="BridgeConfig.tau"):
        dataclasses.replace(TINY, tau=7)
    with pytest.raises(TypeError, match="BridgeConfig"):
        run_bridge({"C": 2})
    with pytest.raises(ValueError, match="param"):
        run_bridge_sweep(TINY, "seeds", [(0,)])


def test_bridge_frame_contract_and_simulator_side(tmp_path):
    df = run_bridge(TINY, out=tmp_path)
    assert list(df.columns) == list(COLUMNS)
    J, n = TINY.J, TINY.n_per_chunk
    assert len(df) == (3 + len(TINY.methods)) * J
    assert set(zip(df.side, df.method)) == {("simulator", m) for m in ("cold", "warm", "ideal")} | \
        {("network", m) for m in TINY.methods}
    assert (df.n_train == df.experiment * n).all()
    assert df.test_accuracy.between(0, 1).all()
    for col in ("n_nonzero", "n_memorized", "n_feature_correct", "n_learned", "n_wrong_start", "n_learned_abs"):
        values = df[col].dropna()
        assert ((values >= 0) & (values <= np.maximum(df.n_train, TINY.C * TINY.K)[values.index])).all(), col
    assert df[[c for c in df.columns if c.startswith("jaccard_")]].stack().between(0, 1).all()
    net = df[df.side == "network"]
    assert net.jaccard.notna().all() and df[df.side == "simulator"].jaccard.isna().all()
    np.testing.assert_array_equal(net.jaccard,
                                  [getattr(r, f"jaccard_{experiment.PAIRED[r.method]}") for r in net.itertuples()])
    assert (net.learned.str.len() == TINY.C * TINY.K).all()
    assert (net.n_learned == net.learned.str.count("1")).all()
    # Cold restarts from a fresh network: every point of T_{1:j} has the loss of an untrained model.
    cold = net[net.method == "cold"]
    assert (cold.n_nonzero == cold.n_train).all()
    assert (net.n_wrong_start <= net.n_nonzero).all()  # a misclassified point has loss > log 2 > 0.1
    assert df[df.side == "simulator"][["n_wrong_start", "n_learned_abs", "steps"]].isna().all().all()
    # The simulator rows are dashsim.simulate on the same arrays.
    data = sample_bridge_data(TINY, 0)
    sim = dashsim.simulate(data.features, data.labels, data.chunk, gamma=TINY.gamma, tau=TINY.tau)
    for m, method in enumerate(sim.methods):
        rows = df[(df.side == "simulator") & (df.method == method)].sort_values("experiment")
        np.testing.assert_array_equal(rows.n_learned, sim.n_learned[m])
        np.testing.assert_array_equal(rows.n_nonzero, sim.n_nonzero[m])
        np.testing.assert_array_equal(rows.n_memorized, sim.n_memorized[m])
        np.testing.assert_allclose(rows.test_accuracy,
                                   dashsim.accuracy_on(sim.learned[m], data.test_features, data.test_labels, TINY.tau))
    # Re-running reuses the cached network runs exactly (and a simulator-only change reuses them too).
    again = run_bridge(TINY, out=tmp_path)
    pd.testing.assert_frame_equal(again, df)
    other_tau = run_bridge(dataclasses.replace(TINY, tau=1), out=tmp_path)
    keep = ["method", "experiment", "test_accuracy", "n_learned", "steps", "wall_time_s"]
    pd.testing.assert_frame_equal(other_tau[other_tau.side == "network"][keep].reset_index(drop=True),
                                  net[keep].reset_index(drop=True))


def test_interrupted_network_run_resumes_to_the_same_metrics(tmp_path, monkeypatch):
    config = dataclasses.replace(TINY, methods=("warm",))
    full = run_bridge(config, out=tmp_path / "a")
    real = engine.train_until_target  # the network side trains on the experiment engine
    calls = {"n": 0}

    def crash_on_third(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "train_until_target", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        run_bridge(config, out=tmp_path / "b")
    assert calls["n"] == 3
    monkeypatch.setattr(engine, "train_until_target", real)
    resumed = run_bridge(config, out=tmp_path / "b")
    cols = [c for c in COLUMNS if c != "wall_time_s"]
    pd.testing.assert_frame_equal(resumed[cols], full[cols])


# --------------------------------------------------------------------------------------------
# Figures: exactly the tabled numbers
# --------------------------------------------------------------------------------------------
def _fake_frame(rng, param=None, values=(None,)):
    rows = []
    for value in values:
        for side, methods in (("simulator", ("cold", "warm", "ideal")), ("network", ("cold", "warm", "dash"))):
            for method in methods:
                for seed in (0, 1, 2):
                    for j in (1, 2, 3):
                        row = {"side": side, "method": method, "seed": seed, "experiment": j,
                               "test_accuracy": rng.random(), "n_learned": int(rng.integers(0, 10)),
                               "n_nonzero": int(rng.integers(0, 50)), "n_memorized": int(rng.integers(0, 50)),
                               "jaccard": rng.random() if side == "network" else np.nan, "jaccard_cold": rng.random()}
                        if param is not None:
                            row = {param: value, **row}
                        rows.append(row)
    return pd.DataFrame(rows)


def test_bridge_curves_and_figure_draw_the_seed_means(tmp_path):
    from matplotlib.image import imread

    from dashsim.bridge.plotting import QUANTITIES, bridge_curves, plot_bridge

    frame = _fake_frame(np.random.default_rng(0))
    curves = bridge_curves(frame)
    warm = frame[(frame.side == "network") & (frame.method == "warm") & (frame.experiment == 2)]
    row = curves[(curves.side == "network") & (curves.method == "warm") & (curves.experiment == 2)].iloc[0]
    assert row.n_learned_mean == pytest.approx(warm.n_learned.mean()) and row.n_seeds == 3
    assert row.test_accuracy_std == pytest.approx(warm.test_accuracy.std())
    ideal = curves[(curves.side == "simulator") & (curves.method == "ideal")]
    for source in (frame, curves):  # the rows, or the figure's CSV: the same lines
        fig = plot_bridge(source, title="t")
        axes = fig.axes
        assert len(axes) == 2 * (len(QUANTITIES) + 1)
        learned_sim = axes[(len(QUANTITIES) + 1) + 1]  # second row (simulator), second column (learned features)
        lines = {line.get_label(): line for line in learned_sim.get_lines()}
        np.testing.assert_allclose(lines["ideal"].get_ydata(), ideal.n_learned_mean.to_numpy(), rtol=1e-12)
        assert len(learned_sim.collections) == len(lines)  # one mean +- std band per method
        # The simulator's methods on the network's side have no Jaccard: no line is drawn for them.
        assert {line.get_label() for line in axes[len(QUANTITIES)].get_lines()} <= set(frame.method)
    fig.savefig(tmp_path / "f.png")
    assert imread(tmp_path / "f.png").std() > 0
    with pytest.raises(ValueError, match="missing columns"):
        bridge_curves(frame.drop(columns=["jaccard"]))


def test_sweep_table_takes_the_last_experiment_and_sums_nonzero():
    from dashsim.bridge.plotting import SWEEP_QUANTITIES, plot_bridge_sweep, sweep_table

    frame = _fake_frame(np.random.default_rng(1), "tau", (2, 1))
    table = sweep_table(frame, "tau")
    assert list(table.tau.unique()) == [1, 2]
    one = frame[(frame.tau == 1) & (frame.side == "network") & (frame.method == "dash")]
    got = table[(table.tau == 1) & (table.side == "network") & (table.method == "dash")].iloc[0]
    last = one[one.experiment == 3]
    assert got.test_accuracy_mean == pytest.approx(last.test_accuracy.mean())
    assert got.training_time_mean == pytest.approx(one.groupby("seed").n_nonzero.sum().mean())
    assert got.jaccard_std == pytest.approx(last.jaccard.std())
    fig = plot_bridge_sweep({"tau": table})
    assert len(fig.axes) == len(SWEEP_QUANTITIES)
    lines = {line.get_label(): line for line in fig.axes[1].get_lines()}
    expected = table[(table.side == "simulator") & (table.method == "warm")].n_learned_mean.to_numpy()
    np.testing.assert_allclose(lines["simulator warm"].get_ydata(), expected, rtol=1e-12)


def test_capped_network_experiments_are_counted_and_circled():
    from dashsim.bridge.plotting import bridge_curves, plot_bridge, plot_bridge_sweep, sweep_table
    from dashsim.style import CAP_LABEL

    frame = _fake_frame(np.random.default_rng(2), "tau", (1,))
    network = frame.side == "network"
    # Capped: dash seed 0 at j = 2 and seeds 0 and 1 at j = 3; warm seed 2 at j = 1. The simulator has no cap.
    stopped = network & (((frame.method == "dash") & (((frame.experiment == 2) & (frame.seed == 0))
                                                       | ((frame.experiment == 3) & (frame.seed < 2))))
                         | ((frame.method == "warm") & (frame.experiment == 1) & (frame.seed == 2)))
    frame["converged"] = np.where(network, ~stopped, np.nan).astype(object)
    curves = bridge_curves(frame.drop(columns=["tau"])).set_index(["side", "method", "experiment"]).sort_index()
    assert curves.n_capped.dtype.kind == "i"
    assert curves.loc[("network", "dash"), "n_capped"].tolist() == [0, 1, 2]
    assert curves.loc[("network", "warm"), "n_capped"].tolist() == [1, 0, 0]
    assert (curves.xs("simulator").n_capped == 0).all() and curves.n_capped.sum() == 4
    table = sweep_table(frame, "tau").set_index(["side", "method"]).sort_index()
    assert table.loc[("network", "dash"), "n_capped"] == 3 and table.loc[("network", "warm"), "n_capped"] == 1
    assert table.n_capped.sum() == 4  # over all j and seeds
    fig = plot_bridge(bridge_curves(frame.drop(columns=["tau"])))
    assert [line.get_label() for line in fig.axes[0].get_lines()].count(CAP_LABEL) == 1  # one legend entry
    marks = [line for line in fig.axes[0].get_lines() if line.get_marker() == "o" and line.get_linestyle() == "None"]
    assert sorted(len(m.get_xdata()) for m in marks) == [1, 2]  # warm at j = 1; dash at j = 2 and 3
    sweep = plot_bridge_sweep({"tau": sweep_table(frame, "tau")})
    assert any(line.get_label() == "some experiment stopped at the epoch cap" for line in sweep.axes[0].get_lines())
    assert "n_capped" not in bridge_curves(frame.drop(columns=["tau", "converged"])).columns  # older rows: no count


def test_image_inputs_run_through_the_experiment():
    config = dataclasses.replace(TINY, kind="image", image_size=8, patch_size=2, channels=3, methods=("warm",), J=2)
    df = run_bridge(config)
    net = df[df.side == "network"]
    assert len(net) == 2 and net.test_accuracy.between(0, 1).all() and (net.n_nonzero <= net.n_train).all()
    assert sample_bridge_data(config, 0).train.x.shape == (40, 3, 8, 8)


@pytest.mark.slow
def test_resnet18_on_image_patches():
    config = dataclasses.replace(TINY, kind="image", image_size=28, patch_size=4, model="resnet18", methods=("dash",),
                                 J=2, n_per_chunk=8, max_epochs=1)
    net = run_bridge(config)
    assert (net[net.side == "network"].steps == 1).all()
