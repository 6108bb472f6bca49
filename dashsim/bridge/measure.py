"""The simulator's quantities measured on a trained network: learned features, N^(j,0), memorized points.

Every probe runs the network in eval mode (BatchNorm running statistics, as DASH's gradient pass
and the test accuracy do), without gradients, and restores the model's mode afterwards.

References
----------
Shin, Oh, Cho, Yun, "DASH: Warm-Starting Neural Network Training in Stationary Settings without
Loss of Plasticity", NeurIPS 2024, Section 3.1 (L, M, N and well-classified points).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dashsim._validate import check_int, check_real

from .inputs import FeatureEmbedding, embed

__all__ = ["FeatureScores", "margins", "feature_scores", "learned_features", "is_learned", "point_losses",
           "nonzero_gradient", "memorized", "correct", "feature_correct", "jaccard"]


@torch.no_grad()
def _logits(model: nn.Module, x: Tensor, batch_size: int = 1024) -> Tensor:
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        out = [model(x[s:s + batch_size].to(device)).float().cpu() for s in range(0, x.shape[0], batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(out) if out else torch.zeros((0, 0))


def margins(logits: Tensor, classes: Tensor) -> Tensor:
    """``m_c(z) = z_c - max_{c' != c} z_{c'}`` for each row z of ``logits`` and its class c in ``classes``."""
    own = logits.gather(1, classes[:, None])[:, 0]
    others = logits.scatter(1, classes[:, None], float("-inf"))
    return own - others.max(dim=1).values


@dataclasses.dataclass(frozen=True)
class FeatureScores:
    """Each pure feature's push on its class's margin, and the same push of unseen random patterns."""

    scores: np.ndarray  # (C, K) float64: s_{c,k} = m_c(f(a v_{c,k})) - m_c(f(0))
    null_rms: float  # sigma_0 = root mean square of m_c(f(a u)) - m_c(f(0)) over random unit u and classes c


def feature_scores(model: nn.Module, embedding: FeatureEmbedding, *, scale: float | None = None,
                   n_null: int = 64, seed: int = 0) -> FeatureScores:
    """How much each pure feature pattern raises its own class's margin, next to what random patterns do.

    ``s_{c,k} = m_c(f(a v_{c,k})) - m_c(f(0))`` with ``f`` = ``model``, ``v_{c,k}`` the pattern of
    ``embedding``, ``a`` = ``scale`` (default ``embedding.feature_strength``: the feature as strong
    as in a data point), ``m_c`` the class-c logit margin (:func:`margins`) and ``0`` the empty
    input (no feature, no noise), so a margin the network gives every input is not counted.
    ``sigma_0 = sqrt(mean_{u, c} (m_c(f(a u)) - m_c(f(0)))^2)`` over ``n_null`` random unit
    patterns ``u`` orthogonal to every feature (drawn like a point's noise, never seen in training)
    and every class c: the push an arbitrary pattern of the same norm gets.

    Returns
    -------
    FeatureScores (scores (C, K), null_rms).
    """
    a = embedding.feature_strength if scale is None else check_real("scale", scale)
    n_null = check_int("n_null", n_null)
    C, K = embedding.num_classes, embedding.K
    probes = torch.from_numpy((a * embedding.patterns).astype(np.float32)).reshape(C * K, *embedding.shape)
    # Pure noise points (no features) of norm a: embed's noise, rescaled.
    null = embed(embedding, np.zeros((n_null, K), dtype=bool), np.zeros(n_null, dtype=np.int64), seed=seed).noise
    null = null * (a / embedding.noise_strength)
    zero = torch.zeros((1, *embedding.shape))
    logits = _logits(model, torch.cat([probes, null, zero]))
    base = logits[-1:]
    base_margin = margins(base.expand(C, -1), torch.arange(C))  # (C,)
    classes = torch.arange(C).repeat_interleave(K)
    scores = margins(logits[:C * K], classes) - base_margin[classes]
    null_logits = logits[C * K:-1]
    null_scores = torch.stack([margins(null_logits, torch.full((n_null,), c)) - base_margin[c] for c in range(C)])
    return FeatureScores(scores=scores.double().numpy().reshape(C, K),
                         null_rms=float(null_scores.double().pow(2).mean().sqrt()))


def learned_features(model: nn.Module, embedding: FeatureEmbedding, *, threshold: float = 3.0,
                     scale: float | None = None, n_null: int = 64, seed: int = 0,
                     min_score: float = 1e-3) -> np.ndarray:
    """The network's learned set: ``v_{c,k} in L`` iff ``s_{c,k} > max(threshold * sigma_0, min_score)``, (C, K) bool.

    ``s_{c,k}`` and ``sigma_0`` are :func:`feature_scores`: the pure feature, as strong as in the
    data, must raise its class's margin (over the empty input) ``threshold`` times more than an
    unseen random pattern of the same norm does (default 3, a "three sigma" push). Why this rule: in
    the framework a learned feature is one the model uses to classify its class, and a point
    fitted only through its own noise gives its features no such push, because every noise
    direction is orthogonal to every feature pattern. Measuring against random patterns makes the
    rule free of the logit scale, which grows with training and differs between methods.

    Parameters
    ----------
    model : the trained network.
    embedding : the feature patterns the data was built from.
    threshold : multiple of sigma_0 a score must exceed (>= 0).
    scale : norm of the probe patterns (default: ``embedding.feature_strength``).
    n_null, seed : number of random patterns for sigma_0 and their seed.
    min_score : floor in logit units, so float32 rounding (sigma_0 near 0) never counts as learning.

    Returns
    -------
    (C, K) bool, the network's counterpart of the simulator's ``L``.

    References
    ----------
    Shin et al., NeurIPS 2024, Section 3.1 (learned features L).
    """
    threshold = check_real("threshold", threshold, positive=False)
    if threshold < 0:
        raise ValueError(f"threshold must be >= 0; got {threshold}")
    min_score = check_real("min_score", min_score, positive=False)
    return is_learned(feature_scores(model, embedding, scale=scale, n_null=n_null, seed=seed), threshold, min_score)


def is_learned(scores: FeatureScores, threshold: float = 3.0, min_score: float = 1e-3) -> np.ndarray:
    """The rule of :func:`learned_features` applied to computed scores: ``s > max(threshold * sigma_0, min_score)``."""
    return scores.scores > max(threshold * scores.null_rms, min_score)


@torch.no_grad()
def point_losses(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """Per-point cross-entropy ``l_i = -log softmax(f(x_i))_{y_i}`` in eval mode, shape (n,)."""
    return F.cross_entropy(_logits(model, x), y.cpu(), reduction="none")


def nonzero_gradient(model: nn.Module, x: Tensor, y: Tensor, *, loss_threshold: float = 0.1) -> np.ndarray:
    """Points whose gradient is still non-zero: ``l_i > loss_threshold`` (the network's N), shape (n,) bool.

    The framework's ``N = {x : |V(x) ∩ L| < tau, x ∉ M}`` holds the points not yet fitted; a network
    never reaches exactly zero loss, so "non-zero gradient" is read as a per-point cross-entropy
    above a small ``loss_threshold`` (default 0.1: the correct class's probability below 0.905).
    Measured at the start of an experiment, its size is the network's ``|N^(j,0)|``.

    References
    ----------
    Shin et al., NeurIPS 2024, Section 3.2 (N^(j,0) as a proxy of training time).
    """
    loss_threshold = check_real("loss_threshold", loss_threshold)
    return (point_losses(model, x, y) > loss_threshold).numpy()


def correct(model: nn.Module, x: Tensor, y: Tensor) -> np.ndarray:
    """Points the network classifies correctly in eval mode: ``argmax f(x_i) = y_i``, shape (n,) bool."""
    return (_logits(model, x).argmax(dim=1) == y.cpu()).numpy()


def feature_correct(model: nn.Module, x: Tensor, y: Tensor, noise: Tensor) -> np.ndarray:
    """Points the network classifies correctly with their noise removed: ``argmax f(x_i - xi_i) = y_i``."""
    return correct(model, x - noise, y)


def memorized(model: nn.Module, x: Tensor, y: Tensor, noise: Tensor) -> np.ndarray:
    """Points fitted only through their noise: ``argmax f(x_i) = y_i`` and ``argmax f(x_i - xi_i) != y_i``.

    ``xi_i`` = ``noise[i]`` (the noise term of the point, :class:`~dashsim.bridge.inputs.BridgeInputs`).
    The framework's memorized set M holds points fitted without ``tau`` learned features of their
    class; here: correct on the point, wrong on its features alone.

    Returns
    -------
    (n,) bool.

    References
    ----------
    Shin et al., NeurIPS 2024, Section 3.1 (memorized set M).
    """
    if x.shape != noise.shape:
        raise ValueError(f"noise must have the shape of x {tuple(x.shape)}; got {tuple(noise.shape)}")
    return correct(model, x, y) & ~feature_correct(model, x, y, noise)


def jaccard(a, b) -> float:
    """``|A ∩ B| / |A ∪ B|`` of two boolean sets of equal shape; 1.0 when both are empty (they agree)."""
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"jaccard needs sets of equal shape; got {a.shape} and {b.shape}")
    union = int((a | b).sum())
    return 1.0 if union == 0 else int((a & b).sum()) / union
