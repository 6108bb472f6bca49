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
Every BridgeConfig field is a flag. Writes ``bridge.png``, ``.pdf`` and ``bridge.csv`` (the plotted
numbers); ``--replot`` redraws from the CSV.
"""

from __future__ import annotations

from pathlib import Path

from dashsim.bridge.figures import add_bridge_flags, bridge_config, describe, run_bridge_seeds
from dashsim.figures import parse_args, read_table, write_table

OUT = Path(__file__).resolve().parent / "out"  # default output folder


def main(argv=None) -> None:
    import torch

    from dashsim.bridge.plotting import bridge_curves, plot_bridge

    args = parse_args(__doc__, argv, add_bridge_flags, default_out=OUT)
    config = bridge_config(args)
    if args.replot:
        curves = read_table(args, "bridge")
    else:
        if config.device in ("auto", "cpu") and not torch.cuda.is_available():
            torch.set_num_threads(1)  # small networks: one thread is as fast and leaves the other cores free
        curves = bridge_curves(run_bridge_seeds(config, args.runner, out=args.cache / "bridge",
                                                progress=args.progress))
    title = (f"Bridge: {describe(config)}; mean $\\pm$ std over {len(config.seeds)} seed(s)"
             + (" (quick)" if args.quick else ""))
    write_table(args, "bridge", curves, plot_bridge(curves, title=title))
    last = curves[curves.experiment == config.J]
    print(last[["side", "method", "test_accuracy_mean", "n_learned_mean", "n_nonzero_mean", "n_memorized_mean",
                "jaccard_mean"]].to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
