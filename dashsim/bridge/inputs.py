"""Real inputs for a framework dataset: every feature a fixed pattern, every point its own noise.

The simulator's data is symbolic: point i of class ``labels[i]`` holds the features
``V(x_i) = {v_{y_i,k} : features[i, k]}``. Here each feature ``v_{c,k}`` becomes a fixed unit
pattern and each point gets a noise pattern of its own, so a real network can be trained on the
very arrays :func:`dashsim.simulate` takes:

    x_i = feature_strength * sum_k features[i, k] * v_{y_i,k} + noise_strength * xi_i

with ``xi_i`` a unit vector drawn independently for every point inside the orthogonal complement
of all feature patterns. With ``noise_strength > feature_strength`` the noise of a point is
individually stronger than any of its features, yet no two points share noise, which is the
framework's assumption (Shin et al., NeurIPS 2024, Section 3.1).

References
----------
Shin, Oh, Cho, Yun, "DASH: Warm-Starting Neural Network Training in Stationary Settings without
Loss of Plasticity", NeurIPS 2024, Section 3.1 (features and noise), Appendix A.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from dashsim._validate import as_binary_matrix, as_int_vector, check_int, check_labels, check_real

__all__ = ["KINDS", "FeatureEmbedding", "BridgeInputs", "make_embedding", "embed", "make_inputs"]

KINDS = ("vector", "image")


@dataclasses.dataclass(frozen=True, eq=False)
class FeatureEmbedding:
    """The fixed patterns of every feature v_{c,k} and the strengths of features and noise."""

    patterns: np.ndarray  # (C, K, *shape) float64: unit-norm pattern of v_{c,k}, pairwise orthogonal
    shape: tuple[int, ...]  # one input's shape: (dim,) for vectors, (channels, size, size) for images
    feature_strength: float  # norm of one feature's contribution to x
    noise_strength: float  # norm of a point's noise xi (a unit vector times this)
    kind: str  # "vector" or "image"

    @property
    def num_classes(self) -> int:
        return int(self.patterns.shape[0])

    @property
    def K(self) -> int:
        return int(self.patterns.shape[1])

    @property
    def dim(self) -> int:
        """Input dimension D = prod(shape)."""
        return int(np.prod(self.shape))

    @property
    def ratio(self) -> float:
        """noise_strength / feature_strength; the framework's regime is ratio > 1."""
        return self.noise_strength / self.feature_strength

    def flat_patterns(self) -> np.ndarray:
        """(C*K, D) float64, row c*K + k = v_{c,k} flattened (the simulator's flat feature index)."""
        return self.patterns.reshape(self.num_classes * self.K, self.dim)


@dataclasses.dataclass(frozen=True, eq=False)
class BridgeInputs:
    """Embedded points: the inputs, their labels, and each point's noise term (for memorization probes)."""

    x: torch.Tensor  # (n, *shape) float32: feature_strength * sum of patterns + noise_strength * xi
    y: torch.Tensor  # (n,) int64 labels
    noise: torch.Tensor  # (n, *shape) float32: noise_strength * xi_i, so x - noise is the noise-free point


def _orthonormal_columns(rng: np.random.Generator, dim: int, count: int) -> np.ndarray:
    """``count`` orthonormal random directions in R^dim as columns (QR of a Gaussian matrix)."""
    q, r = np.linalg.qr(rng.standard_normal((dim, count)))
    # Fixing the signs by R's diagonal makes the directions uniformly (Haar) distributed.
    return q * np.sign(np.diag(r))


def make_embedding(num_classes, K, *, kind="vector", dim=None, image_size=32, channels=1, patch_size=4,
                   feature_strength=1.0, noise_strength=3.0, seed=0) -> FeatureEmbedding:
    """Draw the fixed pattern of every feature v_{c,k}, pairwise orthogonal and of unit norm.

    ``kind="vector"``: ``(v_{c,k})`` are C*K orthonormal random directions of R^dim (QR of a
    Gaussian matrix), dim > C*K so that noise has room outside them.
    ``kind="image"``: ``v_{c,k}`` is a random ``channels x patch_size x patch_size`` patch of unit
    norm placed in its own cell of a non-overlapping ``patch_size`` grid of an
    ``image_size x image_size`` image (so patterns are orthogonal and local, as a conv net expects);
    needs ``(image_size // patch_size)^2 > C*K`` cells.

    Parameters
    ----------
    num_classes : C >= 1.
    K : features per class, K >= 1.
    kind : "vector" (MLP input) or "image" (conv-net input).
    dim : vector dimension D (default ``max(2 * C * K, 64)``); must exceed C*K.
    image_size, channels, patch_size : image side, channels (1 grey, 3 colour) and patch side.
    feature_strength : norm of one feature's term in x (> 0).
    noise_strength : norm of a point's noise term (> 0); the framework wants it above feature_strength.
    seed : int, None or numpy.random.Generator for the patterns.

    Returns
    -------
    FeatureEmbedding

    References
    ----------
    Shin et al., NeurIPS 2024, Section 3.1 (each class owns K features; noise is per point).
    """
    C = check_int("num_classes", num_classes)
    K = check_int("K", K)
    feature_strength = check_real("feature_strength", feature_strength)
    noise_strength = check_real("noise_strength", noise_strength)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")
    rng = np.random.default_rng(seed)
    n_features = C * K
    if kind == "vector":
        dim = max(2 * n_features, 64) if dim is None else check_int("dim", dim)
        if dim <= n_features:
            raise ValueError(f"dim must be > C*K = {n_features} (noise needs directions outside the features); "
                             f"got {dim}")
        patterns = _orthonormal_columns(rng, dim, n_features).T.reshape(C, K, dim)
        shape: tuple[int, ...] = (dim,)
    else:
        image_size = check_int("image_size", image_size)
        channels = check_int("channels", channels)
        patch_size = check_int("patch_size", patch_size)
        per_side = image_size // patch_size
        if per_side * per_side <= n_features:
            raise ValueError(f"patch_size={patch_size} gives {per_side}x{per_side} = {per_side * per_side} cells in a "
                             f"{image_size}x{image_size} image; need more than C*K = {n_features} "
                             "(one cell per feature, "
                             "and room for noise): lower patch_size or raise image_size")
        shape = (channels, image_size, image_size)
        patterns = np.zeros((n_features, *shape))
        cells = rng.permutation(per_side * per_side)[:n_features]
        for f, cell in enumerate(cells):
            row, col = divmod(int(cell), per_side)
            patch = rng.standard_normal((channels, patch_size, patch_size))
            patterns[f, :, row * patch_size:(row + 1) * patch_size, col * patch_size:(col + 1) * patch_size] = \
                patch / np.linalg.norm(patch)
        patterns = patterns.reshape(C, K, *shape)
    return FeatureEmbedding(patterns=patterns, shape=shape, feature_strength=feature_strength,
                            noise_strength=noise_strength, kind=kind)


def _check_points(features, labels, embedding: FeatureEmbedding) -> tuple[np.ndarray, np.ndarray]:
    features = as_binary_matrix("features", features)
    if features.shape[1] != embedding.K:
        raise ValueError(f"features must have shape (n, K={embedding.K}); got {features.shape}")
    labels = as_int_vector("labels", labels, features.shape[0])
    check_labels("labels", labels, embedding.num_classes)
    return features, labels


def embed(embedding: FeatureEmbedding, features, labels, *, seed=None) -> BridgeInputs:
    """Turn framework points into inputs: ``x_i = a * sum_k F[i,k] v_{y_i,k} + b * xi_i``.

    ``F`` = ``features``, ``y`` = ``labels``, ``a`` = ``embedding.feature_strength``,
    ``b`` = ``embedding.noise_strength``; ``xi_i = P g_i / ||P g_i||`` with ``g_i ~ N(0, I_D)``
    drawn independently per point and ``P`` the projection onto the orthogonal complement of all
    feature patterns, so ``<xi_i, v_{c,k}> = 0`` and ``||xi_i|| = 1``.

    Parameters
    ----------
    embedding : the patterns and strengths (:func:`make_embedding`).
    features : (n, K) binary, row i = which of class ``labels[i]``'s features point i has.
    labels : (n,) int in [0, C).
    seed : int, None or numpy.random.Generator for the noise.

    Returns
    -------
    BridgeInputs (x, y, noise) as float32 / int64 CPU tensors.

    References
    ----------
    Shin et al., NeurIPS 2024, Section 3.1.
    """
    features, labels = _check_points(features, labels, embedding)
    n, D = features.shape[0], embedding.dim
    rng = np.random.default_rng(seed)
    patterns = embedding.flat_patterns()  # orthonormal rows
    g = rng.standard_normal((n, D))
    xi = g - (g @ patterns.T) @ patterns
    xi /= np.linalg.norm(xi, axis=1, keepdims=True)
    # Row i's features are class labels[i]'s: pick its (K, D) block of patterns.
    signal = np.einsum("nk,nkd->nd", features.astype(np.float64), embedding.patterns.reshape(
        embedding.num_classes, embedding.K, D)[labels])
    noise = embedding.noise_strength * xi
    x = embedding.feature_strength * signal + noise
    shape = (n, *embedding.shape)
    return BridgeInputs(x=torch.from_numpy(x.reshape(shape).astype(np.float32)),
                        y=torch.from_numpy(labels),
                        noise=torch.from_numpy(noise.reshape(shape).astype(np.float32)))


def make_inputs(features, labels, *, num_classes=None, test_features=None, test_labels=None, kind="vector", dim=None,
                image_size=32, channels=1, patch_size=4, feature_strength=1.0, noise_strength=3.0, seed=0):
    """Embed a framework dataset (and optionally its test set) with one shared set of feature patterns.

    ``x_i = feature_strength * sum_k features[i,k] v_{labels[i],k} + noise_strength * xi_i`` (see
    :func:`embed`); the patterns come from :func:`make_embedding`. ``seed`` is split into three
    independent streams (patterns, training noise, test noise), so the test points share the
    training points' features but never their noise.

    Parameters
    ----------
    features, labels : the arrays :func:`dashsim.simulate` takes ((n, K) binary, (n,) int).
    num_classes : C (default ``labels.max() + 1``, or of the test labels if larger).
    test_features, test_labels : an optional test set of framework points (both or neither).
    kind, dim, image_size, channels, patch_size, feature_strength, noise_strength : see :func:`make_embedding`.
    seed : int or None.

    Returns
    -------
    (embedding, train, test) : the :class:`FeatureEmbedding` and :class:`BridgeInputs` for the
    training and test points (``test`` is None without a test set).

    References
    ----------
    Shin et al., NeurIPS 2024, Section 3.1 and Appendix A.
    """
    if (test_features is None) != (test_labels is None):
        raise ValueError("test_features and test_labels must be given together")
    features = np.asarray(features)
    if features.ndim != 2:
        raise ValueError(f"features must be a 2-D (n, K) array; got shape {features.shape}")
    if num_classes is None:
        found = [np.asarray(v) for v in (labels, test_labels) if v is not None and np.asarray(v).size]
        if not found:
            raise ValueError("num_classes must be given when there are no labels")
        num_classes = int(max(int(v.max()) for v in found)) + 1
    pattern_seed, train_seed, test_seed = np.random.SeedSequence(seed).spawn(3)
    embedding = make_embedding(num_classes, features.shape[1], kind=kind, dim=dim, image_size=image_size,
                               channels=channels, patch_size=patch_size, feature_strength=feature_strength,
                               noise_strength=noise_strength, seed=np.random.default_rng(pattern_seed))
    train = embed(embedding, features, labels, seed=np.random.default_rng(train_seed))
    test = None
    if test_features is not None:
        test = embed(embedding, test_features, test_labels, seed=np.random.default_rng(test_seed))
    return embedding, train, test
