"""Figure 13 of the DASH paper: train accuracy on the PREVIOUS data in the first epochs after new data arrive.

A fresh model trains on the old data ``T_1..T_{J-1}`` until the epoch's train accuracy reaches
99.9% (or the cap); then new data ``T_J`` arrive, the method's between-experiments step is applied
(warm: nothing; S&P: shrink and perturb; shrink: ``w <- lam w``; DASH) with the chunks
``T_1..T_J``, and the model trains on all of it for a few epochs. Plotted: the accuracy on the old
data right after the step (epoch 0) and after each epoch, mean +- std over seeds, with BatchNorm
in eval mode (running statistics) and in train mode (batch statistics) side by side.
The paper's point: shrinking alone forgets the old data and must relearn it; DASH keeps what
generalizes and relearns quickly; warm keeps everything.

Full mode: ResNet-18 on Fashion-MNIST, J=10 (the new data are 10%), 5 epochs, seeds 0-4 (a GPU
job). A CPU-sized run, e.g. ``--model mlp --subset 10000 --seeds 0 1 2``. ``--quick``: digits, MLP
of width 32. Each seed is cached in a run folder. Writes ``figure13.png`` and ``figure13.csv``.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import _common
import _training

FULL = {"model": "resnet18", "width": 1000, "J": 10, "subset": None, "max_epochs": 100, "epochs": 5,
        "seeds": [0, 1, 2, 3, 4], "methods": ["warm", "sp", "shrink", "dash"]}
QUICK = dict(FULL, model="mlp", width=32, J=4, subset=400, max_epochs=20, epochs=3, seeds=[0, 1])
COLUMNS = ("model", "method", "seed", "epoch", "steps", "previous_accuracy", "previous_accuracy_batch_stats", "n_previous",
           "pretrain_epochs", "pretrain_converged")
# How the model is evaluated on the old data, by column: BatchNorm with its running statistics
# (eval mode) or with each evaluation batch's own statistics (train mode, as the running train
# accuracy sees it). A shrink before BatchNorm changes the former at once, the latter not at all.
MODES = {"previous_accuracy": "eval mode (BN running statistics)", "previous_accuracy_batch_stats": "train mode (BN batch statistics)"}


def add_flags(parser) -> None:
    parser.add_argument("--model", default=None, help="network (full: resnet18; quick: mlp)")
    parser.add_argument("--width", type=int, default=None, help="MLP hidden width (full: 1000; quick: 32)")
    parser.add_argument("--J", type=int, default=None, help="chunks: old data T_1..T_{J-1}, new data T_J (full: 10)")
    parser.add_argument("--subset", type=int, default=None, help="use a seeded random subset of this many training images (full: all)")
    parser.add_argument("--max-epochs", type=int, default=None, help="epoch cap of the training on the old data (full: 100)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs of training on all data to follow (full: 5)")
    _training.int_list(parser, "--seeds", "seeds (full: 0-4; quick: 0 1)")
    parser.add_argument("--methods", nargs="+", default=None, help="methods (default: warm sp shrink dash)")


@dataclasses.dataclass
class Pretrained:
    """A model trained on the old data ``T_1..T_{J-1}`` of one seed, with what the next phase needs."""

    learner: Any  # the trained dashsim.nn.Learner
    x: Any  # the whole training set on the device (prepare_data)
    y: Any  # its labels
    fill: tuple  # the crop padding matching x's normalization (used only with augment)
    chunks: list  # index tensors of T_1..T_J; the old data are all but the last
    old: Any  # torch.cat(chunks[:-1]): indices of the old data
    shuffle_gen: Any  # the seed's mini-batch generator, after the pretraining
    method_gen: Any  # the seed's method-noise generator
    result: Any  # the ExperimentResult of the training on the old data


def pretrain(config, dataset, seed: int, device) -> Pretrained:
    """Train a fresh model of ``seed`` on the old data until the train accuracy target (or the epoch cap).

    The per-seed setup is the main protocol's: :func:`~dashsim.nn.protocols.chunk_permutation`
    splits the data into ``config.J`` chunks, :func:`~dashsim.nn.protocols.seed_run` seeds the
    initialization and the generators, :func:`~dashsim.nn.train.build_learner` draws the model.
    """
    import torch

    from dashsim.nn.protocols import chunk_permutation, seed_run
    from dashsim.nn.train import build_learner, prepare_data, train_until_target

    prepared = prepare_data(config, dataset, device)
    perm, n_per_chunk = chunk_permutation(prepared.x.shape[0], seed=seed, J=config.J, subset=config.subset)
    chunks = list(perm.to(device).split(n_per_chunk))
    shuffle_gen, method_gen = seed_run(seed)
    learner = build_learner(config, dataset, device)
    old = torch.cat(chunks[:-1])
    result = train_until_target(learner, config.make_method(), prepared.x, prepared.y, old, config=config, generator=shuffle_gen,
                                fill=prepared.fill)
    return Pretrained(learner, prepared.x, prepared.y, prepared.fill, chunks, old, shuffle_gen, method_gen, result)


def batch_stats_accuracy(model, x, y, *, batch_size: int = 1024) -> float:
    """Accuracy of ``model`` on ``(x, y)`` with BatchNorm in train mode, on a copy (running statistics untouched)."""
    import torch

    probe = copy.deepcopy(model).train()
    with torch.no_grad():
        correct = sum(int((probe(xb).argmax(dim=1) == yb).sum()) for xb, yb in zip(x.split(batch_size), y.split(batch_size)))
    return correct / y.shape[0]


def previous_data_accuracy(config, dataset, seed: int, methods, epochs: int):
    """Old-data accuracy after the method's step and after each of ``epochs`` epochs on all data, per method.

    Every method starts from the same pretrained learner (a deep copy) and the same generator
    states, so the curves differ only by the method. Row ``epoch = e`` holds
    ``acc_e = (1/|T_old|) sum_{(x, y) in T_old} [argmax f_e(x) = y]`` (eval mode), with ``f_0``
    the model right after ``method.before_experiment`` and ``f_e`` after ``e`` epochs; once in eval
    mode (``previous_accuracy``) and once with BatchNorm batch statistics (``previous_accuracy_batch_stats``).

    Returns
    -------
    list of dicts with the keys :data:`COLUMNS`.

    References
    ----------
    DASH paper, Appendix, Figure 13.
    """
    import torch

    from dashsim.nn import make_method
    from dashsim.nn.train import evaluate, resolve_device, train_until_target

    pre = pretrain(config, dataset, seed, resolve_device(config.device))
    x, y, chunks = pre.x, pre.y, pre.chunks
    x_old, y_old = x[pre.old], y[pre.old]
    everything = torch.cat(chunks)
    rows = []
    for name in methods:
        method = make_method(name)
        shuffle, noise = torch.Generator().set_state(pre.shuffle_gen.get_state()), torch.Generator().set_state(pre.method_gen.get_state())
        trained = method.before_experiment(copy.deepcopy(pre.learner), [(x[c], y[c]) for c in chunks], generator=noise)

        def record(epoch: int, _train_acc: float, steps: int) -> None:
            rows.append({"model": config.model, "method": name, "seed": seed, "epoch": epoch, "steps": steps,
                         "previous_accuracy": evaluate(trained.model, x_old, y_old),
                         "previous_accuracy_batch_stats": batch_stats_accuracy(trained.model, x_old, y_old), "n_previous": int(pre.old.numel()),
                         "pretrain_epochs": pre.result.epochs, "pretrain_converged": pre.result.converged})

        record(0, float("nan"), 0)
        train_until_target(trained, method, x, y, everything, config=dataclasses.replace(config, max_epochs=epochs),
                           generator=shuffle, on_epoch=record, stop_at_target=False, fill=pre.fill)
    return rows


def compute(args):
    import pandas as pd

    from dashsim.nn import load_dataset
    from dashsim.runs import RunFolder

    dataset = load_dataset(args.data, args.data_root)
    frames = []
    for seed in args.seeds:
        fields = {"model": args.model, "width": args.width, "J": args.J, "seeds": (seed,), "subset": args.subset,
                  "max_epochs": args.max_epochs, "method": "warm"}

        def run(config, seed=seed):
            rows = previous_data_accuracy(config, dataset, seed, args.methods, args.epochs)
            # Nothing to resume within a seed (it reruns whole), so the metrics alone make the cache.
            RunFolder(config.out, {"data": args.data, **fields, "methods": args.methods, "epochs": args.epochs}).write_metrics(rows)
            return pd.DataFrame(rows, columns=list(COLUMNS))

        sweep = {"methods": args.methods, "epochs": args.epochs, "columns": COLUMNS}  # new columns, new runs
        frames.append(_training.cached_run(args, "previous_data", fields, len(args.methods) * (args.epochs + 1), run, sweep=sweep))
    return pd.concat(frames, ignore_index=True)


def summarize(rows):
    """The plotted numbers: mean and std over seeds of the old-data accuracy (both modes) per (method, epoch)."""
    stats = {f"{col}_{stat}": (col, stat) for col in MODES for stat in ("mean", "std")}
    return rows.groupby(["method", "epoch"], sort=False).agg(n_seeds=("seed", "nunique"), **stats).reset_index()


def plot(table, methods, title):
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, len(MODES), figsize=(11, 4.0), sharey=True)
    colours = {"warm": "C1", "sp": "C2", "shrink": "C4", "dash": "C3"}
    for ax, (col, mode) in zip(axes, MODES.items()):
        for name in methods:
            t = table[table["method"] == name]
            mean, std = 100 * t[f"{col}_mean"], 100 * t[f"{col}_std"].fillna(0.0)
            ax.plot(t["epoch"], mean, "o-", label=name, color=colours.get(name))
            ax.fill_between(t["epoch"], mean - std, mean + std, alpha=0.2, color=colours.get(name), linewidth=0)
        ax.set(xlabel="epochs on all data (0 = right after the method's step)", title=mode)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].set_ylabel("train accuracy on the previous data (%)")
    axes[0].legend()
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def main(argv=None) -> None:
    args = _training.parse_args(__doc__, argv, add_flags, quick_defaults=QUICK, full_defaults=FULL)
    table = summarize(compute(args))
    title = (f"Figure 13: {_training.data_phrase(args)}, {args.model}, old data = {args.J - 1}/{args.J}, "
             f"{_training.seeds_phrase(args)}")
    _common.write_table(args, "figure13", table, plot(table, args.methods, title))


if __name__ == "__main__":
    main()
