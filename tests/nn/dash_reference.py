"""A direct, deliberately slow transcription of DASH's Algorithm 1, for checking ``dashsim.nn.dash_``.

Written separately from the library: one full-batch gradient per chunk with ``loss.backward()``,
an explicit EMA, and explicit Python loops over every group with ``F.cosine_similarity`` replaced by
a hand-written dot / norm (so a zero vector gets similarity 0, as the spec requires).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.flatten(), b.flatten()
    na, nb = float(a.norm()), float(b.norm())
    if na == 0.0 or nb == 0.0:
        return 0.0
    return float((a * b).sum()) / (na * nb)


def dash_reference(model: nn.Module, chunks, *, alpha: float, lam: float, granularity: str = "kernel") -> nn.Module:
    """Return a shrunk COPY of ``model``; ``chunks`` is a list of (x, y) full-chunk pairs, oldest first."""
    model = copy.deepcopy(model)
    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d))]
    params = []
    for layer in layers:
        params.append(layer.weight)
        if layer.bias is not None:
            params.append(layer.bias)

    # Step 1: G = 0.
    G = {id(p): torch.zeros_like(p) for p in params}
    # Step 2: one full-batch gradient per chunk, eval mode, plain cross-entropy; EMA of -U.
    model.eval()
    for x, y in chunks:
        for p in model.parameters():
            p.grad = None
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        for p in params:
            U = p.grad.clone()
            G[id(p)] = (1 - alpha) * G[id(p)] + alpha * (-U)

    # Step 3: theta <- theta * max(lam, cos(G, theta)) per group.
    with torch.no_grad():
        for p in params:
            g = G[id(p)]
            if p.ndim == 1:  # a bias vector: one group
                p.mul_(max(lam, min(1.0, _cos(g, p))))
            elif p.ndim == 2:  # Linear: one group per output row
                for o in range(p.shape[0]):
                    p[o].mul_(max(lam, min(1.0, _cos(g[o], p[o]))))
            elif granularity == "filter":  # Conv: one group per output filter
                for o in range(p.shape[0]):
                    p[o].mul_(max(lam, min(1.0, _cos(g[o], p[o]))))
            else:  # Conv: one group per (out, in) kernel slice
                for o in range(p.shape[0]):
                    for i in range(p.shape[1]):
                        p[o, i].mul_(max(lam, min(1.0, _cos(g[o, i], p[o, i]))))
    for p in model.parameters():
        p.grad = None
    return model
