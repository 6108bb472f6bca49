"""Training images/s with 1, 2, ... CPU threads, side by side: what ``dashsim --threads`` trades.

Times the same measurement ``dashsim train`` makes before a run (:func:`dashsim.nn.train_cli.images_per_s`:
one warm-up step, then steps timed for at least 0.5 s, batch 128, SGD) for the MLP on scikit-learn's
digits and ResNet-18 on 28x28 one-channel images, once per thread count, and prints one table with the
machine's load average. Run:  python benchmarks/threads.py [--threads 1 2]
"""

from __future__ import annotations

import argparse
import os

import torch

from dashsim.nn import ImageDataset
from dashsim.nn.engine import resolve
from dashsim.nn.train import TrainConfig, prepare_data
from dashsim.nn.train_cli import images_per_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=list(range(1, (os.cpu_count() or 1) + 1)))
    args = parser.parse_args()
    images = torch.randint(0, 256, (512, 1, 28, 28), dtype=torch.uint8)
    labels = torch.arange(512) % 10
    cases = {
        "mlp (width 1000), digits": resolve(TrainConfig(data="digits", model="mlp", device="cpu")),
        "resnet18, 28x28x1": resolve(TrainConfig(model="resnet18", device="cpu"),
                                     dataset=ImageDataset.from_tensors(images, labels, images[:10], labels[:10],
                                                                       name="images28")),
    }
    device = torch.device("cpu")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores, torch {torch.__version__}")
    print(f"{'model':<28}" + "".join(f"{f'{n} thread(s)':>14}" for n in args.threads))
    for name, spec in cases.items():
        data = prepare_data(spec.config, spec.dataset, device)
        rates = []
        for n in args.threads:
            torch.set_num_threads(n)
            rates.append(images_per_s(spec, data, device))
        print(f"{name:<28}" + "".join(f"{rate:>14,.0f}" for rate in rates))


if __name__ == "__main__":
    main()
