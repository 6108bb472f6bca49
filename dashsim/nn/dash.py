"""DASH: Direction-Aware SHrinking (Shin et al., NeurIPS 2024, Algorithm 1), in place on a torch model.

The rule is split in two so it reads against the paper: :func:`dash_shrink` is the pure per-tensor
shrink ``theta * clamp(cos(G, theta), lam, 1)`` over the paper's groups, and :func:`dash_` does the
model traversal (which layers shrink), the per-chunk mean gradients and their EMA.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["GRANULARITIES", "dash_", "dash_shrink", "shrinkable_parameters"]

GRANULARITIES = ("kernel", "filter")

# Layers whose weight and bias DASH shrinks; normalization layers and everything else are untouched.
_SHRINKABLE = (nn.Linear, nn.modules.conv._ConvNd)


def _check_unit_interval(name: str, value: object) -> float:
    """Return ``value`` as a float after checking it lies in (0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a real number in (0, 1], got {type(value).__name__}")
    if not 0.0 < float(value) <= 1.0:
        raise ValueError(f"{name} must be in (0, 1], got {value!r}")
    return float(value)


def _check_granularity(granularity: object) -> str:
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    return granularity  # type: ignore[return-value]


def _groups(t: Tensor, granularity: str) -> Tensor:
    """View ``t`` as (groups, entries): bias -> 1 group, Linear -> rows, Conv -> kernels or filters."""
    if t.ndim == 1:
        return t.reshape(1, -1)
    if t.ndim == 2 or granularity == "filter":
        return t.reshape(t.shape[0], -1)
    return t.reshape(t.shape[0] * t.shape[1], -1)


def _scale_shape(t: Tensor, granularity: str) -> tuple[int, ...]:
    """Shape of the per-group factors, broadcastable against ``t`` (inverse of ``_groups``)."""
    if t.ndim == 1:
        return (1,)
    if t.ndim == 2 or granularity == "filter":
        return (t.shape[0],) + (1,) * (t.ndim - 1)
    return (t.shape[0], t.shape[1]) + (1,) * (t.ndim - 2)


def _group_scale(weight: Tensor, grad_avg: Tensor, lam: float, granularity: str) -> Tensor:
    """Per-group factor ``clamp(cos(G, theta), lam, 1)``, shaped to broadcast against ``_groups(weight)``."""
    w = _groups(weight, granularity)
    g = _groups(grad_avg, granularity)
    dot = torch.linalg.vecdot(w, g, dim=1)
    norms = torch.linalg.vector_norm(w, dim=1) * torch.linalg.vector_norm(g, dim=1)
    # A zero vector has no direction: similarity 0 (scale lam), never 0/0 = NaN.
    cos = torch.where(norms > 0, dot / torch.where(norms > 0, norms, 1.0), 0.0)
    return cos.clamp_(min=lam, max=1.0)[:, None]


def dash_shrink(weight: Tensor, grad_avg: Tensor, lam: float, *, granularity: str = "kernel") -> Tensor:
    """Shrink one parameter tensor by the cosine between it and the averaged negative gradient.

    ``theta_new[g] = theta[g] * clamp(s_g, lam, 1)`` with ``s_g = <G[g], theta[g]> / (||G[g]|| ||theta[g]||)``
    for every group ``g``; ``s_g = 0`` when either norm is zero (so the group is scaled by ``lam``).

    Parameters
    ----------
    weight : theta, a Linear weight (out, in), a Conv weight (out, in, *kernel) or a bias (out,).
    grad_avg : G, the EMA of negative chunk gradients, same shape as ``weight``.
    lam : lambda in (0, 1], the smallest factor a group is multiplied by.
    granularity : "kernel" (paper: one group per Linear row, per Conv (out, in) kernel slice) or
        "filter" (one group per Conv output filter). A bias (1-D) is always one group.

    Returns
    -------
    A new tensor of ``weight``'s shape and dtype; ``weight`` is not modified.

    References
    ----------
    DASH paper, Section 4, Algorithm 1 (line "theta <- theta * max(lam, cos(G, theta))").
    """
    lam = _check_unit_interval("lam", lam)
    granularity = _check_granularity(granularity)
    if weight.shape != grad_avg.shape:
        raise ValueError(f"grad_avg shape {tuple(grad_avg.shape)} != weight shape {tuple(weight.shape)}")
    scale = _group_scale(weight, grad_avg, lam, granularity)
    return (_groups(weight, granularity) * scale).reshape(weight.shape)


def shrinkable_parameters(model: nn.Module) -> list[Tensor]:
    """Weights and biases of every Linear and Conv layer of ``model`` (each parameter once)."""
    params: list[Tensor] = []
    seen: set[int] = set()
    for module in model.modules():
        if isinstance(module, _SHRINKABLE):
            for p in (module.weight, module.bias):
                if p is not None and id(p) not in seen:
                    seen.add(id(p))
                    params.append(p)
    return params


def _is_pair(chunk: Any) -> bool:
    return isinstance(chunk, (tuple, list)) and len(chunk) == 2 and isinstance(chunk[0], Tensor)


def _micro_batches(chunk: Any, batch_size: int, index: int) -> Iterable[tuple[Tensor, Tensor]]:
    """Yield (inputs, targets) mini-batches of chunk ``index``, in either chunk format."""
    if isinstance(chunk, Tensor):
        raise ValueError(f"chunks[{index}] is a bare tensor; a chunk needs targets: (inputs, targets)")
    if _is_pair(chunk):
        x, y = chunk
        if not isinstance(y, Tensor):
            raise ValueError(f"chunks[{index}] has no targets: expected (inputs, targets) tensors")
        if len(x) != len(y):
            raise ValueError(f"chunks[{index}]: {len(x)} inputs but {len(y)} targets")
        for start in range(0, len(x), batch_size):
            yield x[start : start + batch_size], y[start : start + batch_size]
        return
    for batch in chunk:
        if not (isinstance(batch, (tuple, list)) and len(batch) == 2 and isinstance(batch[1], Tensor)):
            raise ValueError(f"chunks[{index}] yields a mini-batch without targets: expected (inputs, targets)")
        yield batch[0], batch[1]


def _accumulate_chunk_gradient(
    model: nn.Module,
    params: list[Tensor],
    chunk: Any,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    batch_size: int,
    device: torch.device,
    index: int,
) -> int:
    """Leave ``n * U`` in each ``param.grad`` (U: mean-loss gradient over the chunk); return n.

    Each mini-batch's mean loss is weighted by its size, so any split into mini-batches sums to the
    full-chunk gradient. ``backward(inputs=params)`` skips the unneeded BatchNorm gradients, and
    accumulating in ``.grad`` lets autograd sum the mini-batches without extra buffers.
    """
    n = 0
    for x, y in _micro_batches(chunk, batch_size, index):
        if len(x) == 0:
            continue
        x = x.to(device, non_blocking=True)
        y = y.to(device, non_blocking=True)
        loss = loss_fn(model(x), y) * len(x)
        loss.backward(inputs=params)
        n += len(x)
    if n == 0:
        raise ValueError(f"chunks[{index}] is empty; every chunk needs at least one sample")
    return n


def dash_(
    model: nn.Module,
    chunks: Sequence[Any],
    *,
    alpha: float = 0.3,
    lam: float = 0.3,
    loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
    batch_size: int = 1024,
    granularity: str = "kernel",
) -> nn.Module:
    """Apply DASH in place: shrink each neuron by how well it aligns with the averaged negative gradient.

    ``G <- 0``; for i = 1..j (oldest first): ``G <- (1 - alpha) * G + alpha * (-U_i)`` with
    ``U_i`` the gradient of the mean loss over chunk ``T_i``; then for every Linear/Conv weight and
    bias ``theta``: ``theta <- theta * clamp(cos(G, theta), lam, 1)`` per group (see
    :func:`dash_shrink`). Normalization layers, buffers and optimizer state are untouched.

    Parameters
    ----------
    model : the network after experiment j-1 (any ``nn.Module`` with at least one Linear/Conv).
    chunks : T_1..T_j oldest first; each an ``(inputs, targets)`` pair of tensors (split into
        micro-batches of ``batch_size``) or an iterable of such mini-batch pairs.
    alpha : EMA coefficient alpha in (0, 1]; the newest chunk has weight alpha.
    lam : minimum shrink factor lambda in (0, 1]; lam = 1 leaves the model unchanged.
    loss_fn : ``loss_fn(logits, targets)`` returning the MEAN loss over the batch (it is re-weighted
        by batch size); default cross-entropy, as the authors used.
    batch_size : micro-batch size for pair chunks (memory only; the result does not depend on it).
    granularity : "kernel" (the paper's grouping, default) or "filter" (one group per output filter).

    Returns
    -------
    ``model``, shrunk in place; its train/eval modes and ``.grad`` fields are as before the call.

    References
    ----------
    Shin et al., "DASH: Warm-Starting Neural Network Training in Stationary Settings without Loss
    of Plasticity", NeurIPS 2024, Section 4, Algorithm 1.
    """
    alpha = _check_unit_interval("alpha", alpha)
    lam = _check_unit_interval("lam", lam)
    granularity = _check_granularity(granularity)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    if isinstance(chunks, Tensor) or _is_pair(chunks) or not isinstance(chunks, Sequence):
        raise TypeError("chunks must be a sequence of chunks (oldest first), e.g. [(x1, y1), (x2, y2)]")
    if len(chunks) == 0:
        raise ValueError("chunks is empty; DASH needs at least one chunk T_1")
    params = shrinkable_parameters(model)
    if not params:
        raise ValueError("model has no shrinkable layer (no nn.Linear or nn.Conv*d); DASH has nothing to shrink")
    if loss_fn is None:
        loss_fn = F.cross_entropy
    device = params[0].device

    modes = [(m, m.training) for m in model.modules()]
    requires = [p.requires_grad for p in params]
    saved_grads = [p.grad for p in params]
    G: list[Tensor] = []
    try:
        model.eval()
        with torch.enable_grad():
            for p in params:
                p.requires_grad_(True)
                p.grad = None
            for i, chunk in enumerate(chunks):
                n = _accumulate_chunk_gradient(model, params, chunk, loss_fn, batch_size, device, i)
                for j, p in enumerate(params):
                    u_sum = p.grad if p.grad is not None else torch.zeros_like(p)  # unused layer: U = 0
                    p.grad = None
                    # G <- (1 - alpha) G + alpha (-U), with U = u_sum / n; G starts at 0.
                    if i == 0:
                        G.append(u_sum.mul_(-alpha / n))
                    else:
                        G[j].mul_(1.0 - alpha).add_(u_sum, alpha=-alpha / n)
    finally:
        for p, r, g in zip(params, requires, saved_grads):
            p.requires_grad_(r)
            p.grad = g
        for m, training in modes:
            m.training = training
    with torch.no_grad():
        for p, g_avg in zip(params, G):
            # In place: the same factor dash_shrink applies, without a copy of every weight. The
            # factor is reshaped to broadcast over p, so any memory layout (channels_last) works.
            p.mul_(_group_scale(p, g_avg, lam, granularity).reshape(_scale_shape(p, granularity)))
    return model
