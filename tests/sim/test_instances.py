"""dashsim.sim.instances: generated instances meet (or break) exactly the assumptions asked for."""

import numpy as np
import pytest

from dashsim.sim.instances import BREAKS, random_instance
from test_theory import assumptions_twin


def test_valid_instances_meet_every_assumption():
    rng = np.random.default_rng(0)
    shapes = set()
    for _ in range(40):
        inst = random_instance(rng, num_features=(1, 4))
        comp = inst.composition
        assert inst.breaks is None and inst.assumptions.all_hold
        # Re-verified independently by the brute-force twin.
        assert assumptions_twin(comp, inst.gamma, inst.tau) == (True, True, True)
        assert 1 <= inst.tau <= comp.features.shape[1] and inst.gamma >= 1
        shapes.add((comp.num_classes, comp.features.shape[1]))
    assert len(shapes) > 3


@pytest.mark.parametrize("breaks", BREAKS)
def test_broken_instances_break_only_the_named_assumption(breaks):
    rng = np.random.default_rng(1)
    index = {"3.1": 0, "3.3(i)": 1}.get(breaks, 2)
    for _ in range(10):
        inst = random_instance(rng, breaks=breaks, num_features=(2, 4))
        got = assumptions_twin(inst.composition, inst.gamma, inst.tau)
        assert inst.breaks == breaks
        assert got == tuple(i != index for i in range(3)), got


def test_same_seed_same_instance():
    a = random_instance(np.random.default_rng(7))
    b = random_instance(np.random.default_rng(7))
    assert (a.gamma, a.tau) == (b.gamma, b.tau)
    np.testing.assert_array_equal(a.composition.counts, b.composition.counts)
    np.testing.assert_array_equal(a.composition.features, b.composition.features)


def test_bad_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="breaks"):
        random_instance(rng, breaks="3.2")
    with pytest.raises(TypeError, match="rng"):
        random_instance(0)
    with pytest.raises(ValueError, match="num_features"):
        random_instance(rng, num_features=(0, 3))
    with pytest.raises(ValueError, match="tau"):
        random_instance(rng, num_features=3, tau=(0, 2))
