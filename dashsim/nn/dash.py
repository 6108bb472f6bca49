"""DASH: Direction-Aware SHrinking (Shin et al., NeurIPS 2024, Algorithm 1), in place on a torch model.

The rule is split in two so it reads against the paper: :func:`dash_shrink` is the pure per-tensor
shrink ``theta * clamp(cos(G, theta), lam, 1)`` over the paper's groups, and :func:`dash_` does the
model traversal (which layers shrink), the per-chunk mean gradients and their EMA.
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._validate import check_int
from ..errors import NonFiniteError

__all__ = [
    "GRANULARITIES", "Mask", "dash_", "dash_shrink", "eval_gradients", "group_cosines", "groups", "linear_and_conv",
    "mean_loss_gradients", "shrinkable_parameters", "summed_loss_gradients",
]

GRANULARITIES = ("kernel", "filter")

# Layers whose weight and bias DASH shrinks; normalization layers and everything else are untouched.
_SHRINKABLE = (nn.Linear, nn.modules.conv._ConvNd)


def _check_unit_interval(name: str, value: object) -> float:
    """Return ``value`` as a float after checking it lies in (0, 1]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number in (0, 1], got {type(value).__name__}")
    if not 0.0 < float(value) <= 1.0:
        raise ValueError(f"{name} must be in (0, 1], got {value!r}")
    return float(value)


def _check_granularity(granularity: object) -> str:
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    return granularity  # type: ignore[return-value]


def groups(t: Tensor, granularity: str) -> Tensor:
    """View ``t`` as (groups, entries), the groups DASH shrinks together.

    A bias (1-D) is one group; a Linear weight (out, in) has one group per row; a Conv weight
    (out, in, *kernel) has one group per (out, in) kernel slice (``"kernel"``) or per output filter
    (``"filter"``).

    Parameters
    ----------
    t : a weight or bias tensor (or a gradient of the same shape).
    granularity : "kernel" or "filter" (only matters for Conv weights).

    Returns
    -------
    A 2-D view (or copy, if ``t`` is not contiguous) of ``t``'s entries, one row per group.

    References
    ----------
    DASH paper, Section 4 (shrinking per neuron / kernel).
    """
    if t.ndim == 1:
        return t.reshape(1, -1)
    if t.ndim == 2 or granularity == "filter":
        return t.reshape(t.shape[0], -1)
    return t.reshape(t.shape[0] * t.shape[1], -1)


def _scale_shape(t: Tensor, granularity: str) -> tuple[int, ...]:
    """Shape of the per-group factors, broadcastable against ``t`` (inverse of ``groups``)."""
    if t.ndim == 1:
        return (1,)
    if t.ndim == 2 or granularity == "filter":
        return (t.shape[0],) + (1,) * (t.ndim - 1)
    return (t.shape[0], t.shape[1]) + (1,) * (t.ndim - 2)


def group_cosines(weight: Tensor, grad: Tensor, granularity: str) -> Tensor:
    """Cosine between each group of ``weight`` and the same group of ``grad`` (0 where a norm is 0).

    ``s_g = <theta[g], G[g]> / (||theta[g]|| ||G[g]||)`` for every group ``g`` of :func:`groups`;
    ``s_g = 0`` when either norm is zero (a zero vector has no direction). Computed in the inputs'
    dtype (float32 for float16/bfloat16 inputs, whose range the norms' product overflows); unclamped
    (DASH's factor is ``clamp(s_g, lam, 1)``).

    Parameters
    ----------
    weight : theta, a Linear/Conv weight or a bias.
    grad : G, a tensor of ``weight``'s shape (for DASH the EMA of negative chunk gradients).
    granularity : "kernel" or "filter", as in :func:`groups`.

    Returns
    -------
    1-D tensor of the groups' cosines, in :func:`groups` order.

    References
    ----------
    DASH paper, Section 4, Algorithm 1 (``cos(G, theta)``) and Appendix, Figure 14.
    """
    # Half precision cannot hold the norms' product (|x| > 65504 overflows float16): compute in float32.
    upcast = weight.dtype in (torch.float16, torch.bfloat16) or grad.dtype in (torch.float16, torch.bfloat16)
    w = groups(weight.float() if upcast else weight, granularity)
    g = groups(grad.float() if upcast else grad, granularity)
    dot = torch.linalg.vecdot(w, g, dim=1)
    norms = torch.linalg.vector_norm(w, dim=1) * torch.linalg.vector_norm(g, dim=1)
    # A zero vector has no direction: similarity 0 (scale lam), never 0/0 = NaN.
    return torch.where(norms > 0, dot / torch.where(norms > 0, norms, 1.0), 0.0)


def _group_scale(weight: Tensor, grad_avg: Tensor, lam: float, granularity: str) -> Tensor:
    """Per-group factor ``clamp(cos(G, theta), lam, 1)``, shaped to broadcast against ``weight`` itself."""
    scale = group_cosines(weight, grad_avg, granularity).clamp_(min=lam, max=1.0)
    return scale.to(weight.dtype).reshape(_scale_shape(weight, granularity))


def dash_shrink(weight: Tensor, grad_avg: Tensor, lam: float, *, granularity: str = "kernel") -> Tensor:
    """Shrink one parameter tensor by the cosine between it and the averaged negative gradient.

    ``theta_new[g] = theta[g] * clamp(s_g, lam, 1)`` with ``s_g = <G[g], theta[g]> / (||G[g]|| ||theta[g]||)``
    for every group ``g``; ``s_g = 0`` when either norm is zero (so the group is scaled by ``lam``).
    This is the whole per-tensor rule: :func:`dash_` applies exactly this function to every
    parameter its mask selects.

    Parameters
    ----------
    weight : theta, a Linear weight (out, in), a Conv weight (out, in, *kernel) or a bias (out,).
    grad_avg : G, the EMA of negative chunk gradients, same shape as ``weight``.
    lam : lambda in (0, 1], the smallest factor a group is multiplied by.
    granularity : "kernel" (paper: one group per Linear row, per Conv (out, in) kernel slice) or
        "filter" (one group per Conv output filter). A bias (1-D) is always one group.

    Returns
    -------
    A new tensor of ``weight``'s shape, dtype and memory layout; ``weight`` is not modified.

    Raises
    ------
    NonFiniteError if ``weight`` or ``grad_avg`` holds NaN or infinite values.

    References
    ----------
    DASH paper, Section 4, Algorithm 1 (line "theta <- theta * max(lam, cos(G, theta))").
    """
    lam = _check_unit_interval("lam", lam)
    granularity = _check_granularity(granularity)
    if weight.shape != grad_avg.shape:
        raise ValueError(f"grad_avg shape {tuple(grad_avg.shape)} != weight shape {tuple(weight.shape)}")
    for name, t in (("weight", weight), ("grad_avg", grad_avg)):
        if not bool(torch.isfinite(t).all()):
            # A NaN cosine would clamp to lam: every group shrunk by exactly lam, silently.
            raise NonFiniteError(f"{name} holds NaN or infinite values (shape {tuple(t.shape)}); DASH needs finite "
                                 "weights and gradients: check the inputs and the training loss")
    return weight * _group_scale(weight, grad_avg, lam, granularity)


# mask(name, parameter, module) -> whether DASH (and S&P, shrink) change that parameter.
Mask = Callable[[str, Tensor, nn.Module], bool]


def linear_and_conv(name: str, parameter: Tensor, module: nn.Module) -> bool:
    """The paper's mask: the weight and bias of every Linear and Conv layer (normalization layers untouched)."""
    return isinstance(module, _SHRINKABLE)


def shrinkable_parameters(model: nn.Module, mask: Mask | Mapping[str, bool] | None = None) -> list[Tensor]:
    """The parameters of ``model`` that ``mask`` selects (each once), in ``named_modules`` order.

    Parameters
    ----------
    model : the network.
    mask : ``mask(name, parameter, module) -> bool`` with ``name`` the parameter's full name
        (``"layer1.0.conv1.weight"``) and ``module`` the layer that owns it; or a mapping from full
        parameter names to bools (missing names: not selected). Default :func:`linear_and_conv`.

    Returns
    -------
    list of the selected parameters.
    """
    if mask is None:
        mask = linear_and_conv
    elif isinstance(mask, Mapping):
        unknown = set(mask) - {name for name, _ in model.named_parameters()}
        if unknown:
            raise ValueError(f"mask names parameters the model does not have: {sorted(unknown)[:5]}")
        selected = mask
        mask = lambda name, parameter, module: bool(selected.get(name, False))  # noqa: E731
    elif not callable(mask):
        raise TypeError("mask must be a callable (name, parameter, module) -> bool or a mapping; "
                        f"got {type(mask).__name__}")
    params: list[Tensor] = []
    seen: set[int] = set()
    for module_name, module in model.named_modules():
        for local, p in module.named_parameters(recurse=False):
            name = f"{module_name}.{local}" if module_name else local
            if id(p) not in seen and mask(name, p, module):
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


@contextlib.contextmanager
def eval_gradients(model: nn.Module, params: Sequence[Tensor]) -> Iterator[None]:
    """Inside: eval mode, gradients enabled, ``requires_grad`` and empty ``.grad`` on ``params``; all restored after.

    Eval mode makes BatchNorm use its running statistics and leaves them unchanged, so a gradient
    pass measures the model without training it. On exit every module's train/eval mode and every
    parameter's ``requires_grad`` and ``.grad`` are as before (even if the body raised).

    Parameters
    ----------
    model : the network whose modes are saved and restored.
    params : the parameters the body takes gradients of (e.g. :func:`shrinkable_parameters`).

    Returns
    -------
    A context manager yielding None.

    References
    ----------
    DASH paper, Section 4, Algorithm 1 (the gradients U_i of the current model on past chunks).
    """
    modes = [(m, m.training) for m in model.modules()]
    saved = [(p, p.requires_grad, p.grad) for p in params]
    try:
        model.eval()
        with torch.enable_grad():
            for p in params:
                p.requires_grad_(True)
                p.grad = None
            yield
    finally:
        for p, requires, grad in saved:
            p.requires_grad_(requires)
            p.grad = grad
        for m, training in modes:
            m.training = training


def summed_loss_gradients(
    model: nn.Module,
    params: Sequence[Tensor],
    chunk: Any,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    batch_size: int,
    *,
    index: int = 0,
) -> tuple[list[Tensor], int]:
    """Return ``(n * U for each param, n)``: the chunk's summed loss gradient and its number of samples.

    ``n * U_theta = d/d theta sum_b |b| loss_fn(model(x_b), y_b)`` over the chunk's mini-batches
    ``b``, so ``U_theta`` is the gradient of the mean loss over all ``n`` samples whatever the
    split. Call inside :func:`eval_gradients`; each ``param.grad`` is left empty. A parameter the
    forward pass does not use gets a zero tensor (U = 0).

    Parameters
    ----------
    model : the network (on the device of ``params[0]``, where the batches are moved).
    params : the parameters to differentiate (``backward(inputs=params)`` skips all others).
    chunk : an ``(inputs, targets)`` pair of tensors, split into micro-batches of ``batch_size``, or
        an iterable of such mini-batch pairs.
    loss_fn : ``loss_fn(logits, targets)`` returning the MEAN loss over a batch.
    batch_size : micro-batch size for pair chunks (memory only).
    index : the chunk's position, named in error messages (``chunks[index]``).

    Returns
    -------
    (list of tensors ``n * U_theta`` in ``params`` order, ``n``).

    References
    ----------
    DASH paper, Section 4, Algorithm 1 (U_i, the gradient on chunk T_i).
    """
    device = params[0].device
    n = 0
    # Accumulating in .grad lets autograd sum the mini-batches without extra buffers.
    for x, y in _micro_batches(chunk, batch_size, index):
        if len(x) == 0:
            continue
        x = x.to(device, non_blocking=True)
        y = y.to(device, non_blocking=True)
        if x.is_floating_point() and not bool(torch.isfinite(x).all()):
            raise NonFiniteError(f"chunks[{index}] holds NaN or infinite inputs; DASH's gradients need finite ones")
        try:
            loss = loss_fn(model(x), y) * len(x)
        except (RuntimeError, IndexError, TypeError) as err:  # wrong input size, labels out of range or not ints
            raise ValueError(f"chunks[{index}]: the model and loss cannot take a mini-batch of inputs "
                             f"{tuple(x.shape)} {x.dtype} and targets {tuple(y.shape)} {y.dtype} "
                             f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})") from None
        loss.backward(inputs=list(params))
        n += len(x)
    if n == 0:
        raise ValueError(f"chunks[{index}] is empty; every chunk needs at least one sample")
    sums = []
    for p in params:
        sums.append(p.grad if p.grad is not None else torch.zeros_like(p))  # unused layer: U = 0
        p.grad = None
    return sums, n


def mean_loss_gradients(
    model: nn.Module,
    params: Sequence[Tensor],
    chunk: Any,
    loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
    batch_size: int = 1024,
) -> list[Tensor]:
    """Eval-mode gradient of the mean loss over one chunk, for each of ``params``; the model is left as it was.

    ``U_theta = d/d theta (1/n) sum_{k=1..n} loss(model(x_k), y_k)`` over the chunk's ``n`` samples,
    computed in micro-batches inside :func:`eval_gradients` (see :func:`summed_loss_gradients`).

    Parameters
    ----------
    model : the network (modes, ``requires_grad`` and ``.grad`` restored).
    params : the parameters to differentiate.
    chunk : ``(inputs, targets)`` tensors or an iterable of mini-batch pairs.
    loss_fn : mean loss ``loss_fn(logits, targets)``; default cross-entropy (as the paper).
    batch_size : micro-batch size for pair chunks (memory only).

    Returns
    -------
    list of tensors U_theta, in ``params`` order, each of its parameter's shape.

    References
    ----------
    DASH paper, Section 4, Algorithm 1 (U_i) and Appendix, Figures 6 and 14.
    """
    with eval_gradients(model, params):
        sums, n = summed_loss_gradients(model, params, chunk, loss_fn or F.cross_entropy, batch_size)
    return [u_sum / n for u_sum in sums]


def dash_(
    model: nn.Module,
    chunks: Sequence[Any],
    *,
    alpha: float = 0.3,
    lam: float = 0.3,
    loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
    batch_size: int = 1024,
    granularity: str = "kernel",
    mask: Mask | Mapping[str, bool] | None = None,
) -> nn.Module:
    """Apply DASH in place: shrink each neuron by how well it aligns with the averaged negative gradient.

    ``G <- 0``; for i = 1..j (oldest first): ``G <- (1 - alpha) * G + alpha * (-U_i)`` with
    ``U_i`` the gradient of the mean loss over chunk ``T_i``; then for every parameter ``theta`` the
    mask selects (default: every Linear/Conv weight and bias):
    ``theta <- dash_shrink(theta, G_theta, lam)``, i.e. ``theta * clamp(cos(G, theta), lam, 1)`` per
    group. Other parameters (normalization layers by default), buffers and optimizer state are untouched.

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
    mask : which parameters shrink (see :func:`shrinkable_parameters`); default Linear and Conv
        weights and biases, as in the paper.

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
    batch_size = check_int("batch_size", batch_size)
    if isinstance(chunks, Tensor) or _is_pair(chunks) or not isinstance(chunks, Sequence):
        raise TypeError("chunks must be a sequence of chunks (oldest first), e.g. [(x1, y1), (x2, y2)]")
    if len(chunks) == 0:
        raise ValueError("chunks is empty; DASH needs at least one chunk T_1")
    params = shrinkable_parameters(model, mask)
    if not params:
        raise ValueError("model has no shrinkable layer (no nn.Linear or nn.Conv*d, or the mask selects none); "
                         "DASH has nothing to shrink")
    for name, p in model.named_parameters():
        if any(p is q for q in params) and not bool(torch.isfinite(p).all()):
            raise NonFiniteError(f"model parameter {name!r} holds NaN or infinite values; DASH needs finite weights")
    if loss_fn is None:
        loss_fn = F.cross_entropy
    G: list[Tensor] = []
    with eval_gradients(model, params):
        for i, chunk in enumerate(chunks):
            sums, n = summed_loss_gradients(model, params, chunk, loss_fn, batch_size, index=i)
            for j, u_sum in enumerate(sums):
                # G <- (1 - alpha) G + alpha (-U), with U = u_sum / n; G starts at 0.
                if i == 0:
                    G.append(u_sum.mul_(-alpha / n))
                else:
                    G[j].mul_(1.0 - alpha).add_(u_sum, alpha=-alpha / n)
    with torch.no_grad():
        # All new values first: a non-finite gradient is an error before any parameter has changed.
        shrunk = [dash_shrink(p, g_avg, lam, granularity=granularity) for p, g_avg in zip(params, G)]
        for p, new in zip(params, shrunk):
            p.copy_(new)
    return model
