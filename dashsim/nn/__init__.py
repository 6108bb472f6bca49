"""DASH and the warm-starting baselines in torch (imported separately: ``import dashsim.nn``)."""

from .dash import dash_, dash_shrink
from .methods import METHODS, Learner, Method, make_method
from .models import MODELS, build_model
from .sam import SAM

__all__ = [
    "dash_",
    "dash_shrink",
    "Learner",
    "Method",
    "METHODS",
    "make_method",
    "MODELS",
    "build_model",
    "SAM",
    # --- PROTOCOLS' public names (dashsim.nn.data / train / protocols) go below when requested ---
]
