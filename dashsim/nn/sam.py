"""Sharpness-Aware Minimization (Foret et al., ICLR 2021) wrapping any torch optimizer."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

__all__ = ["SAM"]


class SAM(torch.optim.Optimizer):
    """SAM: take the base optimizer's step with the gradient at the worst nearby point.

    ``e_w = rho * g / ||g||_2`` (norm over all parameters), ``w_adv = w + e_w``; then the base
    optimizer steps from ``w`` with ``grad L(w_adv)``. ``rho`` is the neighbourhood radius.

    Parameters
    ----------
    params : parameters or parameter groups, as for any torch optimizer.
    base_optimizer_cls : the optimizer class to wrap (e.g. ``torch.optim.SGD``, ``torch.optim.Adam``).
    rho : finite radius rho >= 0 of the ascent step (DASH authors' code default 0.1).
    **base_kwargs : passed to ``base_optimizer_cls`` (lr, momentum, ...).

    Usage: ``loss = closure(); optimizer.step(closure)`` where ``closure`` zeroes grads, computes
    the loss and calls ``backward()``. If gradients are present when ``step`` runs they are taken
    as the gradient at ``w`` (the usual ``loss.backward(); optimizer.step(closure)``); if none are
    present ``step`` calls ``closure`` first. ``step`` leaves ``.grad`` cleared (None). Or call
    :meth:`first_step` / :meth:`second_step` yourself. ``requires_closure = True`` tells a
    training loop to pass one.

    References
    ----------
    Foret et al., "Sharpness-Aware Minimization for Efficiently Improving Generalization", ICLR 2021,
    Algorithm 1 (Eq. 2 with p = 2).
    """

    requires_closure = True

    def __init__(self, params: Any, base_optimizer_cls: type[torch.optim.Optimizer], rho: float = 0.1,
                 **base_kwargs: Any):
        if isinstance(rho, bool) or not isinstance(rho, numbers.Real) or not 0.0 <= rho < math.inf:
            raise ValueError(f"rho must be a finite real number >= 0, got {rho!r}")
        if not (isinstance(base_optimizer_cls, type) and issubclass(base_optimizer_cls, torch.optim.Optimizer)):
            raise TypeError(f"base_optimizer_cls must be a torch.optim.Optimizer subclass, got {base_optimizer_cls!r}")
        super().__init__(params, dict(rho=float(rho), **base_kwargs))
        # The base optimizer shares our param_groups, so lr schedulers acting on SAM act on it too.
        self.base_optimizer = base_optimizer_cls(self.param_groups, **base_kwargs)
        self.param_groups = self.base_optimizer.param_groups
        self.defaults.update(self.base_optimizer.defaults)

    @torch.no_grad()
    def _grad_norm(self) -> Tensor:
        norms = [p.grad.norm(p=2) for group in self.param_groups for p in group["params"] if p.grad is not None]
        if not norms:
            return torch.tensor(0.0)
        device = norms[0].device
        return torch.linalg.vector_norm(torch.stack([n.to(device) for n in norms]), ord=2)

    @torch.no_grad()
    def first_step(self, zero_grad: bool = False) -> None:
        """Move every parameter to ``w + rho * g / ||g||`` (remembering the offset)."""
        grad_norm = self._grad_norm()
        for group in self.param_groups:
            scale = group["rho"] / (grad_norm + 1e-12)
            for p in group["params"]:
                if p.grad is None:
                    continue
                e_w = p.grad * scale.to(p)
                p.add_(e_w)
                self.state[p]["e_w"] = e_w
        if zero_grad:
            self.zero_grad()

    @torch.no_grad()
    def second_step(self, zero_grad: bool = False) -> None:
        """Return to ``w`` and take the base optimizer's step with the gradient found at ``w + e_w``."""
        for group in self.param_groups:
            for p in group["params"]:
                e_w = self.state[p].pop("e_w", None)
                if e_w is not None:
                    p.sub_(e_w)
        self.base_optimizer.step()
        if zero_grad:
            self.zero_grad()

    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor:  # type: ignore[override]
        """One SAM step; ``closure`` re-evaluates the loss and calls ``backward()``.

        Returns the loss at ``w`` when ``step`` evaluated it, else the loss at ``w + e_w``.
        """
        if closure is None:
            raise ValueError("SAM.step needs a closure that recomputes the loss and calls backward()")
        closure = torch.enable_grad()(closure)
        have_grad = any(p.grad is not None for g in self.param_groups for p in g["params"])
        loss = None
        if not have_grad:
            loss = closure()
        self.first_step(zero_grad=True)
        adv_loss = closure()
        # Clearing the adversarial gradient makes the next step(closure) re-evaluate at w even in a
        # loop that never calls zero_grad itself.
        self.second_step(zero_grad=True)
        return loss if loss is not None else adv_loss

    def state_dict(self) -> dict[str, Any]:
        return {"sam": super().state_dict(), "base": self.base_optimizer.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict["sam"])
        self.base_optimizer.load_state_dict(state_dict["base"])
        self.param_groups = self.base_optimizer.param_groups
