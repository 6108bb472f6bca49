"""The experiment engine's promises: the user's own model, data and method through every protocol; the registries;
the run folder's lock and format; settings errors before any run folder exists."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from dashsim import cli, runs
from dashsim.nn import (DATASETS, METHODS, MODELS, PROTOCOLS, ImageDataset, Method, Plan, Round, SettingsError,
                        TrainConfig, build_model, engine, load_dataset, make_method, register_dataset, register_method,
                        register_model, register_protocol, run_protocol)
from dashsim.nn import data as nn_data
from dashsim.nn.engine import ROW_COLUMNS
from dashsim.nn.models import is_flat

REPO = Path(__file__).resolve().parents[2]
N_TRAIN, N_TEST, CLASSES = 120, 30, 3


# --- the user's own pieces -------------------------------------------------------------------


class TinyNet(nn.Module):
    """A network of the user's own: Flatten - Linear - ReLU - Linear ``head``."""

    def __init__(self, in_features: int, width: int = 16, num_classes: int = CLASSES) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(in_features, width), nn.ReLU())
        self.head = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def vector_net() -> nn.Module:
    return TinyNet(8)


def image_net() -> nn.Module:
    return TinyNet(16)


def vectors() -> ImageDataset:
    """Float feature vectors (used as given) with labels that depend on them; 3 classes."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N_TRAIN + N_TEST, 8, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()
    return ImageDataset.from_tensors(x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:], name="vectors")


def tiny_images() -> ImageDataset:
    """4x4 grey uint8 images as NumPy arrays (scaled and standardized by the engine); 3 classes."""
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (N_TRAIN + N_TEST, 1, 4, 4), dtype=np.uint8)
    y = rng.integers(0, CLASSES, N_TRAIN + N_TEST)
    return ImageDataset.from_tensors(x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:], name="tiny-images")


PIECES = {"vectors": (vectors, vector_net), "tiny-images": (tiny_images, image_net)}
CALLS: list[int] = []  # the number of chunks of every ScaleHead call


@dataclasses.dataclass(frozen=True)
class ScaleHead(Method):
    """Scale the classifier when new data arrive: ``W_head <- factor * W_head`` (bias kept)."""

    factor: float = 0.5  # the head's scale factor

    def before_experiment(self, learner, chunks, *, generator):
        CALLS.append(len(chunks))
        with torch.no_grad():
            learner.model.head.weight.mul_(self.factor)
        return learner


def head_start(learner, context):
    """Probe after the method's step: the head's L1 norm (scaling by a power of two keeps it exact)."""
    return {"head_start": float(learner.model.head.weight.detach().double().abs().sum())}


def head_end(learner, context):
    return {"head_end": float(learner.model.head.weight.detach().double().abs().sum()),
            "x_mean": float(context.x.double().mean())}


@pytest.fixture
def registries():
    """Registering is process-wide: put every registry back as it was after the test."""
    saved = [(registry, dict(registry)) for registry in (METHODS, MODELS, DATASETS, PROTOCOLS)]
    needs_root = set(nn_data._NEEDS_ROOT)
    yield
    for registry, items in saved:
        registry.clear()
        registry.update(items)
    nn_data._NEEDS_ROOT.clear()
    nn_data._NEEDS_ROOT.update(needs_root)


def _config(tmp_path, name="run", **kw):
    base = dict(J=3, seeds=(0,), batch_size=32, max_epochs=2, device="cpu", out=str(tmp_path / name))
    base.update(kw)
    return TrainConfig(**base)


# --- 1. the user's model, data and method through every registered protocol -------------------

# Tiny settings of every protocol for 120 training samples (a new protocol must add its own here).
SMALL = {
    "incremental": {},
    "two-phase": {"pretrain_epochs": (1,)},
    "passive-online": {"k": 30, "rounds": 2},
    "active-online": {"k": 30, "rounds": 2},
    "discarding": {"m": 2, "stop_after": 3},
    "continuous": {"new_per_epoch": 30, "arrival_epochs": 2, "final_epochs": 1, "method_every": 1},
    "class-incremental": {"n_classes": 2},
    "previous-data": {"epochs": 1},
}


@pytest.mark.parametrize("kind", sorted(PIECES))
@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_own_model_data_and_method_through_every_protocol(tmp_path, name, kind):
    assert name in SMALL, f"protocol {name!r} needs tiny settings in SMALL"
    make_data, model = PIECES[kind]
    dataset = make_data()
    plan = PROTOCOLS[name](**SMALL[name])
    CALLS.clear()
    rows = run_protocol(_config(tmp_path), plan, dataset=dataset, model=model, method=ScaleHead(factor=0.25),
                        probe=head_start, probe_after=head_end)

    assert (rows["protocol"] == name).all() and (rows["dataset"] == kind).all()
    assert (rows["model"] == model.__name__).all() and (rows["method"] == "ScaleHead").all()
    # The hyper-parameter is a typed column right after the method; unit variables follow the seed.
    columns = list(rows.columns)
    assert columns[:6] == ["protocol", "dataset", "model", "method", "factor", "seed"]
    first = columns.index("experiment")
    assert columns[first : first + len(ROW_COLUMNS) - 5] == list(ROW_COLUMNS[5:])
    # Then the plan's measurements (previous-data's) and the probes' columns (their order: see the test below).
    extra = columns[first + len(ROW_COLUMNS) - 5 :]
    assert [c for c in extra if c in ("head_start", "head_end", "x_mean")] == ["head_start", "head_end", "x_mean"]
    assert len(extra) == 3 + (5 if name == "previous-data" else 0)
    assert rows["factor"].dtype == np.float64 and (rows["factor"] == 0.25).all()
    assert rows["test_accuracy"].between(0, 1).all()
    on_disk = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert list(on_disk.columns) == columns and (on_disk["factor"] == 0.25).all()

    # The method ran exactly when a row says so, and did what it does: scale the head by the factor.
    applied = rows["method_applied"]
    assert applied.any() and len(CALLS) == int(applied.sum()) and all(n >= 1 for n in CALLS)
    units = columns[columns.index("seed") : first]
    for _, unit in rows.groupby(units):
        unit = unit.sort_values("experiment")
        scale = np.where(unit["method_applied"].to_numpy()[1:], 0.25, 1.0)
        np.testing.assert_allclose(unit["head_start"].to_numpy()[1:], scale * unit["head_end"].to_numpy()[:-1],
                                   rtol=1e-12)
    # Images are scaled and standardized by the training split's statistics; vectors are used as given.
    if kind == "tiny-images":
        assert rows["x_mean"].abs().max() < 1e-5
    else:
        assert rows["x_mean"].iloc[0] == pytest.approx(float(dataset.x_train.double().mean()), rel=1e-6)

    stored = json.loads((tmp_path / "run" / "config.json").read_text())
    assert stored["method_params"] == {"factor": 0.25} and type(stored["method_params"]["factor"]) is float
    assert (stored["method"], stored["data"], stored["model"]) == ("ScaleHead", kind, model.__name__)
    assert stored["model_source"].startswith("callable ") and stored["model_source"].endswith(f".{model.__name__}")
    assert (stored["protocol"], stored["run_format"]) == (name, 2)
    assert stored["protocol_settings"] == json.loads(json.dumps(plan.settings()))


def test_probe_columns_come_after_the_plans_measurements(tmp_path):
    rows = run_protocol(_config(tmp_path, max_epochs=1), PROTOCOLS["previous-data"](epochs=1), dataset=vectors(),
                        model=vector_net, method="warm", probe=head_start, probe_after=head_end)
    assert list(rows.columns[-3:]) == ["head_start", "head_end", "x_mean"]


def test_another_hyper_parameter_value_is_another_run(tmp_path):
    pieces = dict(dataset=vectors(), model=vector_net)
    config = _config(tmp_path, J=2, max_epochs=1)
    run_protocol(config, "incremental", method=ScaleHead(0.25), **pieces)
    with pytest.raises(runs.ConfigMismatchError, match=r"method_params: folder has \{'factor': 0.25\}, this run has "
                                                       r"\{'factor': 0.5\}"):
        run_protocol(config, "incremental", method=ScaleHead(0.5), **pieces)


def test_another_model_callable_of_the_same_name_is_another_run(tmp_path):
    config = _config(tmp_path, method="warm", J=2, max_epochs=1)
    run_protocol(config, "incremental", dataset=vectors(), model=lambda: TinyNet(8, width=16))
    with pytest.raises(runs.ConfigMismatchError):
        run_protocol(config, "incremental", dataset=vectors(), model=lambda: TinyNet(8, width=32))


# --- 2. the registries -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Toy(Plan):
    """Round ``r`` trains on the first ``r`` blocks of 20 samples; the method sees the blocks."""

    name = "toy"
    toy_rounds: int = 2  # rounds, each adding a block of 20 samples

    def n_rounds(self, config, data):
        if 20 * self.toy_rounds > data.x.shape[0]:
            raise SettingsError(f"toy_rounds must be at most {data.x.shape[0] // 20}, got {self.toy_rounds}")
        return self.toy_rounds

    def start(self, config, data, unit):
        perm, _ = engine.chunk_permutation(data.x.shape[0], seed=unit["seed"], J=1)
        return {"perm": perm.to(data.x.device)}

    def round(self, r, learner, data, state):
        blocks = [state["perm"][i * 20 : (i + 1) * 20] for i in range(r)]
        return Round(train=torch.cat(blocks), chunks=blocks, apply_method=r >= 2)

    def measure(self, when, learner, context, state):
        return {"toy_seen": int(context.train_indices.numel())} if when == "after" else {}


def _tiny_build(*, num_classes, input_shape, width):
    return TinyNet(int(np.prod(input_shape)), width, num_classes)


def test_registered_method_runs_by_name_and_duplicates_are_errors(tmp_path, registries):
    assert register_method(ScaleHead) is ScaleHead and METHODS["ScaleHead"] is ScaleHead
    assert make_method("ScaleHead", factor=0.25) == ScaleHead(0.25)
    with pytest.raises(TypeError, match="unknown hyper-parameter 'lam' for method 'ScaleHead'; allowed: factor"):
        make_method("ScaleHead", lam=0.5)
    rows = run_protocol(_config(tmp_path, method="ScaleHead", J=2, max_epochs=1), "incremental", dataset=vectors(),
                        model=vector_net)
    assert (rows["method"] == "ScaleHead").all() and (rows["factor"] == 0.5).all()  # by name: the defaults
    assert register_method(ScaleHead) is ScaleHead  # the same class again changes nothing

    @dataclasses.dataclass(frozen=True)
    class Other(ScaleHead):
        name = "ScaleHead"

    @dataclasses.dataclass(frozen=True)
    class Another(ScaleHead):
        name = "dash"

    with pytest.raises(ValueError, match="method name 'ScaleHead' is already registered for ScaleHead"):
        register_method(Other)
    with pytest.raises(ValueError, match="method name 'dash' is already registered for Dash"):
        register_method(Another)
    with pytest.raises(TypeError, match="register_method takes a Method subclass"):
        register_method(TinyNet)
    assert METHODS["ScaleHead"] is ScaleHead and METHODS["dash"].__name__ == "Dash"


def test_registered_model_is_sized_for_the_data_and_checked_against_it(tmp_path, registries):
    built = []

    def build(*, num_classes, input_shape, width):
        built.append((num_classes, input_shape, width))
        return _tiny_build(num_classes=num_classes, input_shape=input_shape, width=width)

    register_model("tiny", build, flat=True)
    assert MODELS["tiny"].flat and is_flat("tiny")
    rows = run_protocol(_config(tmp_path, model="tiny", width=12, method="warm", J=2, max_epochs=1), "incremental",
                        dataset=tiny_images())
    assert (rows["model"] == "tiny").all() and built[0] == (CLASSES, (1, 4, 4), 12)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["model_source"] == "registry"
    assert isinstance(build_model("tiny", num_classes=5, input_shape=(7,), width=4), TinyNet)
    with pytest.raises(ValueError, match="model name 'tiny' is already registered"):
        register_model("tiny", build)
    with pytest.raises(ValueError, match="model name 'mlp' is already registered"):
        register_model("mlp", build, flat=True)
    with pytest.raises(ValueError, match="a model name must be an identifier-like string"):
        register_model("my net!", build)
    with pytest.raises(TypeError, match="build must be callable"):
        register_model("nothing", None)
    # A network that takes only some image sizes is checked against the data before any run folder exists.
    register_model("conv8", build, image_sizes=(8,))
    assert not is_flat("conv8")
    assert engine.resolve(TrainConfig(model="conv8"), dataset=load_dataset("digits")).config.model == "conv8"
    for dataset, message in ((tiny_images(), "model 'conv8' needs square images of side 8; the data's images are 4x4"),
                             (vectors(), r"model 'conv8' takes images \(C, H, W\); the data's inputs have shape \(8")):
        with pytest.raises(SettingsError, match=message):
            run_protocol(_config(tmp_path, "conv", model="conv8"), "incremental", dataset=dataset)
        assert not (tmp_path / "conv").exists()


def test_registered_data_set_loads_by_name(tmp_path, registries):
    roots = []

    def loader(root):
        roots.append(root)
        return vectors()

    register_dataset("vectors", loader)
    config = _config(tmp_path, data="vectors", data_root=str(tmp_path / "copy"), method="warm", J=2, max_epochs=1)
    rows = run_protocol(config, "incremental", model=vector_net)
    assert roots == [str(tmp_path / "copy")] and (rows["dataset"] == "vectors").all()
    assert load_dataset("vectors").name == "vectors"
    with pytest.raises(ValueError, match="data set name 'vectors' is already registered"):
        register_dataset("vectors", loader)
    with pytest.raises(ValueError, match="data set name 'digits' is already registered"):
        register_dataset("digits", loader)
    register_dataset("far-away", loader, needs_root=True)
    with pytest.raises(SettingsError, match="dataset 'far-away' has no default location"):
        run_protocol(_config(tmp_path, "far", data="far-away"), "incremental", model=vector_net)
    assert not (tmp_path / "far").exists()
    register_dataset("broken", lambda root: (1, 2))
    with pytest.raises(TypeError, match="the loader of 'broken' returned tuple, not an ImageDataset"):
        load_dataset("broken")


def test_registered_protocol_runs_by_name_and_through_the_cli(tmp_path, registries, capsys):
    assert register_protocol(Toy) is Toy and PROTOCOLS["toy"] is Toy
    config = _config(tmp_path, "api", J=2, max_epochs=1)
    rows = run_protocol(config, "toy", dataset=vectors(), model=vector_net, method=ScaleHead(0.25))
    assert (rows["protocol"] == "toy").all() and list(rows["n_train"]) == [20, 40]
    assert list(rows["toy_seen"]) == [20, 40] and list(rows["method_applied"]) == [False, True]
    default = dataclasses.replace(config, out="")
    assert engine.run_folder_name(default, Toy()) == "runs/fashion-mnist_resnet18_dash_J2_toy"
    with pytest.raises(SettingsError, match="protocol must be one of .*toy; got 'nope'"):
        run_protocol(config, "nope")

    # Through the command line, with a registered data set, model and method too.
    register_dataset("vectors", lambda root: vectors())
    register_model("tiny", _tiny_build, flat=True)
    register_method(ScaleHead)
    out = tmp_path / "cli"
    argv = ["train", "--protocol", "toy", "--toy-rounds", "3", "--data", "vectors", "--model", "tiny", "--width", "8",
            "--method", "ScaleHead", "--factor", "0.25", "--max-epochs", "1", "--device", "cpu", "--out", str(out),
            "--no-progress"]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "protocol: toy" in printed and f"run folder: {out}" in printed
    metrics = pd.read_csv(out / "metrics.csv")
    assert list(metrics["n_train"]) == [20, 40, 60] and (metrics["factor"] == 0.25).all()
    assert (metrics["method"] == "ScaleHead").all() and (metrics["model"] == "tiny").all()
    stored = json.loads((out / "config.json").read_text())
    assert stored["protocol_settings"] == {"toy_rounds": 3} and stored["method_params"] == {"factor": 0.25}
    for flags, needle in (
        (["--toy-rounds", "2"], "--toy-rounds is a setting of protocol toy, not of incremental"),
        (["--method", "dash", "--factor", "0.5"], "--factor is a setting of method ScaleHead, not of dash"),
        (["--protocol", "toy", "--toy-rounds", "7"], "toy_rounds must be at most 6, got 7"),
    ):
        with pytest.raises(SystemExit) as info:
            cli.main(["train", "--data", "vectors", "--model", "tiny", "--device", "cpu", "--out", str(tmp_path / "x"),
                      "--no-progress", *flags])
        assert info.value.code == 2 and needle in capsys.readouterr().err
        assert not (tmp_path / "x").exists()

    # Duplicates and malformed plans are refused.
    assert register_protocol(Toy) is Toy

    @dataclasses.dataclass(frozen=True)
    class Imposter(Toy):
        name = "incremental"

    @dataclasses.dataclass(frozen=True)
    class Twin(Toy):
        pass

    @dataclasses.dataclass(frozen=True)
    class Nameless(Plan):
        pass

    with pytest.raises(ValueError, match="protocol name 'incremental' is already registered for Incremental"):
        register_protocol(Imposter)
    with pytest.raises(ValueError, match="protocol name 'toy' is already registered for Toy"):
        register_protocol(Twin)
    for wrong in (Toy(), TinyNet):  # a plan object, not its class; not a Plan
        with pytest.raises(TypeError, match="register_protocol takes a dataclass subclass of Plan"):
            register_protocol(wrong)
    with pytest.raises(ValueError, match="needs a class attribute name"):
        register_protocol(Nameless)
    assert PROTOCOLS["incremental"].__name__ == "Incremental" and PROTOCOLS["toy"] is Toy


@dataclasses.dataclass(frozen=True)
class BatchSized(Method):
    batch_size: int = 8  # named like the training setting TrainConfig.batch_size

    def before_experiment(self, learner, chunks, *, generator):
        return learner


@dataclasses.dataclass(frozen=True)
class OnlineLike(Method):
    k: int = 3  # named like the online protocols' setting k

    def before_experiment(self, learner, chunks, *, generator):
        return learner


@dataclasses.dataclass(frozen=True)
class LamPlan(Toy):
    name = "lam-plan"
    lam: float = 0.5  # named like the hyper-parameter lam of sp, shrink and dash


@dataclasses.dataclass(frozen=True)
class IntRounds(Toy):
    name = "int-rounds"
    rounds: int = 2  # named like the online protocols' rounds, with another type (int, not Optional[int])


@pytest.mark.parametrize("register,cls,field", [
    (register_method, BatchSized, "batch_size"), (register_method, OnlineLike, "k"),
    (register_protocol, LamPlan, "lam"), (register_protocol, IntRounds, "rounds"),
])
def test_a_field_clashing_with_a_flag_is_refused_or_the_cli_still_works(registries, register, cls, field):
    try:
        register(cls)
    except ValueError as err:  # refused when registered, naming the field: fine
        assert field in str(err)
    else:
        cli.build_parser()  # accepted: then the command line must keep working


@dataclasses.dataclass(frozen=True)
class PretrainFactor(ScaleHead):
    pretrain_epochs: int = 99  # named like two-phase's unit variable


def test_a_hyper_parameter_named_like_a_unit_variable_is_a_settings_error(tmp_path):
    with pytest.raises(SettingsError, match="pretrain_epochs"):
        run_protocol(_config(tmp_path, max_epochs=1), PROTOCOLS["two-phase"](pretrain_epochs=(1,)), dataset=vectors(),
                     model=vector_net, method=PretrainFactor())
    assert not (tmp_path / "run").exists()


# --- 3. the run folder's lock ----------------------------------------------------------------


def test_a_run_folder_is_locked_while_open(tmp_path, capsys):
    path = tmp_path / "r"
    first = runs.RunFolder(path, {"a": 1})
    with pytest.raises(runs.RunFolderBusyError, match=rf"run folder {path} is already open in this process"):
        runs.RunFolder(path, {"a": 1})  # even in the same process
    config = _config(tmp_path, "r", method="warm", J=2, max_epochs=1)
    with pytest.raises(runs.RunFolderBusyError):
        run_protocol(config, "incremental", dataset=vectors(), model=vector_net)
    argv = ["train", "--data", "digits", "--model", "mlp", "--width", "8", "--J", "2", "--subset", "40",
            "--max-epochs", "1", "--device", "cpu", "--out", str(path), "--no-progress"]
    assert cli.main(argv) == 1 and "is already open" in capsys.readouterr().err
    assert json.loads((path / "config.json").read_text()) == {"a": 1} and not (path / "metrics.csv").exists()
    first.close()
    first.close()  # idempotent
    with runs.RunFolder(path, {"a": 1}) as second:
        assert not second.is_new
        with pytest.raises(runs.RunFolderBusyError):
            runs.RunFolder(path, {"a": 1})
    with runs.RunFolder(path, {"a": 1}):  # the with block released it
        pass
    # A finished engine run released its folder: the same call resumes it at once.
    done = run_protocol(_config(tmp_path, "done", method="warm", J=2, max_epochs=1), "incremental",
                        dataset=vectors(), model=vector_net)
    again = run_protocol(_config(tmp_path, "done", method="warm", J=2, max_epochs=1), "incremental",
                         dataset=vectors(), model=vector_net)
    pd.testing.assert_frame_equal(again, done)


_HOLDER = textwrap.dedent(
    """
    import sys, time
    from dashsim import runs

    folder = runs.RunFolder(sys.argv[1], {"a": 1})
    print("locked", flush=True)
    time.sleep(300)
    """
)


def test_the_lock_of_a_killed_process_is_released(tmp_path):
    path = tmp_path / "r"
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(path)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(runs.RunFolderBusyError, match=rf"\(pid {holder.pid}\)"):
            runs.RunFolder(path, {"a": 1})
    finally:
        holder.kill()  # SIGKILL: no clean-up code of the holder runs
        holder.wait(timeout=60)
        holder.stdout.close()
    assert holder.returncode == -signal.SIGKILL
    with runs.RunFolder(path, {"a": 1}) as folder:
        assert not folder.is_new


# --- 4. run folder format --------------------------------------------------------------------


def test_a_folder_of_another_dashsim_version_is_refused(tmp_path):
    pieces = dict(dataset=vectors(), model=vector_net, method="warm")
    config = _config(tmp_path, J=2, max_epochs=1)
    run_protocol(config, "incremental", **pieces)
    config_path = tmp_path / "run" / "config.json"
    stored = json.loads(config_path.read_text())
    assert stored["run_format"] == 2
    for fmt, written in ((1, {k: v for k, v in stored.items() if k != "run_format"}), (3, dict(stored, run_format=3))):
        # Format 1: the folders dashsim wrote before the engine, whose config.json has no run_format.
        config_path.write_text(json.dumps(written))
        message = rf"was written by another version of dashsim \(run folder format {fmt}, this version writes 2\)"
        with pytest.raises(runs.ConfigMismatchError, match=message + ".*delete the folder"):
            run_protocol(config, "incremental", **pieces)
        assert json.loads(config_path.read_text()) == written  # refused, not overwritten
    with pytest.raises(runs.ConfigMismatchError, match="another version of dashsim"):
        runs.RunFolder(tmp_path / "run", stored)


# --- 5 and 6. settings the machine or the data cannot satisfy: errors before any run folder ---------


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA device")
@pytest.mark.parametrize("device", ["cuda", "cuda:0"])
def test_a_cuda_device_on_a_cpu_machine_is_an_error_before_any_folder(tmp_path, capsys, device):
    config = _config(tmp_path, "api", device=device, method="warm")
    with pytest.raises(SettingsError, match=f"device '{device}' asked for, but this machine's torch has no CUDA"):
        run_protocol(config, "incremental", dataset=vectors(), model=vector_net)
    assert not (tmp_path / "api").exists()
    with pytest.raises(SystemExit) as info:
        cli.main(["train", "--data", "digits", "--model", "mlp", "--device", device, "--out", str(tmp_path / "cli"),
                  "--no-progress"])
    assert info.value.code == 2 and "has no CUDA device" in capsys.readouterr().err
    assert not (tmp_path / "cli").exists()


def test_a_registered_model_that_cannot_take_the_data_is_an_error_before_any_folder(tmp_path, capsys):
    digits = load_dataset("digits")
    with pytest.raises(SettingsError, match=r"model 'resnet18' needs square images of side 28 or 32 or 64; the data's "
                                            r"images are 8x8 .*\(data set 'digits'\)"):
        run_protocol(_config(tmp_path, "api", model="resnet18"), "incremental", dataset=digits)
    with pytest.raises(SettingsError, match=r"model 'vgg16_bn' takes images \(C, H, W\)"):
        run_protocol(_config(tmp_path, "api", model="vgg16_bn"), "two-phase", dataset=vectors())
    assert not (tmp_path / "api").exists()
    with pytest.raises(SystemExit) as info:
        cli.main(["train", "--data", "digits", "--model", "resnet18_cifar", "--device", "cpu", "--out",
                  str(tmp_path / "cli"), "--no-progress"])
    assert info.value.code == 2 and "model 'resnet18_cifar' needs square images" in capsys.readouterr().err
    assert not (tmp_path / "cli").exists()
    # Augmentation and channels_last need images: a settings error for vectors, before any folder.
    with pytest.raises(SettingsError, match="augment and channels_last need images"):
        run_protocol(_config(tmp_path, "api", augment=True), "incremental", dataset=vectors(), model=vector_net)
    assert not (tmp_path / "api").exists()
