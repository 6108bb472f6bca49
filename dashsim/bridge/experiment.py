"""Theory meets practice: the simulator and real networks on the same framework data, side by side.

For each seed one framework dataset is drawn (C classes, K features each, presence probabilities
``p[c, :] = sort(p_max * U(0, 1)^K)`` as in the paper's Figure 3 with ``p_max = 0.2``; J chunks of
``n_per_chunk`` points). The simulator runs cold / warm / ideal on those arrays
(:func:`dashsim.simulate`); the same points, embedded as real inputs (:mod:`dashsim.bridge.inputs`),
train a network over the J experiments with each torch method (cold, warm, S&P, DASH from
:data:`dashsim.nn.METHODS`), and after every experiment the network's learned set, non-zero-gradient
points and memorized points are measured (:mod:`dashsim.bridge.measure`). Network runs are cached
per (method, seed) in :class:`dashsim.runs.RunFolder` folders and resume after an interruption.

References
----------
Shin, Oh, Cho, Yun, "DASH: Warm-Starting Neural Network Training in Stationary Settings without
Loss of Plasticity", NeurIPS 2024, Sections 3 (framework, Theorems 3.4 and 3.6) and 5 (protocol).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd
import torch

from .._config import config_to_dict
from .._progress import progress_bar
from ..nn import engine
from ..nn.data import ImageDataset
from ..nn.methods import METHODS, Learner
from ..sim.accuracy import accuracy_on
from ..sim.simulator import simulate
from ..sim.synthetic import sample_test_set
from ..nn.models import MODELS
from ..nn.train import TrainConfig, TrainingData, resolve_device
from . import measure
from .inputs import KINDS, BridgeInputs, FeatureEmbedding, make_inputs

__all__ = ["BridgeConfig", "BridgeData", "sample_bridge_data", "run_bridge", "run_bridge_sweep", "COLUMNS",
           "SIM_METHODS", "PAIRED", "network_run_dir"]

logger = logging.getLogger(__name__)

SIM_METHODS = ("cold", "warm", "ideal")
# The simulator method each network method is compared with (DASH aims at the ideal method).
PAIRED = {"cold": "cold", "warm": "warm", "dash": "ideal"}
COLUMNS = (
    "side", "method", "seed", "experiment", "n_train", "test_accuracy", "n_learned", "n_nonzero", "n_memorized",
    "n_feature_correct", "jaccard", "jaccard_cold", "jaccard_warm", "jaccard_ideal", "steps", "epochs", "converged",
    "n_wrong_start", "n_learned_abs", "null_rms", "wall_time_s", "learned",
)
# Sensitivity check of the learned-feature rule: an absolute push of one logit instead of k sigma_0.
ABSOLUTE_SCORE = 1.0


def _field(default: Any, help: str, **metadata: Any) -> Any:
    return dataclasses.field(default=default, metadata={"help": help, **metadata})


@dataclasses.dataclass(frozen=True)
class BridgeConfig:
    """One bridge experiment; the defaults are the paper's Figure 3 setting and its MLP (a GPU-sized run).

    Optional fields use ``typing.Optional`` for the shared command-line flag deriver (``dashsim._config``).
    """

    C: int = _field(2, "classes")  # C
    K: int = _field(50, "features per class")  # K
    n_per_chunk: int = _field(1000, "points per experiment (a multiple of C)")  # n
    J: int = _field(50, "experiments")  # J
    p_max: float = _field(0.2, "feature probabilities p[c,k] = sort(p_max * U(0,1)); "
                               "mean features per point K*p_max/2")  # paper 0.2
    gamma: float = _field(50.0, "simulator: learning threshold in points")  # gamma
    tau: int = _field(3, "simulator: learned features that make a point well-classified")  # tau
    n_test: int = _field(2000, "test points (a multiple of C)")
    kind: str = _field("vector", "inputs: orthonormal vectors (MLP) or image patches (conv nets)", choices=KINDS)
    dim: int = _field(512, "vector input dimension D (> C*K)")  # D
    image_size: int = _field(32, "image side (kind=image)")
    channels: int = _field(1, "image channels (kind=image)")
    patch_size: int = _field(4, "feature patch side (kind=image)")
    feature_strength: float = _field(1.0, "norm of one feature's term in an input")
    noise_strength: float = _field(3.0, "norm of a point's own noise (framework: > feature_strength)")
    model: str = _field("mlp", "network", choices=MODELS)
    width: int = _field(1000, "MLP hidden width (the paper's MLP: about 1000)")
    lr: Optional[float] = _field(None, "learning rate (default: the paper's, 0.01 MLP, 0.001 ResNet-18)")
    batch_size: int = _field(128, "mini-batch size")
    max_epochs: int = _field(100, "epoch cap per experiment")
    target_accuracy: float = _field(0.999, "epoch train accuracy that ends an experiment")
    methods: tuple[str, ...] = _field(("cold", "warm", "sp", "dash"), "network methods (dashsim.nn.METHODS)")
    seeds: tuple[int, ...] = _field((0, 1, 2), "seeds (data, patterns, noise and network)")
    probe_threshold: float = _field(3.0, "learned feature: push > this many sigma of random patterns")
    loss_threshold: float = _field(0.1, "non-zero gradient: per-point loss above this")
    device: str = _field("auto", "auto, cpu, cuda or cuda:N")

    def __post_init__(self) -> None:
        def need(ok: bool, field: str, allowed: str) -> None:
            if not ok:
                raise ValueError(f"BridgeConfig.{field} = {getattr(self, field)!r}: must be {allowed}")

        for name in ("C", "K", "n_per_chunk", "J", "tau", "n_test", "dim", "image_size", "channels", "patch_size",
                     "width", "batch_size", "max_epochs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"BridgeConfig.{name} = {value!r}: must be an int")
            need(value >= 1, name, "an int >= 1")
        need(self.n_per_chunk % self.C == 0, "n_per_chunk", f"a multiple of C = {self.C}")
        need(self.n_test % self.C == 0, "n_test", f"a multiple of C = {self.C}")
        need(0 < self.p_max <= 1, "p_max", "in (0, 1]")
        need(self.gamma > 0, "gamma", "> 0")
        need(self.tau <= self.K, "tau", f"an int in [1, K = {self.K}]")
        need(self.kind in KINDS, "kind", f"one of {KINDS}")
        need(self.model in MODELS, "model", f"one of {MODELS}")
        need(self.kind == "image" or self.model == "mlp", "model",
             "'mlp' for kind='vector' (conv nets need kind='image')")
        need(self.kind == "image" or self.dim > self.C * self.K, "dim", f"> C*K = {self.C * self.K}")
        for name in ("feature_strength", "noise_strength"):
            need(np.isfinite(getattr(self, name)) and getattr(self, name) > 0, name, "a finite number > 0")
        need(self.lr is None or self.lr > 0, "lr", "> 0 or None")
        need(0 < self.target_accuracy <= 1, "target_accuracy", "in (0, 1]")
        need(len(self.methods) >= 1 and all(m in METHODS for m in self.methods)
             and len(set(self.methods)) == len(self.methods),
             "methods", f"distinct names from {tuple(METHODS)}")
        need(len(self.seeds) >= 1 and len(set(self.seeds)) == len(self.seeds)
             and all(isinstance(s, (int, np.integer)) and 0 <= s < 2**32 for s in self.seeds), "seeds",
             "distinct ints in [0, 2**32)")
        need(self.probe_threshold >= 0, "probe_threshold", ">= 0")
        need(self.loss_threshold > 0, "loss_threshold", "> 0")

    def train_config(self, method: str) -> TrainConfig:
        """The :class:`dashsim.nn.TrainConfig` whose training-loop fields this run uses (its data field is unused)."""
        return TrainConfig(model=self.model, width=self.width, method=method, lr=self.lr, batch_size=self.batch_size,
                           max_epochs=self.max_epochs, target_accuracy=self.target_accuracy, device=self.device,
                           seeds=tuple(self.seeds))


@dataclasses.dataclass(frozen=True, eq=False)
class BridgeData:
    """One seed's framework data (simulator arrays) and its embedding as real inputs."""

    features: np.ndarray  # (n*J, K) bool: which of class labels[i]'s features point i has
    labels: np.ndarray  # (n*J,) int64
    chunk: np.ndarray  # (n*J,) int64: experiment (minus one) of arrival
    probs: np.ndarray  # (C, K) feature probabilities
    test_features: np.ndarray  # (n_test, K) bool
    test_labels: np.ndarray  # (n_test,) int64
    embedding: FeatureEmbedding
    train: BridgeInputs  # embedded training points, in the order of ``features``
    test: BridgeInputs  # embedded test points


def sample_bridge_data(config: BridgeConfig, seed: int) -> BridgeData:
    """Draw one seed's framework data and embed it: ``p[c,:] = sort(p_max U(0,1)^K)``, chunk j = points j*n..(j+1)*n-1.

    Points alternate classes (``c = i mod C``, :func:`dashsim.sample_test_set`), so each chunk has
    ``n/C`` points per class; the test set comes from the same probabilities; the embedding
    (:func:`dashsim.bridge.inputs.make_inputs`) uses ``seed`` for patterns and noise.
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 6]))
    probs = -np.sort(-config.p_max * rng.random((config.C, config.K)), axis=1)
    n_total = config.n_per_chunk * config.J
    features, labels = sample_test_set(probs, n_total, seed=rng)
    chunk = np.arange(n_total, dtype=np.int64) // config.n_per_chunk
    test_features, test_labels = sample_test_set(probs, config.n_test, seed=rng)
    embedding, train, test = make_inputs(
        features, labels, num_classes=config.C, test_features=test_features, test_labels=test_labels,
        kind=config.kind, dim=config.dim, image_size=config.image_size, channels=config.channels,
        patch_size=config.patch_size, feature_strength=config.feature_strength,
        noise_strength=config.noise_strength, seed=int(seed))
    return BridgeData(features=features, labels=labels, chunk=chunk, probs=probs, test_features=test_features,
                      test_labels=test_labels, embedding=embedding, train=train, test=test)


def _bits(learned: np.ndarray) -> str:
    return "".join("1" if v else "0" for v in np.asarray(learned, dtype=bool).ravel())


def _unbits(text: str, shape: tuple[int, int]) -> np.ndarray:
    return np.frombuffer(str(text).encode(), dtype=np.uint8).reshape(shape) == ord("1")


def _simulator_rows(config: BridgeConfig, data: BridgeData, seed: int) -> list[dict[str, Any]]:
    result = simulate(data.features, data.labels, data.chunk, gamma=config.gamma, tau=config.tau,
                      methods=SIM_METHODS, num_classes=config.C)
    accuracy = accuracy_on(result.learned, data.test_features, data.test_labels, config.tau)
    rows = []
    for m, method in enumerate(result.methods):
        for j in range(1, config.J + 1):
            learned = result.learned[m, j - 1]
            n_train = j * config.n_per_chunk
            hits = (learned[data.labels[:n_train]] & data.features[:n_train]).sum(axis=1)
            rows.append({
                "side": "simulator", "method": method, "seed": int(seed), "experiment": j, "n_train": n_train,
                "test_accuracy": float(accuracy[m, j - 1]), "n_learned": int(learned.sum()),
                "n_nonzero": int(result.n_nonzero[m, j - 1]), "n_memorized": int(result.n_memorized[m, j - 1]),
                "n_feature_correct": int((hits >= config.tau).sum()), "learned": _bits(learned),
            })
    return rows


def _network_settings(config: BridgeConfig) -> dict[str, Any]:
    """The bridge settings a network run depends on.

    All but the simulator's gamma and tau, the seeds, methods and device.
    """
    values = config_to_dict(config)
    for key in ("methods", "seeds", "device", "gamma", "tau"):
        values.pop(key)
    return values


def network_run_dir(out: str | Path, config: BridgeConfig, method: str, seed: int) -> Path:
    """``out/<hash of the network settings>/<method>_seed<seed>``: one folder per network run, shared by
    settings that differ only in simulator fields (gamma, tau), seeds or the list of methods."""
    digest = hashlib.sha1(json.dumps(_network_settings(config), sort_keys=True, default=str).encode()).hexdigest()[:12]
    return Path(out) / digest / f"{method}_seed{int(seed)}"


@dataclasses.dataclass(frozen=True, eq=False)
class NetworkSide(engine.Plan):
    """The bridge's network side as an engine plan: experiment j trains on the first j chunks.

    Measured before training: the points of T_{1:j} with loss above ``loss_threshold`` (the network's
    ``|N^(j,0)|``) and those misclassified; after: the learned set, memorized and feature-correct points.
    """

    name = "bridge"
    config: BridgeConfig  # the bridge setting
    data: BridgeData  # this seed's framework data and its embedding (not recorded: it follows from config and seed)
    noise: torch.Tensor  # each training point's noise term, on the training device

    def settings(self) -> dict[str, Any]:
        return _network_settings(self.config)

    def n_rounds(self, config: TrainConfig, data: TrainingData) -> int:
        return self.config.J

    def round(self, j: int, learner: Learner, data: TrainingData, state: dict[str, torch.Tensor]) -> engine.Round:
        n, device = self.config.n_per_chunk, data.x.device
        return engine.Round(train=torch.arange(j * n, device=device), apply_method=j >= 2,
                            chunks=[torch.arange(i * n, (i + 1) * n, device=device) for i in range(j)])

    def measure(self, when: str, learner: Learner, context: engine.ProbeContext, state) -> dict[str, Any]:
        seen = context.train_indices
        x, y, model = context.x[seen], context.y[seen], learner.model
        if when == "before":
            losses = measure.point_losses(model, x, y)
            # The points it gets wrong before training: what must be (re)learned, by features or by noise.
            return {"n_nonzero": int((losses > self.config.loss_threshold).sum()),
                    "n_wrong_start": int((~measure.correct(model, x, y)).sum())}
        scores = measure.feature_scores(model, self.data.embedding, seed=int(context.seed))
        learned = measure.is_learned(scores, self.config.probe_threshold)
        noise = self.noise[seen]
        return {"n_learned": int(learned.sum()), "n_memorized": int(measure.memorized(model, x, y, noise).sum()),
                "n_feature_correct": int(measure.feature_correct(model, x, y, noise).sum()),
                "n_learned_abs": int((scores.scores > ABSOLUTE_SCORE).sum()), "null_rms": scores.null_rms,
                "learned": _bits(learned)}


def _network_rows(config: BridgeConfig, data: BridgeData, method_name: str, seed: int, out: str | Path | None,
                  progress: bool) -> list[dict[str, Any]]:
    """Train one (method, seed) over the J experiments on the engine, measuring after each; resumes from its folder."""
    dataset = ImageDataset.from_tensors(data.train.x, data.train.y, data.test.x, data.test.y, name="bridge",
                                        num_classes=config.C)
    train_config = dataclasses.replace(config.train_config(method_name), seeds=(int(seed),))
    if out is not None:
        train_config = dataclasses.replace(train_config, out=str(network_run_dir(out, config, method_name, seed)))
    device = resolve_device(config.device)
    plan = NetworkSide(config, data, data.train.noise.to(device))
    if out is None:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="dashsim_bridge_") as tmp:
            rows = engine.run(dataclasses.replace(train_config, out=tmp), plan, dataset=dataset, progress=progress)
    else:
        rows = engine.run(train_config, plan, dataset=dataset, progress=progress)
    rows = rows.assign(side="network")
    return rows.to_dict("records")


def _add_agreement(frame: pd.DataFrame, C: int, K: int) -> pd.DataFrame:
    """Jaccard of every row's learned set with each simulator method's set at the same seed and experiment."""
    sim = frame[frame.side == "simulator"].set_index(["method", "seed", "experiment"])["learned"]
    for target in SIM_METHODS:
        frame[f"jaccard_{target}"] = [
            measure.jaccard(_unbits(bits, (C, K)), _unbits(sim[(target, seed, j)], (C, K)))
            for bits, seed, j in zip(frame.learned, frame.seed, frame.experiment)]
    paired = frame.method.map(PAIRED)
    frame["jaccard"] = [row[f"jaccard_{p}"] if side == "network" and isinstance(p, str) else np.nan
                        for (_, row), p, side in zip(frame.iterrows(), paired, frame.side)]
    return frame


def run_bridge(config: BridgeConfig, *, out: str | Path | None = None, progress: bool = False) -> pd.DataFrame:
    """Run the simulator and the networks on the same data; one tidy row per (side, method, seed, experiment).

    Per seed: data from :func:`sample_bridge_data`; simulator rows for cold / warm / ideal
    (:func:`dashsim.simulate`, test accuracy by :func:`dashsim.accuracy_on` on the framework test
    points); network rows for each of ``config.methods``: experiment j applies the method
    (``j >= 2``), counts the points of T_{1:j} with loss above ``loss_threshold`` (the network's
    ``|N^(j,0)|``), trains to ``target_accuracy`` (:func:`dashsim.nn.train.train_until_target`), then
    measures test accuracy, the learned set (:func:`dashsim.bridge.measure.learned_features` rule),
    memorized and feature-correct points of T_{1:j}. Two network-only checks: ``n_wrong_start``,
    the points of T_{1:j} misclassified at the start (before training), and ``n_learned_abs``, the
    features whose score exceeds one logit (the learned-set rule without its sigma_0 scale). ``jaccard_<m>`` is
    ``|L ∩ L_sim,m| / |L ∪ L_sim,m|`` against simulator method m, ``jaccard`` against the paired
    method (:data:`PAIRED`: cold-cold, warm-warm, dash-ideal).

    Parameters
    ----------
    config : the setting.
    out : folder for cached network runs, one :class:`dashsim.runs.RunFolder` per (method, seed) at
        :func:`network_run_dir` (re-running resumes or reuses them); None keeps nothing on disk.
    progress : show progress (a bar, or plain lines in logs).

    Returns
    -------
    pandas.DataFrame with columns :data:`COLUMNS` (network-only columns are NaN on simulator rows;
    ``learned`` is the C*K learned set as a string of 0/1, flat index c*K + k).

    References
    ----------
    Shin et al., NeurIPS 2024, Section 3.2 (cold / warm / ideal, |N^(j,0)|), Theorems 3.4 and 3.6,
    Section 5 (training to 99.9% train accuracy), Algorithm 1 (DASH).
    """
    if not isinstance(config, BridgeConfig):
        raise TypeError(f"config must be a BridgeConfig; got {type(config).__name__}")
    rows: list[dict[str, Any]] = []
    work = [(seed, method) for seed in config.seeds for method in config.methods]
    bar = progress_bar(total=len(work), desc="bridge runs", unit="run", disable=not progress)
    try:
        for seed in config.seeds:
            data = sample_bridge_data(config, int(seed))
            rows += _simulator_rows(config, data, int(seed))
            for method in config.methods:
                rows += _network_rows(config, data, method, int(seed), out, progress)
                bar.update(1)
    finally:
        bar.close()
    frame = pd.DataFrame(rows)
    frame = _add_agreement(frame, config.C, config.K)
    return frame.reindex(columns=list(COLUMNS))


def run_bridge_sweep(base: BridgeConfig, param: str, values, *, out: str | Path | None = None,
                     progress: bool = False) -> pd.DataFrame:
    """:func:`run_bridge` for each ``dataclasses.replace(base, param=value)``; rows gain a ``param`` column first.

    Network runs are cached under ``out`` (:func:`network_run_dir`), so a sweep over a simulator
    field (gamma, tau) trains each network once.
    """
    names = {f.name for f in dataclasses.fields(BridgeConfig)} - {"seeds", "methods", "device"}
    if param not in names:
        raise ValueError(f"param must be a BridgeConfig field among {sorted(names)}; got {param!r}")
    values = list(values)
    if not values or len(set(values)) != len(values):
        raise ValueError(f"values must be distinct and non-empty; got {values!r}")
    frames = []
    for value in values:
        config = dataclasses.replace(base, **{param: value})
        frame = run_bridge(config, out=out, progress=progress)
        frame.insert(0, param, value)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
