"""Bridge sweeps: where a real network behaves like the framework, and where it stops doing so.

Three sweeps around one bridge setting (see ``bridge.py``), each a row of panels against the swept
value (network solid, simulator dashed): the last experiment's test accuracy and learned features,
the training-time proxy sum_j |N^(j,0)|, and the Jaccard agreement of the network's learned set
with the paired simulator method (cold-cold, warm-warm, DASH-ideal).
1. noise_strength / feature_strength (feature_strength = 1): the framework assumes noise stronger
   than any one feature (ratio > 1);
2. p_max, the data's feature count per point (K p_max / 2 on average): fewer features per point
   make the task harder on both sides;
3. tau, the features the simulator needs per point (the network has no tau; its runs are reused,
   so this row asks which tau the network resembles most).
Methods cold, warm and DASH on the network side. Full mode: the paper's data setting (GPU); the
committed CPU run: ``--K 50 --n-per-chunk 100 --J 15 --gamma 5 --dim 1024 --width 256
--noise-strength 4 --seeds 0 1 2 --out paper_figures/results``. ``--quick``: the tiny setting of
``bridge.py --quick`` with J=3, n=20 and a 15-epoch cap, two values per sweep. Writes ``bridge_sweep.png``,
``.pdf`` and ``bridge_sweep.csv`` (the plotted numbers, one row per sweep, value, side and method);
``--replot`` redraws from the CSV.
"""

from __future__ import annotations

from pathlib import Path

from dashsim.bridge.figures import add_bridge_flags, bridge_config, describe, run_bridge_seeds
from dashsim.figures import parse_args, read_table, write_table

OUT = Path(__file__).resolve().parent / "out"  # default output folder

SWEEPS_FULL = {"noise_strength": (0.5, 1.0, 2.0, 4.0, 8.0, 16.0), "p_max": (0.1, 0.2, 0.4, 0.8), "tau": (1, 2, 3, 4, 5)}
QUICK = {"J": 3, "n_per_chunk": 20, "max_epochs": 15}  # bridge.py's quick setting, smaller still
SWEEPS_QUICK = {"noise_strength": (1.0, 3.0), "p_max": (0.3, 0.6), "tau": (1, 2)}
LABELS = {"noise_strength": "noise / feature strength", "p_max": "p_max (mean features per point = K p_max / 2)",
          "tau": "simulator tau (features needed per point)"}


def sweep_seeds(base, param, values, args):
    """:func:`dashsim.bridge.run_bridge_sweep`'s rows, each value's seeds split over the script's executor.

    Values run one after another: settings that differ only in gamma or tau share their network
    runs, which two workers must not train at once.
    """
    import dataclasses

    import pandas as pd

    from dashsim.bridge import run_bridge_sweep
    from dashsim.sweep import LocalExecutor

    out = args.cache / "bridge"
    if isinstance(args.runner, LocalExecutor):
        return run_bridge_sweep(base, param, values, out=out, progress=args.progress)
    frames = []
    for value in values:
        frame = run_bridge_seeds(dataclasses.replace(base, **{param: value}), args.runner, out=out)
        frame.insert(0, param, value)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def main(argv=None) -> None:
    import pandas as pd
    import torch

    from dashsim.bridge.plotting import plot_bridge_sweep, sweep_table

    args = parse_args(__doc__, argv, lambda p: add_bridge_flags(p, full={"methods": ("cold", "warm", "dash")},
                                                                quick=QUICK), default_out=OUT)
    base = bridge_config(args)
    sweeps = SWEEPS_QUICK if args.quick else SWEEPS_FULL
    if args.replot:
        csv = read_table(args, "bridge_sweep")
        tables = {param: csv[csv["sweep"] == param].drop(columns="sweep").rename(columns={"value": param})
                  for param in sweeps if (csv["sweep"] == param).any()}
    else:
        if base.device in ("auto", "cpu") and not torch.cuda.is_available():
            torch.set_num_threads(1)
        tables = {}
        for param, values in sweeps.items():
            frame = sweep_seeds(base, param, values, args)
            tables[param] = sweep_table(frame, param)
        csv = pd.concat([t.rename(columns={param: "value"}).assign(sweep=param) for param, t in tables.items()],
                        ignore_index=True)
        csv = csv[["sweep"] + [c for c in csv.columns if c != "sweep"]]
    title = (f"Bridge sweeps around {describe(base)}; mean $\\pm$ std over {len(base.seeds)} seed(s)"
             + (" (quick)" if args.quick else ""))
    write_table(args, "bridge_sweep", csv, plot_bridge_sweep(tables, labels=LABELS, title=title))


if __name__ == "__main__":
    main()
