"""dashsim.sim.claims: tallies agree with check_theorems one instance at a time; shrinking keeps the failure."""

from __future__ import annotations

import numpy as np
import pytest

from dashsim.sim import claims
from dashsim.sim.claims import (KINDS, ClaimTally, broken_table, claims_table, counterexamples, draw_instance,
                                random_checks, shrink, tally)
from dashsim.sim.instances import BREAKS
from dashsim.sim.theory import CLAIM_NAMES, check_assumptions, check_theorems

MAX_CHUNKS = 8


def test_draws_are_fixed_by_kind_seed_and_index():
    a, b = draw_instance("dense", 3, 5), draw_instance("dense", 3, 5)
    np.testing.assert_array_equal(a.composition.counts, b.composition.counts)
    assert (a.gamma, a.tau) == (b.gamma, b.tau)
    for kind in KINDS:
        inst = draw_instance(kind, 0, 1)
        assert inst.breaks == (kind if kind in BREAKS else None)
        assert check_assumptions(inst.composition, gamma=inst.gamma, tau=inst.tau).all_hold == (kind not in BREAKS)
    with pytest.raises(ValueError, match="kind must be one of"):
        draw_instance("broken", 0, 0)


def test_tally_counts_what_check_theorems_reports():
    instances = [draw_instance("valid", 1, i) for i in range(12)]
    got = tally(instances, MAX_CHUNKS)
    applicable = np.zeros(len(CLAIM_NAMES), np.int64)
    held = np.zeros(len(CLAIM_NAMES), np.int64)
    for inst in instances:
        for ci, claim in enumerate(check_theorems(inst.composition, MAX_CHUNKS, gamma=inst.gamma, tau=inst.tau).claims):
            applicable[ci] += claim.applicable
            held[ci] += claim.applicable and claim.holds
    assert got.n_instances == 12
    np.testing.assert_array_equal(got.applicable, applicable)
    np.testing.assert_array_equal(got.held, held)
    np.testing.assert_array_equal(got.failed, applicable - held)
    # Every failure is remembered with its smallest instance, and only failures are.
    assert {ci for ci, _ in got.smallest} == set(np.flatnonzero(applicable > held))


def test_blocks_and_merging_do_not_change_the_result(monkeypatch):
    whole = random_checks(("valid", "3.1"), 30, 2, MAX_CHUNKS)
    monkeypatch.setattr(claims, "_BLOCK", 7)
    blocks = random_checks(("valid", "3.1"), 30, 2, MAX_CHUNKS)
    for kind in ("valid", "3.1"):
        assert blocks[kind].n_instances == whole[kind].n_instances == 30
        np.testing.assert_array_equal(blocks[kind].held, whole[kind].held)
        np.testing.assert_array_equal(blocks[kind].applicable, whole[kind].applicable)
        assert blocks[kind].smallest.keys() == whole[kind].smallest.keys()
        for key, inst in whole[kind].smallest.items():
            np.testing.assert_array_equal(blocks[kind].smallest[key].composition.counts, inst.composition.counts)


def test_tables():
    tallies = {"valid": tally([draw_instance("valid", 0, i) for i in range(5)], MAX_CHUNKS),
               "3.3(i)": ClaimTally()}
    table = claims_table(tallies)
    assert table["claim"].tolist() == list(CLAIM_NAMES) and (table["instances"] == 5).all()
    assert (table["held"] + table["failed"] == table["checked"]).all()
    broken = broken_table(tallies)
    assert list(broken.columns) == ["claim", "breaks 3.3(i)"] and (broken["breaks 3.3(i)"] == "0/0").all()


def test_shrink_keeps_the_claim_failing_on_a_valid_smaller_instance():
    # Under Assumption 3.3(ii) ideal and cold both pay 3n at J = 2, so this claim fails on every valid instance.
    claim = "T_ideal < T_cold"
    inst = draw_instance("dense", 0, 4)  # C >= 2 and tau >= 2, kept while shrinking
    comp, gamma, tau = shrink(inst, claim, MAX_CHUNKS, min_classes=2, min_tau=2, budget_s=5.0)
    assert check_assumptions(comp, gamma=gamma, tau=tau).all_hold
    assert claim in {c.name for c in check_theorems(comp, MAX_CHUNKS, gamma=gamma, tau=tau).failed()}
    assert comp.num_classes >= 2 and tau >= 2
    assert comp.n_per_chunk < inst.composition.n_per_chunk  # (366 points per chunk shrink to 10)


def test_counterexamples_without_shrinking_are_the_smallest_found():
    tallies = random_checks(("valid",), 20, 0, MAX_CHUNKS)
    found = counterexamples(tallies, MAX_CHUNKS, shrink_seconds=0)
    failed = {name for name, f in zip(CLAIM_NAMES, tallies["valid"].failed) if f}
    assert {c["claim"] for c in found} == failed and "T_ideal < T_cold" in failed
    first = next(c for c in found if c["claim"] == "T_ideal < T_cold" and c["restriction"] == "any C, tau")
    smallest = tallies["valid"].smallest[(CLAIM_NAMES.index("T_ideal < T_cold"), False)]
    assert first["counts"] == smallest.composition.counts.tolist() and first["gamma"] == smallest.gamma
    assert first["description"].startswith("claim: T_ideal < T_cold")
