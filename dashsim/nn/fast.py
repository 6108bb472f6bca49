"""The captured training step: one CUDA graph per mini-batch shape, replayed for every step of an experiment.

At batch 128 an eager PyTorch step is bound by kernel launches (about 10 ms whatever the model);
capturing the whole step (gather by index, crop and flip, forward, backward, the optimizer update,
the statistics) in a CUDA graph and replaying it removes that cost. :func:`train_until_target_fast`
is the loop of :func:`~dashsim.nn.train.train_until_target` built on :class:`FastStep`: the same
draws from the same generator in the same order, the same epochs and stopping rule, the last,
shorter mini-batch kept (it gets a graph of its own shape), statistics summed on the device and
read once per epoch. The step's arithmetic is written here with device tensors for everything
that changes between steps (the learning rate, the crop offsets, the batch's indices), so one
graph serves every step; the same code runs eagerly (``capture=False``, and on the CPU, where the
tests compare it with the standard loop).

``TrainConfig(fast=True)`` selects this loop on CUDA devices; on the CPU it is a no-op (there are
no launches to save, and the standard loop stays the reference). Results agree with the standard
loop within floating-point tolerance, not bit for bit: the update multiplies by a float32 learning
rate tensor where ``torch.optim`` uses a Python float, and foreach kernels may round differently.

References
----------
PyTorch, "CUDA Graphs" (``torch.cuda.graph``, whole-network capture); Shin et al., NeurIPS 2024,
Section 5 (the protocol the loop implements).
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import TYPE_CHECKING, Callable, Iterator, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from . import data as _data
from .methods import Learner, Method
from .models import is_flat
from .sam import SAM

if TYPE_CHECKING:
    from .train import ExperimentResult

__all__ = ["FastStep", "train_until_target_fast", "deterministic_mode", "device_change_note", "WARMUP_STEPS"]

logger = logging.getLogger(__name__)

WARMUP_STEPS = 3  # eager steps per batch shape before its capture (allocations, cuDNN/cuBLAS plans, optimizer state)


class FastStep:
    """One training step over static buffers, run eagerly or as a replayed CUDA graph.

    Each call trains on ``x[idx]`` (cropped and flipped at ``top``, ``left``, ``flip`` when
    ``config.augment``) with learning rate ``lr``: ``CE(model(x_b), y_b) + method.penalty(learner)``,
    then the update of the learner's optimizer, written out with the lr as a device tensor:

    * SGD: ``g <- grad + wd w``; ``m <- mu m + g`` (``torch.optim.SGD``, dampening 0); ``w <- w - lr m``
      (``m = g`` when ``mu = 0``).
    * Adam: ``g <- grad + wd w``; ``m <- lerp(m, g, 1 - b1)``; ``v <- b2 v + (1 - b2) g^2``;
      ``w <- w - lr / (1 - b1^t) m / (sqrt(v) / sqrt(1 - b2^t) + eps)`` (``torch.optim.Adam``).
    * SAM: ``e = rho g / (||g||_2 + 1e-12)``; the gradient at ``w + e`` drives the SGD update from ``w``.

    The optimizer's own state tensors (momentum buffers, Adam moments) are updated in place, so
    checkpoints and the standard loop see the same state; Adam's step count is written back by
    :meth:`finish`. Correct counts, summed cross-entropy and summed objective accumulate in
    :attr:`correct`, :attr:`loss_sum`, :attr:`objective_sum` on the device.

    Parameters
    ----------
    learner : the model and optimizer (``torch.optim.SGD``, ``torch.optim.Adam`` or :class:`SAM` over SGD).
    method : supplies the loss penalty (L2 Init).
    x, y : the training set on the device.
    config : batch size, augmentation, bf16, channels_last.
    fill : the crop's padding value in ``x``'s units (with ``config.augment``).
    capture : replay CUDA graphs (CUDA only); False runs the same step eagerly.
    record_steps : keep the first this-many per-step cross-entropies (:attr:`trace`; parity checks).
    """

    def __init__(self, learner: Learner, method: Method, x: Tensor, y: Tensor, *, config, fill=None,
                 capture: bool = False, record_steps: int = 0):
        if capture and x.device.type != "cuda":
            raise ValueError(f"capture needs a CUDA device, got x on {x.device}")
        self.learner, self.method, self.x, self.y, self.config = learner, method, x, y, config
        self.capture = capture
        device = self.device = x.device
        optimizer = learner.optimizer
        self.kind, self.hyper = _optimizer_kind(optimizer)
        groups = optimizer.param_groups
        self.params = [p for g in groups for p in g["params"] if p.requires_grad]
        self.fill = _data.fill_tensor(fill if fill is not None else 0.0, x) if config.augment else None
        self.channels_last = config.channels_last and x.dim() == 4 and not is_flat(config.model)
        self.lr = torch.zeros((), dtype=torch.float32, device=device)
        self.correct = torch.zeros((), dtype=torch.int64, device=device)
        self.loss_sum = torch.zeros((), dtype=torch.float32, device=device)
        self.objective_sum = torch.zeros((), dtype=torch.float32, device=device)
        # One slot more than asked: steps past ``record_steps`` overwrite it, so the step has no branch.
        self._trace = torch.full((record_steps + 1,), float("nan"), dtype=torch.float32, device=device)
        self._count = torch.zeros((), dtype=torch.int64, device=device)
        self._one = torch.ones((), dtype=torch.int64, device=device)
        self._buffers: dict[int, tuple[Tensor, Tensor, Tensor, Tensor]] = {}
        self._graphs: dict[int, torch.cuda.CUDAGraph] = {}
        self._calls: dict[int, int] = {}
        self._pool = torch.cuda.graph_pool_handle() if capture else None
        self._init_state()

    def _init_state(self) -> None:
        state = self.learner.optimizer.state
        if self.kind == "sam":
            state = self.learner.optimizer.base_optimizer.state
        self._m: list[Tensor] = []
        self._v: list[Tensor] = []
        if self.kind in ("sgd", "sam") and self.hyper["momentum"] != 0:
            for p in self.params:
                if state[p].get("momentum_buffer") is None:
                    # A zero buffer gives torch's first step exactly: mu * 0 + g == clone(g).
                    state[p]["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                self._m.append(state[p]["momentum_buffer"])
        elif self.kind == "adam":
            steps = set()
            for p in self.params:
                s = state[p]
                if "exp_avg" not in s:
                    s["step"] = torch.tensor(0.0)
                    s["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    s["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                steps.add(float(s["step"]))
                self._m.append(s["exp_avg"])
                self._v.append(s["exp_avg_sq"])
            if len(steps) > 1:
                raise ValueError(f"Adam's parameters have different step counts {sorted(steps)}; the fast path "
                                 "needs one")
            self._adam_step = torch.full((), steps.pop() if steps else 0.0, dtype=torch.float32, device=self.device)

    @property
    def trace(self) -> Tensor:
        """The first ``record_steps`` per-step cross-entropies (NaN for steps not taken), on the CPU (a host sync)."""
        return self._trace[:-1].detach().cpu()

    def finish(self) -> None:
        """Write Adam's step count back into the optimizer's state (one host copy per experiment)."""
        if self.kind == "adam":
            step = self._adam_step.detach().to("cpu")
            for p in self.params:
                self.learner.optimizer.state[p]["step"] = step.clone()

    # --- one step ------------------------------------------------------------------------

    def __call__(self, idx: Tensor, lr: Tensor, top: Optional[Tensor] = None, left: Optional[Tensor] = None,
                 flip: Optional[Tensor] = None) -> None:
        """Train one step on ``x[idx]`` at lr ``lr`` (0-d device tensor), cropped at ``top``, ``left``, ``flip``."""
        B = int(idx.numel())
        if B not in self._buffers:
            self._buffers[B] = (torch.zeros(B, dtype=torch.int64, device=self.device),
                                torch.zeros(B, dtype=torch.int64, device=self.device),
                                torch.zeros(B, dtype=torch.int64, device=self.device),
                                torch.zeros(B, dtype=torch.bool, device=self.device))
        s_idx, s_top, s_left, s_flip = self._buffers[B]
        s_idx.copy_(idx, non_blocking=True)
        self.lr.copy_(lr, non_blocking=True)
        if self.config.augment:
            s_top.copy_(top, non_blocking=True)
            s_left.copy_(left, non_blocking=True)
            s_flip.copy_(flip, non_blocking=True)
        if not self.capture:
            self._step(B)
            return
        graph = self._graphs.get(B)
        if graph is not None:
            graph.replay()
            return
        calls = self._calls.get(B, 0)
        if calls < WARMUP_STEPS:
            # Real training steps, run eagerly on a side stream as capture requires before it.
            side = torch.cuda.Stream(device=self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                self._step(B)
            torch.cuda.current_stream(self.device).wait_stream(side)
            self._calls[B] = calls + 1
            return
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self._pool):
            self._step(B)  # recorded, not run
        self._graphs[B] = graph
        graph.replay()

    def _objective(self, xb: Tensor, yb: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        for p in self.params:
            p.grad = None
        # cache_enabled=False: autocast's weight cache must not outlive a captured region.
        autocast = (torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, cache_enabled=False)
                    if self.config.bf16 else contextlib.nullcontext())
        with autocast:
            logits = self.learner.model(xb)
            ce = F.cross_entropy(logits, yb)
        penalty = self.method.penalty(self.learner)
        total = ce if penalty is None else ce + penalty
        total.backward()
        return ce, logits, total

    def _grads(self) -> list[Tensor]:
        return [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]

    def _step(self, B: int) -> None:
        s_idx, s_top, s_left, s_flip = self._buffers[B]
        xb, yb = self.x[s_idx], self.y[s_idx]
        if self.config.augment:
            xb = _data.crop_flip(xb, s_top, s_left, s_flip, padding=self.config.crop_padding, fill=self.fill)
        if self.channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        ce, logits, total = self._objective(xb, yb)
        with torch.no_grad():
            if self.kind == "sam":
                self._sam_update(xb, yb)
            elif self.kind == "sgd":
                self._sgd_update(self._grads())
            else:
                self._adam_update(self._grads())
            self.correct += (logits.detach().argmax(dim=1) == yb).sum()
            self.loss_sum += ce.detach().float() * B
            self.objective_sum += total.detach().float()
            if self._trace.numel() > 1:
                slot = torch.clamp(self._count, max=self._trace.numel() - 1).view(1)
                self._trace.index_copy_(0, slot, ce.detach().float().view(1))
                self._count += self._one

    def _sgd_update(self, grads: list[Tensor]) -> None:
        wd, mu = self.hyper["weight_decay"], self.hyper["momentum"]
        if wd != 0:
            grads = torch._foreach_add(grads, self.params, alpha=wd)
        if mu != 0:
            torch._foreach_mul_(self._m, mu)
            torch._foreach_add_(self._m, grads)
            grads = self._m
        torch._foreach_add_(self.params, torch._foreach_mul(grads, -self.lr))

    def _adam_update(self, grads: list[Tensor]) -> None:
        wd, (b1, b2), eps = self.hyper["weight_decay"], self.hyper["betas"], self.hyper["eps"]
        if wd != 0:
            grads = torch._foreach_add(grads, self.params, alpha=wd)
        self._adam_step += 1
        torch._foreach_lerp_(self._m, grads, 1 - b1)
        torch._foreach_mul_(self._v, b2)
        torch._foreach_addcmul_(self._v, grads, grads, 1 - b2)
        neg_step_size = -self.lr / (1 - b1 ** self._adam_step)
        bias2_sqrt = torch.sqrt(1 - b2 ** self._adam_step)
        denom = torch._foreach_sqrt(self._v)
        torch._foreach_div_(denom, bias2_sqrt)
        torch._foreach_add_(denom, eps)
        torch._foreach_addcdiv_(self.params, torch._foreach_mul(self._m, neg_step_size), denom)

    def _sam_update(self, xb: Tensor, yb: Tensor) -> None:
        grads = self._grads()
        norm = torch.linalg.vector_norm(torch.stack([g.norm(p=2) for g in grads]), ord=2)
        scale = self.hyper["rho"] / (norm + 1e-12)
        e_w = [g * scale.to(g) for g in grads]
        torch._foreach_add_(self.params, e_w)
        with torch.enable_grad():
            self._objective(xb, yb)  # the gradient at w + e_w; the statistics keep the first pass
        torch._foreach_sub_(self.params, e_w)
        self._sgd_update(self._grads())
        for p in self.params:
            p.grad = None


def _optimizer_kind(optimizer: torch.optim.Optimizer) -> tuple[str, dict]:
    """``("sgd" | "adam" | "sam", hyper-parameters)`` of an optimizer the fast step can write out; else ValueError."""
    groups = optimizer.param_groups
    first = {k: v for k, v in groups[0].items() if k != "params"}
    if any({k: v for k, v in g.items() if k != "params"} != first for g in groups[1:]):
        raise ValueError("the fast path needs one set of optimizer hyper-parameters for all parameter groups")
    if isinstance(optimizer, SAM):
        if type(optimizer.base_optimizer) is not torch.optim.SGD:
            raise ValueError("the fast path writes out SAM over SGD, got SAM over "
                             f"{type(optimizer.base_optimizer).__name__}")
        kind = "sam"
    elif type(optimizer) is torch.optim.SGD:
        kind = "sgd"
    elif type(optimizer) is torch.optim.Adam:
        kind = "adam"
    else:
        raise ValueError(f"the fast path writes out torch.optim.SGD, torch.optim.Adam and SAM(SGD), got "
                         f"{type(optimizer).__name__}; use TrainConfig(fast=False)")
    unsupported = {"nesterov": False, "dampening": 0, "maximize": False, "amsgrad": False,
                   "decoupled_weight_decay": False}
    for key, plain in unsupported.items():
        if first.get(key, plain) != plain:
            raise ValueError(f"the fast path does not write out {key}={first[key]!r}; use TrainConfig(fast=False)")
    return kind, first


def train_until_target_fast(learner: Learner, method: Method, x: Tensor, y: Tensor, indices: Tensor, *, config,
                            generator: torch.Generator, on_epoch: Callable[[int, float, int], None] | None = None,
                            stop_at_target: bool = True, fill=None, capture: Optional[bool] = None,
                            trace: Optional[list] = None, record_steps: int = 0) -> "ExperimentResult":
    """:func:`~dashsim.nn.train.train_until_target` with every step a :class:`FastStep` (captured on CUDA).

    Same draws in the same order from ``generator`` (the epoch's permutation, then per mini-batch
    ``top``, ``left``, ``flip`` as :func:`~dashsim.nn.data.random_crop_flip` draws them), the same
    learning rate per step (:func:`~dashsim.nn.train.scheduled_lr`, moved to the device once per
    epoch), the same epochs, stopping rule and :class:`~dashsim.nn.train.ExperimentResult`; the
    last, shorter mini-batch of an epoch is trained, not dropped. One host synchronization per
    epoch. ``capture`` defaults to "on CUDA" (False runs every step eagerly, same arithmetic). With
    a list ``trace`` and ``record_steps`` > 0, the first ``record_steps`` per-step cross-entropies
    (:attr:`FastStep.trace`) are appended to ``trace`` on return (parity checks).

    Raises
    ------
    NonFiniteLossError as the standard loop does.
    """
    from .train import ExperimentResult, batch_bounds, epoch_statistics, scheduled_lr  # train imports this lazily

    if config.augment and (fill is None or x.dim() != 4):
        raise ValueError("augment needs image inputs (N, C, H, W) and fill, the crop's padding value in x's units "
                         f"(e.g. prepare_data(...).fill); got x of shape {tuple(x.shape)} and fill {fill!r}")
    device = x.device
    capture = device.type == "cuda" if capture is None else capture
    step = FastStep(learner, method, x, y, config=config, fill=fill, capture=capture, record_steps=record_steps)
    n, bs = int(indices.numel()), config.batch_size
    bounds = batch_bounds(n, bs, config.last_batch)  # the standard loop's batches, last-batch policy included
    n_seen = bounds[-1][1]  # samples trained per epoch (fewer with "drop")
    sizes = [stop - start for start, stop in bounds]
    steps_per_epoch = len(bounds)
    scheduled = bool(config.lr_milestones) or config.warmup_epochs > 0
    base_lr = config.resolved_lr
    constant_lr = torch.tensor([learner.optimizer.param_groups[0]["lr"]] * steps_per_epoch, dtype=torch.float32)
    model = learner.model
    model.train()
    steps, acc, loss_mean = 0, 0.0, 0.0
    try:
        for epoch in range(1, config.max_epochs + 1):
            order = indices[torch.randperm(n, generator=generator).to(device, non_blocking=True)]
            if config.augment:
                draws = [_crop_draws(b, generator, config.crop_padding) for b in sizes]
                top, left, flip = (torch.cat([d[k] for d in draws]).to(device, non_blocking=True) for k in range(3))
            if scheduled:
                lrs = torch.tensor([scheduled_lr(steps + i + 1, steps_per_epoch, base_lr=base_lr,
                                                 lr_milestones=config.lr_milestones, lr_gamma=config.lr_gamma,
                                                 warmup_epochs=config.warmup_epochs) for i in range(len(sizes))],
                                   dtype=torch.float32)
            else:
                lrs = constant_lr
            lrs = lrs.to(device, non_blocking=True)
            for t in (step.correct, step.loss_sum, step.objective_sum):
                t.zero_()
            for i, (start, end) in enumerate(bounds):
                if config.augment:
                    step(order[start:end], lrs[i], top[start:end], left[start:end], flip[start:end])
                else:
                    step(order[start:end], lrs[i])
                steps += 1
            acc, loss_mean = epoch_statistics(step.correct, step.loss_sum, step.objective_sum, n_seen, epoch=epoch,
                                              steps=steps)
            if on_epoch is not None:
                on_epoch(epoch, acc, steps)
            if stop_at_target and acc >= config.target_accuracy:
                return ExperimentResult(steps, epoch, acc, loss_mean, True)
        return ExperimentResult(steps, config.max_epochs, acc, loss_mean, acc >= config.target_accuracy)
    finally:
        step.finish()
        if trace is not None:
            trace.append(step.trace)


def _crop_draws(B: int, generator: torch.Generator, padding: int) -> tuple[Tensor, Tensor, Tensor]:
    """``top, left, flip`` for one mini-batch, drawn exactly as :func:`~dashsim.nn.data.random_crop_flip` draws them."""
    top = torch.randint(0, 2 * padding + 1, (B,), generator=generator)
    left = torch.randint(0, 2 * padding + 1, (B,), generator=generator)
    flip = torch.randint(0, 2, (B,), generator=generator).bool()
    return top, left, flip


# --- determinism and devices -------------------------------------------------------------------


@contextlib.contextmanager
def deterministic_mode(enabled: bool) -> Iterator[None]:
    """Within the block, use only deterministic kernels (``enabled``); the previous settings are restored after.

    Sets ``torch.use_deterministic_algorithms(True)``, ``torch.backends.cudnn.deterministic = True``,
    ``torch.backends.cudnn.benchmark = False`` and, unless already set, the environment variable
    ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` that cuBLAS needs for reproducible matrix products (it
    takes effect only if cuBLAS was not yet initialized in this process). On the CPU, dashsim's
    runs are bit-reproducible without it; on CUDA it makes repeated runs on the same GPU and
    software agree bit for bit, at a cost in speed (slower deterministic convolution algorithms,
    and an error for any operation that has no deterministic kernel). ``enabled=False`` changes nothing.
    """
    if not enabled:
        yield
        return
    saved = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark,
             os.environ.get("CUBLAS_WORKSPACE_CONFIG"))
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[2], saved[3]
        if saved[4] is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)


def device_change_note(previous: str, now: torch.device) -> Optional[str]:
    """What changes when a run folder last run on device ``previous`` resumes on ``now``; None for the same type.

    Bit-exactness holds only within one device type: the finished rounds stay as they were
    computed, and the resumed rounds continue from the checkpoint (weights, optimizer state, RNG
    states) with the new device's kernels, whose floating-point results differ in the last bits.
    """
    try:
        before = torch.device(previous).type
    except (RuntimeError, TypeError):
        before = str(previous)
    if before == now.type:
        return None
    return (f"resuming on {now} a run folder last run on {previous}: the finished rounds are kept as computed on "
            f"{previous}; the remaining rounds continue from the checkpoint (weights, optimizer state, random number "
            f"generators) with {now.type} kernels, so they match an uninterrupted run only within floating-point "
            f"tolerance (results are bit-exact only within one device type)")
