"""The device check: parity, throughput and a short Figure 1 run on one GPU, in one call within a time budget.

1. Parity: DASH on a random ResNet-18 on the GPU vs the CPU (max abs weight difference); per-step
   losses of the standard loop, the fast step run eagerly and the captured step (200 steps of
   ResNet-18, fp32 and bf16); an MLP experiment stops at the same epoch with and without capture.
2. Throughput, batch 128, data resident on the GPU, one side-by-side table: the authors' pipeline
   (per-sample PIL transforms through a DataLoader, as in ``benchmarks/training.py``), dashsim
   eager fp32, eager bf16 + channels_last, the fast step eager, captured fp32, captured bf16 and
   ``torch.compile(mode="reduce-overhead")``, for the authors' ResNet-18 and the BatchNorm MLP;
   DASH over 50,000 images; evaluation over 10,000.
3. Figure 1's protocol end to end: ResNet-18 on Fashion-MNIST, J = 10 chunks of 5,000, cold / warm /
   S&P / DASH, one seed, ``fast=True``; its table and wall time.
4. Everything goes to ``<out>/<date>-<gpu>.md`` (``--out``, default ``$OUT`` if set, else
   ``benchmarks/results``) and to stdout.

Each part checks the time left (``--budget-s``, default 420 s) and skips what no longer fits, with a
note, rather than overrun. ``--dry-run`` runs every code path but the CUDA capture on the CPU with
tiny sizes (seconds; the captured rows say "skipped (no CUDA)"). Fashion-MNIST travels as an
``.npz`` (``--make-npz PATH`` writes one from the local copy; ``--data PATH`` reads it); without it
part 3 runs on synthetic images and says so.

Run:  PYTHONPATH=. python benchmarks/gpu.py [--dry-run] [--data benchmarks/data/fashion-mnist.npz]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import datetime as dt
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
# Pure-Python dependencies the device machine may lack (copied there by --make-npz); installed ones win.
sys.path.append(str(Path(__file__).resolve().parent / "data" / "vendor"))
from training import AuthorsStyleDataset, authors_epoch  # noqa: E402  (the authors' pipeline, written out once)

from dashsim.nn import dash_, engine, make_method  # noqa: E402
from dashsim.nn.data import ImageDataset, load_fashion_mnist  # noqa: E402
from dashsim.nn.engine import IndexedChunk  # noqa: E402
from dashsim.nn.fast import train_until_target_fast  # noqa: E402
from dashsim.nn.models import build_model  # noqa: E402
from dashsim.nn.train import TrainConfig, build_learner, evaluate, train_until_target  # noqa: E402

TARGETS = {"resnet18": 40_000.0, "mlp": 150_000.0}  # captured images/s (the targets, one run on the GPU)
TARGET_SPEEDUP = 10.0  # captured ResNet-18 vs the authors' pipeline
TARGET_DASH_S = 1.0  # DASH over 50,000 images on ResNet-18
# (full, dry run) sizes
SIZES = {
    "dash_parity": (256, 2), "parity_steps": (200, 2), "authors": (2_560, 2), "eager": (10_240, 2),
    "captured": (25_600, 2), "mlp_authors": (5_120, 8), "mlp_eager": (25_600, 8), "mlp_captured": (102_400, 8),
    "dash_images": (50_000, 10), "eval_images": (10_000, 4), "batch": (128, 2),
}


class Report:
    """Markdown lines, echoed to stdout as they come, and the time budget."""

    def __init__(self, budget_s: float):
        self.lines: list[str] = []
        self.deadline = time.perf_counter() + budget_s
        self.failures: list[str] = []
        self.notes: list[str] = []

    def add(self, line: str = "") -> None:
        self.lines.append(line)
        print(line, flush=True)

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def fits(self, seconds: float, what: str) -> bool:
        if self.left() >= seconds:
            return True
        self.add(f"- {what}: skipped (about {seconds:.0f} s needed, {max(self.left(), 0):.0f} s of the budget left)")
        self.notes.append(f"{what} skipped for time")
        return False

    def check(self, ok: bool, what: str) -> str:
        if not ok:
            self.failures.append(what)
        return "PASS" if ok else "FAIL"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _images(n: int, shape=(3, 32, 32), seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, *shape), dtype=np.uint8), rng.integers(0, 10, n)


def _dataset(images: np.ndarray, labels: np.ndarray, name: str = "fashion-mnist") -> ImageDataset:
    return ImageDataset.from_tensors(images, labels, images[:64], labels[:64], name=name, num_classes=10)


def _recorded_losses(run) -> list[float]:
    """The cross-entropies ``run()`` computes, one per forward pass (a host sync each: parity only)."""
    losses, original = [], F.cross_entropy

    def recorded(*args, **kwargs):
        out = original(*args, **kwargs)
        losses.append(float(out.detach()))
        return out

    F.cross_entropy = recorded
    try:
        run()
    finally:
        F.cross_entropy = original
    return losses


def _rel_diff(a, b) -> float:
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    return float(((a - b).abs() / b.abs().clamp_min(1e-6)).max()) if a.numel() else 0.0


# --- 1. parity -------------------------------------------------------------------------------------


def parity(report: Report, device: torch.device, dry: bool, capture: bool) -> None:
    report.add("## 1. Parity")
    report.add()
    size = lambda key: SIZES[key][1 if dry else 0]  # noqa: E731
    # DASH on a random ResNet-18: the device against the CPU.
    if report.fits(20 if not dry else 1, "DASH GPU vs CPU"):
        torch.manual_seed(0)
        model = build_model("resnet18", num_classes=10, input_shape=(3, 32, 32))
        images, labels = _images(2 * size("dash_parity"), seed=1)
        x = torch.from_numpy(images).float().div(255).sub(0.5).div(0.25)
        y = torch.from_numpy(labels)
        half = x.shape[0] // 2
        results = []
        for where in (torch.device("cpu"), device):
            net = copy.deepcopy(model).to(where)
            chunks = [(x[:half].to(where), y[:half].to(where)), (x[half:].to(where), y[half:].to(where))]
            dash_(net, chunks, alpha=0.3, lam=0.3, batch_size=128)
            results.append({k: v.detach().cpu() for k, v in net.state_dict().items()})
        diff = max(float((results[0][k].double() - results[1][k].double()).abs().max()) for k in results[0])
        ok = diff <= 1e-3
        report.add(f"- DASH (alpha 0.3, lam 0.3) on a random ResNet-18, 2 chunks of {half} images, {device} vs cpu: "
                   f"max abs weight difference {diff:.2e} (threshold 1e-3, TF32 as torch's default) "
                   f"{report.check(ok, 'DASH GPU vs CPU')}")
    # Per-step losses: the standard loop, the fast step eagerly, the captured step.
    steps, bs = size("parity_steps"), size("batch")
    images, labels = _images(max(steps * bs // 4, bs), seed=2)
    ds = _dataset(images, labels)
    for bf16 in (False, True):
        name = "bf16" if bf16 else "fp32"
        if not report.fits(60 if not dry else 1, f"per-step losses {name}"):
            continue
        epochs = -(-steps // -(-len(images) // bs))
        config = TrainConfig(data="fashion-mnist", model="resnet18", method="warm", batch_size=bs, lr=0.01,
                             max_epochs=epochs, target_accuracy=1.0, bf16=bf16, device=str(device))
        x, y = ds.as_float("train", normalize=True, device=device)
        idx = torch.arange(x.shape[0], device=device)
        traces = {}
        for path in ("standard", "fast eager", "captured"):
            if path == "captured" and not capture:
                continue
            torch.manual_seed(0)
            learner = build_learner(config, ds, device)
            gen = torch.Generator().manual_seed(0)
            if path == "standard":
                losses = _recorded_losses(lambda: train_until_target(learner, make_method("warm"), x, y, idx,
                                                                     config=config, generator=gen,
                                                                     stop_at_target=False))
                traces[path] = torch.tensor(losses[:steps])
            else:
                out: list = []
                train_until_target_fast(learner, make_method("warm"), x, y, idx, config=config, generator=gen,
                                        stop_at_target=False, capture=path == "captured", trace=out,
                                        record_steps=steps)
                traces[path] = out[0]
        tol_close, tol_drift = (1e-4, 1e-2) if not bf16 else (5e-2, 1e-1)
        d_fast = _rel_diff(traces["fast eager"], traces["standard"])
        report.add(f"- {name}, {steps} steps of ResNet-18 (batch {bs}): fast eager vs standard loop, max relative "
                   f"loss difference {d_fast:.2e} (threshold {tol_drift:g}: a float32 lr tensor and foreach kernels) "
                   f"{report.check(d_fast <= tol_drift, f'fast eager vs standard {name}')}")
        if capture:
            d_cap = _rel_diff(traces["captured"], traces["fast eager"])
            report.add(f"- {name}: captured vs fast eager, max relative loss difference {d_cap:.2e} (threshold "
                       f"{tol_close:g}) {report.check(d_cap <= tol_close, f'captured vs eager {name}')}")
        else:
            report.add(f"- {name}: captured: skipped (no CUDA)")
    # The same stopping epoch: an MLP on learnable synthetic data, to 99% train accuracy.
    if report.fits(30 if not dry else 1, "same stopping epoch"):
        rng = np.random.default_rng(3)
        n = 2_048 if not dry else 64
        feats = rng.standard_normal((n, 64)).astype(np.float32)
        labels = (feats @ rng.standard_normal((64, 10))).argmax(1)
        ds_lin = ImageDataset.from_tensors(feats, labels, feats[:64], labels[:64], name="synthetic", num_classes=10)
        config = TrainConfig(data="fashion-mnist", model="mlp", width=256, method="warm", batch_size=128 if not dry
                             else 16, lr=0.05, max_epochs=60, target_accuracy=0.99 if not dry else 0.9,
                             device=str(device))
        x, y = (t.to(device) for t in (torch.from_numpy(feats), torch.from_numpy(labels)))
        results = {}
        for path, loop in (("standard", train_until_target), ("captured" if capture else "fast eager",
                                                              train_until_target_fast)):
            torch.manual_seed(0)
            learner = build_learner(config, ds_lin, device)
            results[path] = loop(learner, make_method("warm"), x, y, torch.arange(n, device=device), config=config,
                                 generator=torch.Generator().manual_seed(0))
        (a, ra), (b, rb) = results.items()
        ok = ra.epochs == rb.epochs and ra.converged and rb.converged
        report.add(f"- MLP to {config.target_accuracy:.0%} train accuracy on {n} learnable synthetic samples: {a} "
                   f"stops at epoch {ra.epochs}, {b} at epoch {rb.epochs} {report.check(ok, 'same stopping epoch')}")
    report.add()


# --- 2. throughput ---------------------------------------------------------------------------------


def _epoch_rate(loop, learner, x, y, n: int, config, fill, device, **kwargs) -> tuple[float, float]:
    """Images/s of the second of two epochs (the first pays for allocations, kernel choice and capture)."""
    stamps = []

    def on_epoch(epoch, acc, steps):
        _sync(device)
        stamps.append(time.perf_counter())

    config = dataclasses.replace(config, max_epochs=2)
    loop(learner, make_method("warm"), x, y, torch.arange(n, device=device), config=config,
         generator=torch.Generator().manual_seed(0), on_epoch=on_epoch, stop_at_target=False, fill=fill, **kwargs)
    seconds = stamps[1] - stamps[0]
    return seconds, n / seconds


def throughput(report: Report, device: torch.device, dry: bool, capture: bool) -> dict:
    report.add(f"## 2. Throughput (batch {SIZES['batch'][1 if dry else 0]}, data resident on the device, "
               "SGD momentum 0.9)")
    report.add()
    size = lambda key: SIZES[key][1 if dry else 0]  # noqa: E731
    rows, measured = [], {}
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    for model_name in ("resnet18", "mlp"):
        prefix = "" if model_name == "resnet18" else "mlp_"
        n_max = max(size(prefix + "authors"), size(prefix + "eager"), size(prefix + "captured"))
        images, labels = _images(n_max, seed=4)
        ds = _dataset(images, labels)
        base = TrainConfig(data="fashion-mnist", model=model_name, method="warm", batch_size=size("batch"),
                           target_accuracy=1.0,
                           device=str(device))
        fill = ds.pixel_value(0, normalize=base.resolved_normalize)
        x32, y = ds.as_float("train", normalize=base.resolved_normalize, device=device)
        # The authors' pipeline: one PIL image at a time, a host sync per step.
        n = size(prefix + "authors")
        if report.fits(25 if not dry else 1, f"{model_name} authors' pipeline"):
            torch.manual_seed(0)
            learner = build_learner(base, ds, device)
            make = lambda k: torch.utils.data.DataLoader(  # noqa: E731
                AuthorsStyleDataset(images[:k].transpose(0, 2, 3, 1), labels[:k], ds.mean, ds.std),
                batch_size=size("batch"), shuffle=True, num_workers=0)
            authors_epoch(learner.model, learner.optimizer, make(2 * size("batch")), device)
            seconds = authors_epoch(learner.model, learner.optimizer, make(n), device)
            rows.append((model_name, "authors' pipeline", n, seconds))
        paths = [("dashsim eager fp32", {}, False), ("dashsim eager bf16 + channels_last",
                                                   {"bf16": True, "channels_last": True}, False),
                 ("fast step, eager (capture off)", {}, None), ("captured fp32", {}, True),
                 ("captured bf16", {"bf16": True}, True)]
        for label, changes, captured in paths:
            n = size(prefix + ("captured" if captured else "eager"))
            if captured and not capture:
                rows.append((model_name, label, n, None))
                continue
            if not report.fits(40 if not dry else 1, f"{model_name} {label}"):
                continue
            config = dataclasses.replace(base, **changes)
            x = x32[:n]
            if config.channels_last and model_name != "mlp":
                x = x.contiguous(memory_format=torch.channels_last)
            torch.manual_seed(0)
            learner = build_learner(config, ds, device)
            if captured is False:
                seconds, _ = _epoch_rate(train_until_target, learner, x, y, n, config, fill, device)
            else:
                seconds, _ = _epoch_rate(train_until_target_fast, learner, x, y, n, config, fill, device,
                                         capture=bool(captured))
            rows.append((model_name, label, n, seconds))
        # The other way to replay graphs: torch.compile's CUDA graphs (forward and backward; the optimizer
        # stays eager). Compiling takes about a minute, so it runs only on a GPU and only if it fits.
        label = "torch.compile reduce-overhead (optimizer eager)"
        n = size(prefix + "captured")
        if not capture:
            rows.append((model_name, label, n, None))
        elif report.fits(120, f"{model_name} {label}"):
            try:
                torch.manual_seed(0)
                learner = build_learner(base, ds, device)
                learner.model.compile(mode="reduce-overhead")
                seconds, _ = _epoch_rate(train_until_target, learner, x32[:n], y, n, base, fill, device)
                rows.append((model_name, label, n, seconds))
            except Exception as err:  # a compiler failure loses this row only
                report.add(f"- {model_name} {label}: failed: {type(err).__name__}: {str(err)[:300]}")
                report.notes.append(f"{model_name} {label} failed")
    # DASH over 50,000 images and evaluation over 10,000 on ResNet-18.
    extra = []
    n_dash, n_eval = size("dash_images"), size("eval_images")
    if report.fits(60 if not dry else 1, "DASH and evaluation"):
        images, labels = _images(max(n_dash, n_eval), seed=5)
        ds = _dataset(images, labels)
        x, y = ds.as_float("train", normalize=True, device=device)
        torch.manual_seed(0)
        model = build_model("resnet18", num_classes=10, input_shape=(3, 32, 32)).to(device)
        per_chunk = n_dash // 10
        for batch in ((1024, 4096) if not dry else (1, 2)):
            chunks = [IndexedChunk(x, y, torch.arange(i * per_chunk, (i + 1) * per_chunk, device=device), batch)
                      for i in range(10)]
            dash_(model, chunks[:1], batch_size=batch)  # warm-up: kernel choice for this batch shape
            _sync(device)
            start = time.perf_counter()
            dash_(model, chunks, batch_size=batch)
            _sync(device)
            extra.append(("resnet18", f"DASH, 10 chunks, gradient batch {batch}", 10 * per_chunk,
                          time.perf_counter() - start))
        for batch in ((1024, 4096) if not dry else (2, 4)):
            evaluate(model, x[:batch], y[:batch], batch_size=batch)  # warm-up
            _sync(device)
            start = time.perf_counter()
            evaluate(model, x[:n_eval], y[:n_eval], batch_size=batch)
            _sync(device)
            extra.append(("resnet18", f"evaluation, batch {batch}", n_eval, time.perf_counter() - start))
    report.add("| model | path | images | seconds | images/s | vs authors | target |")
    report.add("|---|---|---:|---:|---:|---:|---|")
    authors = {m: n / s for m, p, n, s in rows if p == "authors' pipeline" and s}
    for model_name, path, n, seconds in rows + extra:
        if seconds is None:
            report.add(f"| {model_name} | {path} | {n:,} | - | skipped ({'no CUDA' if not capture else 'time'}) | | |")
            continue
        rate = n / seconds
        ratio = f"{rate / authors[model_name]:.1f}x" if model_name in authors and "DASH" not in path \
            and "evaluation" not in path else ""
        target = ""
        if path == "captured fp32" or (path == "captured bf16" and model_name == "mlp"):
            goal = TARGETS[model_name]
            measured[f"{model_name} {path}"] = rate
            target = f">= {goal:,.0f}/s: " + ("met" if rate >= goal else f"missed by {100 * (1 - rate / goal):.0f}%")
            if model_name == "resnet18" and model_name in authors:
                speed = rate / authors[model_name]
                target += f"; >= {TARGET_SPEEDUP:g}x: " + ("met" if speed >= TARGET_SPEEDUP else
                                                            f"missed ({speed:.1f}x)")
        if path.startswith("DASH") and n == 50_000:
            target = f"<= {TARGET_DASH_S:g} s: " + ("met" if seconds <= TARGET_DASH_S else
                                                     f"missed by {seconds - TARGET_DASH_S:.2f} s")
        report.add(f"| {model_name} | {path} | {n:,} | {seconds:.3f} | {rate:,.0f} | {ratio} | {target} |")
        if "missed" in target:
            report.notes.append(f"{model_name} {path}: {target}")
    report.add()
    return measured


# --- 3. Figure 1 short run -------------------------------------------------------------------------


class _OutOfTime(Exception):
    pass


def figure1(report: Report, device: torch.device, dry: bool, data_path: Path | None) -> None:
    report.add("## 3. Figure 1 protocol, short run (ResNet-18, Fashion-MNIST, J = 10 chunks of 5,000, one seed)")
    report.add()
    if data_path is not None and data_path.exists():
        arrays = np.load(data_path)
        ds = ImageDataset.from_tensors(arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"],
                                       name="fashion-mnist", num_classes=10)
        source = f"Fashion-MNIST from {data_path}"
    else:
        images, labels = _images(60_000 if not dry else 8, shape=(1, 28, 28), seed=6)
        ds = _dataset(images, labels)
        source = ("SYNTHETIC DATA (random images and labels; no Fashion-MNIST .npz given): timings only, "
                  "accuracies meaningless")
        report.notes.append("Figure 1 short run on synthetic data")
    if dry:
        config = TrainConfig(data="fashion-mnist", model="resnet18", J=2, subset=4, test_subset=2, max_epochs=1,
                             batch_size=2, seeds=(0,), fast=True, device=str(device))
    else:
        # An epoch cap of 30 (the paper: 100) bounds one round's time within the budget; rounds that hit it
        # are recorded as not converged.
        config = TrainConfig(data="fashion-mnist", model="resnet18", J=10, subset=50_000, seeds=(0,), fast=True,
                             max_epochs=30, device=str(device))
    report.add(f"- data: {source}; epoch cap {config.max_epochs} (the paper: 100); target train accuracy "
               f"{config.target_accuracy:.1%}")

    method_deadline = [0.0]

    def budget_probe(learner, context):
        # Between rounds: stop a method at its share of the budget, keeping its finished rounds.
        if time.perf_counter() > method_deadline[0]:
            raise _OutOfTime
        return {}

    import pandas as pd

    tables = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        methods = ("cold", "warm", "sp", "dash")
        for i, method in enumerate(methods):
            # An equal share of what is left for each method still to run (15 s kept for the report).
            method_deadline[0] = time.perf_counter() + (report.left() - 15) / (len(methods) - i)
            if report.left() < 30 and not dry:
                report.add(f"- {method}: skipped (budget spent)")
                report.notes.append(f"Figure 1 {method} skipped for time")
                continue
            t0 = time.perf_counter()
            folder = str(Path(tmp) / method)
            try:
                rows = engine.run(dataclasses.replace(config, out=folder), engine.PROTOCOLS["incremental"](),
                                  dataset=ds, method=method, probe=budget_probe)
                partial = ""
            except _OutOfTime:
                rows = pd.read_csv(Path(folder) / "metrics.csv") if (Path(folder) / "metrics.csv").exists() else None
                partial = " (stopped at its share of the budget)"
                report.notes.append(f"Figure 1 {method} stopped early for time")
            if rows is None or not len(rows):
                report.add(f"- {method}: no round finished{partial}")
                continue
            tables.append({"method": method, "rounds": len(rows), "final test acc": rows["test_accuracy"].iloc[-1],
                           "mean test acc": rows["test_accuracy"].mean(), "steps": int(rows["steps"].sum()),
                           "all converged": bool(rows["converged"].all()),
                           "wall s": round(time.perf_counter() - t0, 1), "note": partial.strip()})
    if tables:
        frame = pd.DataFrame(tables)
        report.add()
        report.add("| " + " | ".join(frame.columns) + " |")
        report.add("|" + "---|" * len(frame.columns))
        for row in frame.itertuples(index=False):
            report.add("| " + " | ".join(f"{v:.4f}" if isinstance(v, float) and v < 1.0001 else str(v)
                                         for v in row) + " |")
    report.add()
    report.add(f"- wall time of the part: {time.perf_counter() - started:.1f} s ({device}, fast=True)")
    report.add()


# --- main ------------------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="every path but the capture, on the CPU, tiny sizes")
    parser.add_argument("--out", default=os.environ.get("OUT") or "benchmarks/results", help="folder of the report")
    parser.add_argument("--budget-s", type=float, default=420.0, help="time budget in seconds (parts that no "
                        "longer fit are skipped with a note)")
    parser.add_argument("--data", default="benchmarks/data/fashion-mnist.npz", help="Fashion-MNIST as .npz")
    parser.add_argument("--make-npz", default=None, metavar="PATH",
                        help="write Fashion-MNIST (from its local copy) to PATH as .npz and copy tqdm to "
                        "benchmarks/data/vendor (for a device machine without it), then exit")
    args = parser.parse_args(argv)
    if args.make_npz:
        ds = load_fashion_mnist()
        Path(args.make_npz).parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(args.make_npz, x_train=ds.x_train.numpy(), y_train=ds.y_train.numpy(),
                            x_test=ds.x_test.numpy(), y_test=ds.y_test.numpy())
        print(f"wrote {args.make_npz} ({Path(args.make_npz).stat().st_size / 2**20:.1f} MiB)")
        import shutil

        import tqdm

        vendor = Path(__file__).resolve().parent / "data" / "vendor"
        shutil.copytree(Path(tqdm.__file__).parent, vendor / "tqdm", dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
        print(f"copied tqdm {tqdm.__version__} (pure Python, a dependency of dashsim) to {vendor}")
        return 0
    capture = torch.cuda.is_available() and not args.dry_run
    if not args.dry_run and not torch.cuda.is_available():
        parser.error("no CUDA device: the check needs a GPU (use --dry-run to exercise it on the CPU)")
    device = torch.device("cuda" if capture else "cpu")
    if args.dry_run:
        torch.set_num_threads(1)
    gpu = torch.cuda.get_device_name(0) if capture else "cpu-dry-run"
    report = Report(args.budget_s)
    started = time.perf_counter()
    now = dt.datetime.now(dt.timezone.utc)
    report.add(f"# Device check, {now:%Y-%m-%d %H:%M} UTC, {gpu}")
    report.add()
    report.add(f"torch {torch.__version__}, CUDA {torch.version.cuda}, Python {platform.python_version()}, "
               f"budget {args.budget_s:.0f} s, command: `{' '.join(sys.argv)}`"
               + (" (DRY RUN on the CPU: tiny sizes, no capture; numbers mean nothing)" if args.dry_run else ""))
    report.add()
    for part in (lambda: parity(report, device, args.dry_run, capture),
                 lambda: throughput(report, device, args.dry_run, capture),
                 lambda: figure1(report, device, args.dry_run, Path(args.data))):
        try:
            part()
        except Exception as err:  # one part's failure must not lose the others' results
            report.add(f"- part failed: {type(err).__name__}: {err}")
            report.failures.append(f"{type(err).__name__}: {err}")
    report.add("## Summary")
    report.add()
    report.add(f"- total wall time {time.perf_counter() - started:.0f} s")
    report.add(f"- parity: {'all checks passed' if not report.failures else 'FAIL: ' + '; '.join(report.failures)}")
    report.add("- notes: " + ("; ".join(report.notes) if report.notes else "none"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{now:%Y-%m-%d}-{_slug(gpu)}.md"
    path.write_text("\n".join(report.lines) + "\n")
    print(f"wrote {path}", flush=True)
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
