"""DASH and the warm-starting baselines in torch (imported separately: ``import dashsim.nn``)."""
