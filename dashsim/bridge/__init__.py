"""Theory meets practice: real networks trained on data drawn from the discrete framework (needs torch).

:func:`make_inputs` turns the simulator's arrays into real inputs (a fixed pattern per feature v_{c,k},
a noise pattern per point); :mod:`~dashsim.bridge.measure` reads the simulator's quantities off a
trained network (learned features, non-zero-gradient points, memorized points);
:func:`run_bridge` runs both sides on the same data and :func:`plot_bridge` draws them side by side.
"""

from .experiment import (COLUMNS, PAIRED, SIM_METHODS, BridgeConfig, BridgeData, network_run_dir, run_bridge,
                         run_bridge_sweep, sample_bridge_data)
from .inputs import KINDS, BridgeInputs, FeatureEmbedding, embed, make_embedding, make_inputs
from .measure import (FeatureScores, correct, feature_correct, feature_scores, is_learned, jaccard, learned_features,
                      margins, memorized, nonzero_gradient, point_losses)
from .plotting import bridge_curves, plot_bridge, plot_bridge_sweep, sweep_table

__all__ = [
    # Inputs
    "KINDS", "FeatureEmbedding", "BridgeInputs", "make_embedding", "embed", "make_inputs",
    # Measurements
    "FeatureScores", "margins", "feature_scores", "learned_features", "is_learned", "point_losses", "nonzero_gradient",
    "memorized", "correct", "feature_correct", "jaccard",
    # Experiment
    "BridgeConfig", "BridgeData", "sample_bridge_data", "run_bridge", "run_bridge_sweep", "COLUMNS", "SIM_METHODS",
    "PAIRED", "network_run_dir",
    # Figures
    "bridge_curves", "plot_bridge", "sweep_table", "plot_bridge_sweep",
]
