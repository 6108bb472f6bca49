"""Diagnostics of a warm-started network: gradient norm, gradient-weight cosines, dead units, weight correlation.

Each function measures a model without changing it (eval mode, so BatchNorm uses its running
statistics; the model's modes and ``.grad`` fields are restored) and returns plain numbers. The
``*_probe`` functions wrap them as the ``probe=`` argument of :func:`dashsim.nn.run_incremental`
(:func:`gradient_norm_probe`, :func:`filter_cosine_probe`, :func:`dead_neuron_probe`,
:func:`weight_correlation_probe`, and the pair :class:`StartCorrelation`).

References
----------
Shin et al., "DASH: Warm-Starting Neural Network Training in Stationary Settings without Loss of
Plasticity", NeurIPS 2024, Appendix (Figures 6, 14 and 16); Ash & Adams, "On Warm-Starting Neural
Network Training", NeurIPS 2020, Section 4 (gradient norms, Pearson correlation with the initial weights).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Optional

import pandas as pd
import torch
from torch import Tensor, nn

from .._validate import check_int

from .dash import GRANULARITIES, group_cosines, mean_loss_gradients, shrinkable_parameters

__all__ = [
    "gradient_norm", "filter_cosines", "dead_neurons", "weight_correlation",
    "gradient_norm_probe", "filter_cosine_probe", "dead_neuron_probe", "weight_correlation_probe", "StartCorrelation",
]


def _check_data(x: Any, y: Any = None) -> None:
    if not isinstance(x, Tensor) or x.ndim < 2 or x.shape[0] == 0:
        raise TypeError("x must be a non-empty tensor of inputs (N, ...)")
    if y is not None and (not isinstance(y, Tensor) or y.shape != (x.shape[0],)):
        raise TypeError(f"y must be a tensor of {x.shape[0]} class labels, one per input")


def gradient_norm(model: nn.Module, x: Tensor, y: Tensor, *, batch_size: int = 1024,
                  loss_fn: Optional[Callable[[Tensor, Tensor], Tensor]] = None) -> float:
    """Norm of the full-data mean-loss gradient over all trainable parameters, in eval mode.

    ``||U||_2 = sqrt(sum_theta ||U_theta||^2)`` with ``U_theta = d/d theta (1/N) sum_n loss(f(x_n), y_n)``,
    ``N = len(x)``; the sum runs over every parameter with ``requires_grad``. Computed in
    micro-batches weighted by their size, so it equals the one-batch gradient.

    Parameters
    ----------
    model : the network f (modes and ``.grad`` fields are restored).
    x, y : the data (inputs, int64 labels), e.g. T_{1:j} at the start of experiment j.
    batch_size : micro-batch size (memory only).
    loss_fn : mean loss ``loss_fn(logits, targets)``; default cross-entropy (as the paper).

    Returns
    -------
    float, the Euclidean norm of the gradient.

    References
    ----------
    DASH paper, Appendix, Figure 6 (gradient norm at the start of an experiment vs steps to converge);
    Ash & Adams 2020, Section 4 (gradient norms of warm-started and fresh models).
    """
    _check_data(x, y)
    batch_size = check_int("batch_size", batch_size)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameter; its gradient norm is undefined")
    grads = mean_loss_gradients(model, params, (x, y), loss_fn, batch_size)
    return float(torch.sqrt(sum(g.double().pow(2).sum() for g in grads)))


def filter_cosines(model: nn.Module, x: Tensor, y: Tensor, *, granularity: str = "kernel", batch_size: int = 1024,
                   loss_fn: Optional[Callable[[Tensor, Tensor], Tensor]] = None) -> dict[str, Tensor]:
    """Per-group cosine between the negative full-data gradient and the weights, grouped as DASH shrinks.

    ``s_g = <-U[g], theta[g]> / (||U[g]|| ||theta[g]||)`` (0 if a norm is 0) for every group ``g`` of
    every Linear/Conv weight and bias ``theta``, with ``U`` the eval-mode mean-loss gradient on
    ``(x, y)``. The groups are DASH's: a Linear row, a Conv (out, in) kernel slice (``"kernel"``)
    or output filter (``"filter"``), the whole bias. With ``G = -U`` (one chunk, ``alpha = 1``)
    DASH would scale group g by ``clamp(s_g, lam, 1)``.

    Parameters
    ----------
    model : the network (modes and ``.grad`` restored).
    x, y : the data the gradient is taken on.
    granularity : "kernel" (the paper's grouping) or "filter".
    batch_size : micro-batch size (memory only).
    loss_fn : mean loss; default cross-entropy.

    Returns
    -------
    dict of parameter name (as in ``model.named_parameters()``) to a 1-D float64 CPU tensor of the
    groups' cosines, in model order.

    References
    ----------
    DASH paper, Section 4 (the cosine of Algorithm 1) and Appendix, Figure 14.
    """
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    _check_data(x, y)
    batch_size = check_int("batch_size", batch_size)
    params = shrinkable_parameters(model)
    if not params:
        raise ValueError("model has no Linear or Conv layer; there are no filters to compare with")
    names = {id(p): name for name, p in model.named_parameters()}
    grads = mean_loss_gradients(model, params, (x, y), loss_fn, batch_size)
    with torch.no_grad():
        # float64, so Figure 14's cosines near 0 are not float32 rounding noise.
        return {names[id(p)]: group_cosines(p.double(), -g.double(), granularity).cpu() for p, g in zip(params, grads)}


def _block_names(model: nn.Module) -> dict[nn.Module, str]:
    """Each ReLU module's block: the nearest enclosing module that is not a Sequential, or the ReLU itself.

    So a ResNet BasicBlock's two ReLU applications form one block (``layer1.0``), while the ReLUs of a
    Sequential stack (MLP, VGG) and a top-level stem ReLU are blocks of their own.
    """
    blocks: dict[nn.Module, str] = {}

    def visit(module: nn.Module, name: str, block: Optional[str]) -> None:
        # block: the nearest enclosing non-Sequential module below the root (None at the top level).
        for child_name, child in module.named_children():
            full = f"{name}.{child_name}" if name else child_name
            if isinstance(child, nn.ReLU):
                blocks.setdefault(child, block or full)
            else:
                visit(child, full, block if isinstance(child, nn.Sequential) else full)

    visit(model, "", None)
    return blocks


@torch.no_grad()
def dead_neurons(model: nn.Module, x: Tensor, *, batch_size: int = 1024) -> pd.DataFrame:
    """Fraction of ReLU units (features, or conv channels) that are never active on ``x``, per block.

    A unit is index ``c`` of dimension 1 of a ReLU's output ``a`` (a feature of a Linear layer, a
    channel of a conv map); it is dead when ``a[n, c, ...] <= 0`` for every input ``n`` and position.
    Per block ``b``: ``dead_fraction_b = (sum over its ReLU applications of dead units) / (their units)``.
    Blocks: see ``_block_names`` (a ResNet BasicBlock; otherwise each ReLU of a Sequential stack).
    Only ``nn.ReLU`` modules are seen (not ``F.relu`` calls); measured in eval mode.

    Parameters
    ----------
    model : the network (its mode is restored).
    x : the inputs (e.g. the training data so far).
    batch_size : inputs per forward pass (memory only).

    Returns
    -------
    pandas.DataFrame, one row per block in forward order, columns block, units, dead, dead_fraction.

    References
    ----------
    DASH paper, Appendix, Figure 16 (dead neurons per block of ResNet-18).
    """
    _check_data(x)
    batch_size = check_int("batch_size", batch_size)
    blocks = _block_names(model)
    if not blocks:
        raise ValueError("model has no nn.ReLU module; dead neurons are defined for ReLU units")
    # active[(block, k)]: which units of the k-th ReLU application within a forward pass fired so far.
    active: dict[tuple[str, int], Tensor] = {}
    calls: dict[str, int] = {}

    def hook(module: nn.Module, inputs: Any, output: Tensor) -> None:
        block = blocks[module]
        key = (block, calls.get(block, 0))
        calls[block] = key[1] + 1
        fired = (output > 0).transpose(0, 1).reshape(output.shape[1], -1).any(dim=1)
        active[key] = fired if key not in active else active[key] | fired

    handles = [m.register_forward_hook(hook) for m in blocks]
    was_training = model.training
    try:
        model.eval()
        for start in range(0, x.shape[0], batch_size):
            calls.clear()
            model(x[start : start + batch_size])
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    rows: dict[str, list[int]] = {}
    for (block, _), fired in active.items():  # dicts keep the first-call (forward) order
        units, dead = rows.setdefault(block, [0, 0])
        rows[block] = [units + fired.numel(), dead + int((~fired).sum())]
    table = pd.DataFrame([(b, u, d) for b, (u, d) in rows.items()], columns=["block", "units", "dead"])
    table["dead_fraction"] = table["dead"] / table["units"]
    return table


def _pearson(a: Tensor, b: Tensor) -> float:
    """Sample Pearson correlation of two equal-length vectors; NaN if either is constant."""
    a, b = a.double() - a.double().mean(), b.double() - b.double().mean()
    denominator = float(a.norm() * b.norm())
    return float((a * b).sum()) / denominator if denominator > 0 else float("nan")


def weight_correlation(model: nn.Module, reference: nn.Module | Mapping[str, Tensor]) -> dict[str, float]:
    """Pearson correlation between the current and the reference (initial) weights, per layer and overall.

    ``r(theta, theta0) = sum_i (theta_i - mean theta)(theta0_i - mean theta0)
    / (||theta - mean theta|| ||theta0 - mean theta0||)``
    over the entries of each Linear/Conv weight and bias (key: its parameter name) and over all of
    them concatenated (key ``"overall"``); NaN where either side is constant (e.g. a zero-initialized bias).

    Parameters
    ----------
    model : the network now (theta).
    reference : theta0, a model of the same architecture or its ``state_dict`` (e.g.
        ``Learner.initial_state``, the very first initialization).

    Returns
    -------
    dict of parameter name -> r, in model order, then ``"overall"``.

    References
    ----------
    Ash & Adams, "On Warm-Starting Neural Network Training", NeurIPS 2020, Section 4 (Pearson
    correlation between the final and the initial weights).
    """
    ref = reference.state_dict() if isinstance(reference, nn.Module) else reference
    if not isinstance(ref, Mapping):
        raise TypeError(f"reference must be an nn.Module or a state_dict mapping, got {type(reference).__name__}")
    names = {id(p): name for name, p in model.named_parameters()}
    out: dict[str, float] = {}
    now, before = [], []
    for p in shrinkable_parameters(model):
        name = names[id(p)]
        if name not in ref or tuple(ref[name].shape) != tuple(p.shape):
            raise ValueError(f"reference has no tensor {name!r} of shape {tuple(p.shape)}; pass the same architecture")
        a, b = p.detach().reshape(-1).cpu(), ref[name].detach().reshape(-1).cpu()
        out[name] = _pearson(a, b)
        now.append(a)
        before.append(b)
    if not now:
        raise ValueError("model has no Linear or Conv layer to correlate")
    out["overall"] = _pearson(torch.cat(now), torch.cat(before))
    return out


# --- probes for dashsim.nn.run_incremental: each measures on T_{1:j}, the data experiment j trains on ---


def _seen(context: Any) -> tuple[Tensor, Tensor]:
    return context.x[context.train_indices], context.y[context.train_indices]


def gradient_norm_probe(learner: Any, context: Any) -> dict[str, float]:
    """Probe: ``{"grad_norm": gradient_norm(model, T_{1:j})}`` (use as ``probe=``: the start of experiment j)."""
    return {"grad_norm": gradient_norm(learner.model, *_seen(context))}


def filter_cosine_probe(learner: Any, context: Any) -> dict[str, float]:
    """Probe: mean over groups of :func:`filter_cosines` on T_{1:j}.

    Per layer (``cos:<param>``) and over all groups (``cos_mean``).
    """
    cosines = filter_cosines(learner.model, *_seen(context))
    out = {f"cos:{name}": float(c.mean()) for name, c in cosines.items()}
    out["cos_mean"] = float(torch.cat(list(cosines.values())).mean())
    return out


def dead_neuron_probe(learner: Any, context: Any) -> dict[str, float]:
    """Probe: :func:`dead_neurons` on the inputs of T_{1:j}, one column ``dead:<block>`` per block, and ``dead_all``."""
    table = dead_neurons(learner.model, _seen(context)[0])
    out = {f"dead:{b}": float(f) for b, f in zip(table["block"], table["dead_fraction"])}
    out["dead_all"] = float(table["dead"].sum() / table["units"].sum())
    return out


def weight_correlation_probe(learner: Any, context: Any) -> dict[str, float]:
    """Probe: :func:`weight_correlation` with the run's first initialization.

    Columns ``corr:<param>`` and ``corr_overall``.
    """
    r = weight_correlation(learner.model, learner.initial_state)
    overall = r.pop("overall")
    return {**{f"corr:{name}": v for name, v in r.items()}, "corr_overall": overall}


class StartCorrelation:
    """A probe pair: the weights' Pearson correlation with the first initialization and with the experiment's start.

    Pass ``probe=pair.probe, probe_after=pair.probe_after`` to :func:`dashsim.nn.run_incremental`:
    ``probe`` remembers ``theta_start`` (the weights after the method's step, before training on
    T_{1:j}); ``probe_after`` returns :func:`weight_correlation_probe`'s columns plus
    ``corr_start_overall = r(theta_end, theta_start)`` over all Linear/Conv weights and biases
    (how far training in experiment j moved the weights; near 1 for a warm start that barely moves).

    References
    ----------
    Ash & Adams, "On Warm-Starting Neural Network Training", NeurIPS 2020, Section 4.
    """

    def __init__(self) -> None:
        self._start: Optional[dict[str, Tensor]] = None

    def probe(self, learner: Any, context: Any) -> dict[str, float]:
        self._start = {k: v.detach().clone() for k, v in learner.model.state_dict().items()}
        return {}

    def probe_after(self, learner: Any, context: Any) -> dict[str, float]:
        if self._start is None:
            raise RuntimeError("StartCorrelation.probe_after needs StartCorrelation.probe to run first (pass both)")
        start, self._start = self._start, None
        return {**weight_correlation_probe(learner, context),
                "corr_start_overall": weight_correlation(learner.model, start)["overall"]}
