"""Options that reproduce the authors' code, each checked against a hand computation or a transcription of their lines.

Sources: baekrok/DASH-Direction-Aware-SHrinking @3d3cea6 (the DASH authors) and JordanAsh/warm_start
@896176b (Ash & Adams); file:line in each test's docstring.
"""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest
import torch
from torch import nn

from dashsim import cli
from dashsim.nn import TrainConfig, load_dataset, run_incremental
from dashsim.nn.engine import run
from dashsim.nn.methods import ColdReseeded, L2Init, Learner, ResetHead
from dashsim.nn.models import AshMLP, AshResNet18, VGG16BN, build_model, has_batchnorm
from dashsim.nn.protocols import TwoPhase
from dashsim.nn.train import _WARNED, PRESETS, SettingsError, apply_preset, batch_bounds, train_until_target


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --- models ------------------------------------------------------------------------------------


def test_ash_mlp_is_their_three_linear_layers_without_batchnorm():
    """run.py 63-73: Linear(nc*sz*sz, 100), Linear(100, 100), Linear(100, C), ReLU between, no BatchNorm."""
    torch.manual_seed(0)
    model = build_model("mlp_ash", num_classes=10, input_shape=(3, 32, 32), width=1000)  # width: theirs is 100
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [tuple(m.weight.shape) for m in linears] == [(100, 3072), (100, 100), (10, 100)]
    assert not has_batchnorm(model) and model.head is linears[-1]
    assert _count(model) == 3072 * 100 + 100 + 100 * 100 + 100 + 100 * 10 + 10
    x = torch.rand(4, 3, 32, 32)
    w1, w2, w3 = linears
    hand = w3(torch.relu(w2(torch.relu(w1(x.view(4, -1))))))  # their forward, line 72-73
    assert torch.equal(model(x), hand)


def _ash_resnet_count(c: int, k: int) -> int:
    """Parameters of their ResNet(BasicBlock, [2, 2, 2, 2]) by hand: 3x3 convs without bias, BN (2 per channel)."""
    total = 9 * c * 16 + 2 * 16  # stem conv1 + bn1 (resnet.py 77-78)
    in_planes = 16
    for planes, stride in ((16, 1), (32, 2), (64, 2), (128, 2)):
        for block_stride in (stride, 1):
            total += 9 * in_planes * planes + 2 * planes + 9 * planes * planes + 2 * planes
            if block_stride != 1 or in_planes != planes:
                total += in_planes * planes + 2 * planes  # 1x1 shortcut conv + BN (resnet.py 26-30)
            in_planes = planes
    return total + 128 * k + k  # linear head (line 83)


def test_ash_resnet18_has_their_quarter_widths_and_no_max_pool():
    """resnet.py 72-104: widths 16-32-64-128, stride-1 3x3 stem, no max-pool, global 4x4 average on 32x32 inputs."""
    model = build_model("resnet18_ash", num_classes=10)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert convs[0].out_channels == 16 and convs[0].stride == (1, 1) and convs[0].kernel_size == (3, 3)
    assert sorted({m.out_channels for m in convs}) == [16, 32, 64, 128]
    assert not any(isinstance(m, nn.MaxPool2d) for m in model.modules())
    assert _count(model) == _ash_resnet_count(3, 10)
    assert _count(AshResNet18(num_classes=7, in_channels=1)) == _ash_resnet_count(1, 7)
    model.eval()
    x = torch.randn(2, 3, 32, 32)
    # Their forward ends in F.avg_pool2d(out, 4): on a 4x4 map the same as our global mean.
    body = model.layer4(model.layer3(model.layer2(model.layer1(model.relu(model.bn1(model.conv1(x)))))))
    assert body.shape[-2:] == (4, 4)
    theirs = model.head(nn.functional.avg_pool2d(body, 4).view(2, -1))
    torch.testing.assert_close(model(x), theirs)
    gray = build_model("resnet18_ash", num_classes=10, input_shape=(1, 28, 28))
    assert gray(torch.randn(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.slow  # two 134M-parameter networks: about 10 s on a 2-core CPU
def test_vgg16_authors_head_and_its_reset():
    """VGG.py 29-38 (classifier), 63-67 (Linear init N(0, 0.01), zero bias); reset_head resets the whole classifier."""
    torch.manual_seed(0)
    model = VGG16BN(num_classes=10, head="authors")
    linears = [m for m in model.head if isinstance(m, nn.Linear)]
    assert [tuple(m.weight.shape) for m in linears] == [(4096, 25088), (4096, 4096), (10, 4096)]
    kinds = [type(m).__name__ for m in model.head]
    assert kinds == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    assert model.avgpool.output_size == 7
    for m in linears:
        assert float(m.weight.detach().std()) == pytest.approx(0.01, rel=0.05) and not m.bias.any()
    assert model.eval()(torch.randn(1, 3, 32, 32)).shape == (1, 10)
    # reset_head: every Linear of the classifier takes a fresh model's values; the features are kept.
    features = {k: v.clone() for k, v in model.features.state_dict().items()}
    learner = Learner(model, torch.optim.SGD(model.parameters(), lr=0.1),
                      lambda: VGG16BN(num_classes=10, head="authors"),
                      lambda m: torch.optim.SGD(m.parameters(), lr=0.1), {})
    before = [m.weight.clone() for m in linears]
    ResetHead().before_experiment(learner, [], generator=torch.Generator().manual_seed(1))
    assert all(not torch.equal(b, m.weight) for b, m in zip(before, linears))
    assert all(torch.equal(v, model.features.state_dict()[k]) for k, v in features.items())
    assert len(VGG16BN(num_classes=3).head.weight) == 3  # the first head stays the default


def test_vgg16_head_is_checked():
    with pytest.raises(ValueError, match="head must be one of"):
        VGG16BN(num_classes=3, head="mlp")


def test_cold_reseeded_restarts_from_the_first_initialization():
    """VGG.py 15-16: the constructor re-seeds, so every cold restart (train_utils.py 190-193) is the first init."""
    torch.manual_seed(3)
    learner = Learner.create(lambda: AshMLP(num_classes=3, in_features=4), lambda m: torch.optim.Adam(m.parameters()))
    with torch.no_grad():
        for p in learner.model.parameters():
            p.add_(1.0)
    old_optimizer = learner.optimizer
    new = ColdReseeded().before_experiment(learner, [], generator=torch.Generator())
    assert new.model is not learner.model and new.optimizer is not old_optimizer
    assert all(torch.equal(v, learner.initial_state[k]) for k, v in new.model.state_dict().items())


# --- L2 Init -----------------------------------------------------------------------------------


def _authors_l2_init(lam: float, current: nn.Module, init: nn.Module) -> torch.Tensor:
    """Transcription of train_utils.py 73-82 (their l2_init), loss term only."""
    reg = 0
    for m1, m2 in zip(current.modules(), init.modules()):
        if hasattr(m1, "weight"):
            if m1.weight is not None:
                reg += (m1.weight - m2.weight.detach()).norm()
    return lam * (reg ** 2)


def test_l2_init_authors_variant_matches_their_lines_on_a_batchnorm_mlp():
    torch.manual_seed(0)
    learner = Learner.create(lambda: build_model("mlp", num_classes=3, input_shape=(5,), width=6),
                             lambda m: torch.optim.SGD(m.parameters(), lr=0.1))
    init = build_model("mlp", num_classes=3, input_shape=(5,), width=6)
    init.load_state_dict(learner.initial_state)
    with torch.no_grad():
        for p in learner.model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    ours = L2Init(c=1e-2, variant="authors").penalty(learner)
    torch.testing.assert_close(ours, _authors_l2_init(1e-2, learner.model, init))
    # It differs from the sum of squares over every parameter (biases and BN biases included).
    squares = sum(((p - learner.initial_state[n]) ** 2).sum() for n, p in learner.model.named_parameters())
    torch.testing.assert_close(L2Init(c=1e-2).penalty(learner), 1e-2 * squares)
    assert not torch.isclose(ours, 1e-2 * squares)


def test_l2_init_both_formulas_by_hand():
    """Two layers moved by known amounts: authors c (3 + 4)^2 = 49 c; sum of squares c (9 + 16 + bias 1) = 26 c."""
    model = nn.Sequential(nn.Linear(1, 1), nn.BatchNorm1d(1))
    learner = Learner.create(lambda: model, lambda m: torch.optim.SGD(m.parameters(), lr=0.1))
    with torch.no_grad():
        model[0].weight.add_(3.0)  # ||dW_0||_F = 3
        model[1].weight.add_(4.0)  # BatchNorm's weight counts in the authors' sum: ||dW_1|| = 4
        model[0].bias.add_(1.0)  # biases count only in the sum of squares
    assert float(L2Init(c=0.5, variant="authors").penalty(learner).detach()) == pytest.approx(0.5 * 49)
    assert float(L2Init(c=0.5, variant="sum_of_squares").penalty(learner).detach()) == pytest.approx(0.5 * 26)
    with pytest.raises(ValueError, match="variant must be one of"):
        L2Init(variant="frobenius")


# --- data, preset, optimizer rebuild -------------------------------------------------------------


def test_half_normalization_is_theirs(digits):
    """run.py 38-41: Normalize((0.5,)*3, (0.5,)*3) after ToTensor, so x_hat = 2 x / 255 - 1."""
    x, _ = digits.as_float("train", normalize=True, stats="half")
    raw = digits.x_train.float()
    torch.testing.assert_close(x, (raw / 255.0 - 0.5) / 0.5)
    assert digits.pixel_value(0, stats="half") == (-1.0,) and digits.pixel_value(255, stats="half") == (1.0,)
    with pytest.raises(ValueError, match="stats must be"):
        digits.as_float("train", stats="unit")


def test_ash_adams_preset_is_their_recipe():
    """run.py 17-19 (lr 1e-3, batch 128, no decay), 160-161 (SGD without momentum, rebuilt), 171 (99% target)."""
    config = apply_preset(TrainConfig(model="mlp_ash"), "ash_adams")
    assert (config.resolved_lr, config.momentum, config.weight_decay, config.batch_size) == (1e-3, 0.0, 0.0, 128)
    assert config.rebuild_optimizer and config.resolved_normalize and config.norm_stats == "half"
    assert config.target_accuracy == 0.99 and config.max_epochs == 10_000 and config.last_batch == "keep"
    assert set(PRESETS["ash_adams"]) <= {f.name for f in dataclasses.fields(TrainConfig)}


def test_rebuilding_the_optimizer_every_round_is_warm_rem(tmp_path, digits):
    """Warm with a new Adam every round (their loop) gives exactly Warm ReM's rows."""
    base = dict(data="digits", model="mlp_ash", J=2, subset=200, max_epochs=2, optimizer="adam", seeds=(0,),
                device="cpu", norm_stats="half", normalize=True)
    rebuilt = run_incremental(TrainConfig(**base, rebuild_optimizer=True, out=str(tmp_path / "a")), dataset=digits,
                              method="warm")
    rem = run_incremental(TrainConfig(**base, out=str(tmp_path / "b")), dataset=digits, method="warm_rem")
    kept = run_incremental(TrainConfig(**base, out=str(tmp_path / "c")), dataset=digits, method="warm")
    columns = ["test_accuracy", "steps", "train_loss"]
    assert rebuilt[columns].equals(rem[columns])
    assert not rebuilt[columns].equals(kept[columns])  # the Adam state did matter


# --- the last mini-batch -----------------------------------------------------------------------


@pytest.mark.parametrize("n,mode,expected", [
    (300, "keep", [(0, 128), (128, 256), (256, 300)]),
    (300, "drop", [(0, 128), (128, 256)]),
    (300, "merge", [(0, 128), (128, 300)]),
    (256, "merge", [(0, 128), (128, 256)]),
    (100, "drop", [(0, 100)]),
])
def test_batch_bounds_by_hand(n, mode, expected):
    assert batch_bounds(n, 128, mode) == expected


def test_last_batch_modes_in_the_training_loop(digits):
    x, y = digits.as_float("train", normalize=False)
    idx = torch.arange(300)
    for mode, per_epoch, seen in (("keep", 3, 300), ("drop", 2, 256), ("merge", 2, 300)):
        torch.manual_seed(0)
        learner = Learner.create(lambda: AshMLP(num_classes=10, in_features=64),
                                 lambda m: torch.optim.SGD(m.parameters(), lr=0.05))
        sizes = []
        learner.model.register_forward_hook(lambda mod, inp, out: sizes.append(inp[0].shape[0]))
        config = TrainConfig(data="digits", model="mlp_ash", max_epochs=2, last_batch=mode)
        result = train_until_target(learner, L2Init(c=0.0), x, y, idx, config=config,
                                    generator=torch.Generator().manual_seed(0), stop_at_target=False)
        assert result.steps == 2 * per_epoch and sum(sizes) == 2 * seen
    with pytest.raises(ValueError, match="last_batch must be one of"):
        TrainConfig(last_batch="pad")


def test_a_one_sample_batch_under_batchnorm_is_refused_with_the_reason(tmp_path, capsys):
    """The crash of `dashsim train --data digits --model mlp --width 16 --J 10 --subset 1290 --max-epochs 1`."""
    argv = ["train", "--data", "digits", "--model", "mlp", "--width", "16", "--J", "10", "--subset", "1290",
            "--max-epochs", "1", "--device", "cpu", "--no-progress", "--out", str(tmp_path / "run")]
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and "has a batch of 1" in err and "--last-batch" in err and "BatchNorm" in err
    assert not (tmp_path / "run").exists()  # refused before any run folder
    assert cli.main(argv[:-2] + ["--out", str(tmp_path / "merged"), "--last-batch", "merge"]) == 0


def test_the_continuous_protocol_is_checked_before_training(tmp_path, capsys):
    """Epochs on 43, 86, 129 arrived samples: the third has a one-sample last batch."""
    argv = ["train", "--protocol", "continuous", "--arrival-epochs", "3", "--final-epochs", "1", "--new-per-epoch",
            "43", "--method", "warm", "--data", "digits", "--model", "mlp", "--width", "8", "--device", "cpu",
            "--no-progress", "--out", str(tmp_path / "run")]
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2 and "an epoch over 129 samples" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
    assert cli.main(argv + ["--last-batch", "drop"]) == 0


def test_a_small_last_batch_under_batchnorm_warns(digits, caplog):
    x, y = digits.as_float("train", normalize=False)
    torch.manual_seed(0)
    learner = Learner.create(lambda: build_model("mlp", num_classes=10, input_shape=(1, 8, 8), width=8),
                             lambda m: torch.optim.SGD(m.parameters(), lr=0.05))
    config = TrainConfig(data="digits", model="mlp", max_epochs=1)
    _WARNED.clear()
    with caplog.at_level(logging.WARNING, logger="dashsim.nn.train"):
        train_until_target(learner, L2Init(c=0.0), x, y, torch.arange(136), config=config,
                           generator=torch.Generator().manual_seed(0))
    assert "has a batch of 8" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="dashsim.nn.train"):  # once per epoch size
        train_until_target(learner, L2Init(c=0.0), x, y, torch.arange(136), config=config,
                           generator=torch.Generator().manual_seed(0))
    assert caplog.text == ""
    with caplog.at_level(logging.WARNING, logger="dashsim.nn.train"):
        train_until_target(learner, L2Init(c=0.0), x, y, torch.arange(136),
                           config=dataclasses.replace(config, last_batch="drop"),
                           generator=torch.Generator().manual_seed(0))
    assert caplog.text == ""


# --- two phases ----------------------------------------------------------------------------------


def test_two_phase_fixed_second_phase(tmp_path, digits):
    """DASH paper, Figure 2: the second phase trains a fixed number of epochs, not to the target."""
    config = TrainConfig(data="digits", model="mlp_ash", subset=100, max_epochs=50, lr=0.1, seeds=(0,),
                         target_accuracy=0.9, device="cpu", out=str(tmp_path / "fixed"))
    rows = run(config, TwoPhase(pretrain_epochs=(1,), second_epochs=3), dataset=digits, method="warm")
    assert rows.epochs.tolist() == [1, 3]
    to_target = run(dataclasses.replace(config, out=str(tmp_path / "target")), TwoPhase(pretrain_epochs=(1,)),
                    dataset=digits, method="warm")
    assert to_target.epochs.iloc[1] != 3 and bool(to_target.converged.iloc[1])
    with pytest.raises(SettingsError, match="second_epochs must be an int >= 1"):
        TwoPhase(second_epochs=0)


def test_a_folder_written_before_the_new_settings_resumes(tmp_path, digits):
    """New TrainConfig fields, protocol settings and method hyper-parameters take their earlier behaviour there."""
    config = TrainConfig(data="digits", model="mlp_ash", subset=100, max_epochs=1, seeds=(0,), device="cpu",
                         out=str(tmp_path / "old"))
    first = run(config, TwoPhase(pretrain_epochs=(1,)), dataset=digits, method=L2Init(c=0.01))
    path = tmp_path / "old" / "config.json"
    stored = json.loads(path.read_text())
    for key in ("last_batch", "norm_stats", "rebuild_optimizer"):
        del stored[key]
    del stored["protocol_settings"]["second_epochs"]
    del stored["method_params"]["variant"]
    path.write_text(json.dumps(stored))
    again = run(config, TwoPhase(pretrain_epochs=(1,)), dataset=digits, method=L2Init(c=0.01))
    assert again.test_accuracy.tolist() == first.test_accuracy.tolist()
    from dashsim.runs import ConfigMismatchError
    with pytest.raises(ConfigMismatchError, match="variant"):
        run(config, TwoPhase(pretrain_epochs=(1,)), dataset=digits, method=L2Init(c=0.01, variant="authors"))


def test_a_resumed_row_gets_an_added_hyper_parameter_in_place():
    from dashsim.nn.engine import _with_hyperparameters

    old = {"protocol": "incremental", "method": "l2_init", "c": 0.01, "seed": 0, "experiment": 1}
    new = _with_hyperparameters(old, {"c": 0.01, "variant": "sum_of_squares"})
    assert list(new.items()) == [("protocol", "incremental"), ("method", "l2_init"), ("c", 0.01),
                                 ("variant", "sum_of_squares"), ("seed", 0), ("experiment", 1)]
    assert _with_hyperparameters(new, {"c": 0.01, "variant": "sum_of_squares"}) is new


def test_new_flags_are_typed(tmp_path):
    import argparse

    from dashsim.nn import train_cli

    parser = argparse.ArgumentParser(prog="dashsim")
    train_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train", "--last-batch", "drop", "--norm-stats", "half", "--rebuild-optimizer",
                              "--protocol", "two-phase", "--second-epochs", "300", "--method", "l2_init",
                              "--variant", "authors", "--preset", "ash_adams"])
    assert (args.last_batch, args.norm_stats, args.rebuild_optimizer) == ("drop", "half", True)
    assert args.second_epochs == 300 and args.variant == "authors" and args.momentum == 0.0
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--last-batch", "pad"])
