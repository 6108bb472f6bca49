"""Cost of one DASH application against one forward+backward pass over the same data.

DASH (Algorithm 1) needs one gradient per chunk over all chunks T_1..T_j, so its cost should be
about one forward+backward pass over T_{1:j} (target: at most 1.2x). Both are timed with the same
micro-batch size on the same data, interleaved, after one warm-up run each; the table reports the
minimum over ``--repeats`` runs (on a shared machine the minimum is the least disturbed by other
processes) and the median next to it.

    PYTHONPATH=. python benchmarks/dash_step.py           # MLP, ResNet-18; CPU (and CUDA if present)
    PYTHONPATH=. python benchmarks/dash_step.py --quick   # 8x less data, a smoke test
(``PYTHONPATH=.`` is not needed after ``pip install -e .``.)
"""

from __future__ import annotations

import argparse
import copy
import platform
import statistics
import time

import torch
import torch.nn.functional as F

from dashsim.nn import build_model, dash_, dash_shrink
from dashsim.nn.dash import shrinkable_parameters

# model name -> (images N, micro-batch size) on each device kind; sized for minutes on a laptop CPU.
SIZES = {
    "cpu": {"mlp": (4096, 512), "resnet18": (128, 32)},
    "cuda": {"mlp": (50_000, 1024), "resnet18": (10_000, 512)},
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_pair(fn_a, fn_b, device: torch.device, repeats: int) -> tuple[list[tuple[float, float]], ...]:
    """Interleaved (wall, process-CPU) seconds of ``fn_a`` and ``fn_b``, so slow phases hit both.

    Process CPU time counts only this process's threads, so on a shared CPU it is far less
    disturbed by other processes than wall time (it does not see GPU work).
    """
    fn_a(), fn_b()  # warm-up (allocator, kernels, autotuning)
    times: tuple[list[tuple[float, float]], ...] = ([], [])
    for _ in range(repeats):
        for fn, out in ((fn_a, times[0]), (fn_b, times[1])):
            _sync(device)
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            _sync(device)
            out.append((time.perf_counter() - t0, time.process_time() - c0))
    return times


def _forward_backward(model, chunks, batch_size):
    """One training-style pass: forward + backward into every parameter's .grad, no optimizer step."""
    model.train()
    for x, y in chunks:
        for start in range(0, len(x), batch_size):
            model.zero_grad(set_to_none=True)
            F.cross_entropy(model(x[start : start + batch_size]), y[start : start + batch_size]).backward()


def bench(name: str, device: torch.device, n: int, batch_size: int, n_chunks: int, repeats: int) -> dict:
    torch.manual_seed(0)
    model = build_model(name, num_classes=10, in_channels=3, image_size=32).to(device)
    x = torch.randn(n, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (n,), device=device)
    per = n // n_chunks
    chunks = [(x[i * per : (i + 1) * per], y[i * per : (i + 1) * per]) for i in range(n_chunks)]
    work = copy.deepcopy(model)
    t_pass, t_dash = _time_pair(
        lambda: _forward_backward(model, chunks, batch_size),
        lambda: dash_(work, chunks, batch_size=batch_size),
        device,
        repeats,
    )
    # The cosine/shrink pass alone (no gradients), to see how much of DASH is not the gradient pass.
    params = shrinkable_parameters(work)
    grads = [torch.randn_like(p) for p in params]

    def shrink_only():
        with torch.no_grad():
            for p, g in zip(params, grads):
                dash_shrink(p, g, 0.3)

    t_shrink, _ = _time_pair(shrink_only, lambda: None, device, repeats)
    wall = lambda ts: min(t[0] for t in ts)  # noqa: E731
    cpu = lambda ts: min(t[1] for t in ts)  # noqa: E731
    med = lambda ts: statistics.median(t[0] for t in ts)  # noqa: E731
    return dict(model=name, device=device.type, n=per * n_chunks, chunks=n_chunks, batch=batch_size,
                pass_s=wall(t_pass), dash_s=wall(t_dash), shrink_s=wall(t_shrink),
                ratio=wall(t_dash) / wall(t_pass), ratio_median=med(t_dash) / med(t_pass),
                pass_cpu=cpu(t_pass), dash_cpu=cpu(t_dash), ratio_cpu=cpu(t_dash) / cpu(t_pass))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=4, help="number of chunks the data are split into")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (min and median)")
    parser.add_argument("--quick", action="store_true", help="8x less data (smoke test)")
    args = parser.parse_args()

    devices = [torch.device("cpu")]
    if torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, "
          f"{platform.processor() or platform.machine()}")
    if len(devices) == 1:
        print("CUDA: not available on this machine; CPU only.")
    else:
        print(f"CUDA: {torch.cuda.get_device_name(0)}")
    print("times: min over repeats, seconds; ratio = DASH / (forward+backward); target <= 1.2;")
    print("'shrink s' is the cosine/shrink pass alone (part of 'DASH s'); cpu-s = process CPU seconds")
    print("(all threads of this process), min over repeats; on CPU the verdict uses ratio(cpu).")
    rows = []
    for device in devices:
        for name, (n, batch) in SIZES[device.type].items():
            if args.quick:
                n, batch = max(n // 8, args.chunks), max(batch // 8, 1)
            rows.append(bench(name, device, n, batch, args.chunks, args.repeats))
    header = (
        f"{'model':<9} {'device':<6} {'N':>6} {'chunks':>6} {'batch':>5} "
        f"{'fwd+bwd s':>10} {'DASH s':>8} {'shrink s':>9} {'ratio':>6} {'ratio(median)':>13} "
        f"{'fwd+bwd cpu-s':>13} {'DASH cpu-s':>10} {'ratio(cpu)':>10}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        # On CPU the process-time ratio is the one other processes disturb least.
        key = "ratio_cpu" if r["device"] == "cpu" else "ratio"
        verdict = "ok" if r[key] <= 1.2 else "ABOVE 1.2x target"
        print(
            f"{r['model']:<9} {r['device']:<6} {r['n']:>6} {r['chunks']:>6} {r['batch']:>5} "
            f"{r['pass_s']:>10.3f} {r['dash_s']:>8.3f} {r['shrink_s']:>9.3f} {r['ratio']:>6.2f} "
            f"{r['ratio_median']:>13.2f} "
            f"{r['pass_cpu']:>13.3f} {r['dash_cpu']:>10.3f} {r['ratio_cpu']:>10.2f}  {verdict}"
        )


if __name__ == "__main__":
    main()
