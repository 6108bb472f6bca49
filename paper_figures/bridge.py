"""Bridge figure: real networks and the simulator on the same framework data, side by side.

One framework dataset per seed (C classes, K features each with probabilities sort(p_max U(0,1)),
J chunks of n points) feeds both sides: the simulator's cold / warm / ideal (dashsim.simulate) and a
network trained on the same points embedded as real inputs (each feature v_{c,k} a fixed orthonormal
direction of R^D, each point its own noise orthogonal to all features, noise_strength / feature_strength
= 3 by default) with cold, warm, S&P and DASH, each experiment trained to 99.9% train accuracy.
Panels per experiment j: test accuracy, learned features, non-zero-gradient points at the start,
memorized points (network row on top, simulator row below) and the Jaccard agreement of the learned
sets (network cold vs simulator cold, warm vs warm, DASH vs ideal). Mean +- std over seeds.

Full mode: the paper's Figure 3 data setting (C=2, K=50, n=1000, J=50, gamma=50, tau=3) with the
paper's MLP (width 1000), D=512, seeds 0-2 (a GPU job). The committed CPU-sized run (the paper's
features, n and J scaled down, gamma/n kept at 0.05; about 15 minutes on one core):
``--K 50 --n-per-chunk 300 --J 25 --gamma 15 --dim 1024 --width 256 --seeds 0 1 2
--out paper_figures/results``. ``--quick``: K=6, n=30, J=4, tau=2, width 32, one seed (seconds).
Every BridgeConfig field is a flag. Writes ``bridge.png`` and ``bridge.csv`` (the plotted numbers).
"""

from __future__ import annotations

import argparse

import _common

# --quick: tiny, so CI runs it in seconds; every other field keeps the full default.
QUICK = dict(C=2, K=6, n_per_chunk=30, J=4, p_max=0.6, gamma=3.0, tau=2, n_test=200, dim=48, width=32, max_epochs=30,
             seeds=(0,))


def parse(doc: str, argv, quick: dict, defaults: dict | None = None):
    """``_common.parse_args`` plus one flag per BridgeConfig field.

    A field not given on the command line takes ``quick[field]`` with ``--quick``, else
    ``defaults[field]``, else the BridgeConfig default.
    """
    from dashsim._config import add_dataclass_arguments
    from dashsim.bridge import BridgeConfig

    own = argparse.ArgumentParser(add_help=False, usage=argparse.SUPPRESS)
    add_dataclass_arguments(own, BridgeConfig)
    for action in own._actions:
        action.default = argparse.SUPPRESS  # so only flags actually given override the mode's defaults
    known, rest = own.parse_known_args(argv)
    args = _common.parse_args(doc + "\n" + own.format_help(), rest)
    fields = dict(defaults or {})
    if args.quick:
        fields.update(quick)
    fields.update({k: tuple(v) if isinstance(v, list) else v for k, v in vars(known).items()})
    args.config = BridgeConfig(**fields)
    return args


def describe(config) -> str:
    return (f"C={config.C}, K={config.K}, n={config.n_per_chunk}, J={config.J}, p_max={config.p_max:g}, "
            f"gamma={config.gamma:g}, tau={config.tau}; {config.model} width {config.width}, D={config.dim}, "
            f"noise/feature={config.noise_strength / config.feature_strength:g}")


def main(argv=None) -> None:
    import torch

    from dashsim.bridge import run_bridge
    from dashsim.bridge.plotting import bridge_curves, plot_bridge

    args = parse(__doc__, argv, QUICK)
    config = args.config
    if config.device in ("auto", "cpu") and not torch.cuda.is_available():
        torch.set_num_threads(1)  # small networks: one thread is as fast and leaves the other cores free
    frame = run_bridge(config, out=args.cache / "bridge", progress=not args.no_progress)
    curves = bridge_curves(frame)
    title = f"Bridge: {describe(config)}; mean $\\pm$ std over {len(config.seeds)} seed(s)" + (" (quick)" if args.quick else "")
    _common.write_table(args, "bridge", curves, plot_bridge(curves, title=title))
    last = curves[curves.experiment == config.J]
    print(last[["side", "method", "test_accuracy_mean", "n_learned_mean", "n_nonzero_mean", "n_memorized_mean",
                "jaccard_mean"]].to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
