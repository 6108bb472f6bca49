"""Exhaustive theorem checking: the batched kernel against the reference checker, the symmetry-reduced
enumeration against a plain one, a planted false claim found as minimal, executors, the command."""

from __future__ import annotations

import concurrent.futures
import itertools
import json

import numpy as np
import pytest

from dashsim import cli
from dashsim.sim.claims import draw_instance
from dashsim.sim.exhaustive import (Bound, STATUS_NAMES, check_tables, class_orbits, composition_of, compositions,
                                    exhaustive_check)
from dashsim.sim.theory import CLAIMS, check_assumptions, check_theorems

N_CLAIMS = len(CLAIMS)
BROKEN_3_3_I = 2


def _table(comp) -> np.ndarray:
    K = comp.features.shape[1]
    t = np.zeros((comp.num_classes, 2**K), np.int64)
    np.add.at(t, (comp.labels, comp.features.astype(np.int64) @ (1 << np.arange(K))), comp.counts)
    return t


def _reference_row(comp, gamma, tau, J):
    """check_theorems and check_assumptions as (status, [(applicable, holds, lhs, rhs, at)] per claim)."""
    a = check_assumptions(comp, gamma=gamma, tau=tau)
    status = (0 if a.a3_1 else 1) | (0 if a.a3_3_i else 2) | (0 if a.a3_3_ii else 4)
    rep = check_theorems(comp, J, gamma=gamma, tau=tau)
    return status, [(c.applicable, c.holds, c.lhs, c.rhs, -1 if c.at is None else c.at) for c in rep.claims]


def _same(x, y):
    return (np.isnan(x) and np.isnan(y)) or x == y


@pytest.mark.parametrize("kind", ["valid", "dense", "3.1", "3.3(i)", "3.3(ii) too few above", "3.3(ii) none below"])
def test_batched_verdicts_and_numbers_match_the_reference_on_random_instances(kind):
    # The first five with K <= 6 (the 3.3(i) check enumerates 2^K sets per class in both checkers).
    insts = [x for x in (draw_instance(kind, 7, i) for i in range(40)) if x.composition.features.shape[1] <= 6][:5]
    assert len(insts) == 5
    J = 9
    for inst in insts:
        out = check_tables(_table(inst.composition)[None], [inst.gamma], [inst.tau], J)
        status, claims = _reference_row(inst.composition, inst.gamma, inst.tau, J)
        assert out["status"][0] == status
        for ci, (app, holds, lhs, rhs, at) in enumerate(claims):
            mine = (out["applicable"][0, ci], out["holds"][0, ci], out["lhs"][0, ci], out["rhs"][0, ci],
                    out["at"][0, ci])
            assert (mine[0], mine[1], mine[4]) == (app, holds, at), (kind, CLAIMS[ci])
            assert _same(mine[2], lhs) and _same(mine[3], rhs), (kind, CLAIMS[ci], mine, (lhs, rhs))


def _raw_instances(bound: Bound):
    """Every instance within ``bound``, no symmetry: (C, K, table, gamma, tau), in a plain loop."""
    for C in range(1, bound.num_classes + 1):
        for K in range(bound.min_tau, bound.num_features + 1):
            S = 2**K
            for flat in itertools.product(range(bound.min_count, bound.max_count + 1), repeat=C * S):
                table = np.array(flat, np.int64).reshape(C, S)
                if table.sum() == 0:
                    continue
                s_max = max(int(table[c, [a for a in range(S) if a >> k & 1]].sum()) for c in range(C)
                            for k in range(K))
                for tau in range(bound.min_tau, K + 1):
                    for gamma in range(1, s_max + 2):
                        yield C, K, table, gamma, tau


def _plain_tally(bound: Bound, rows):
    """Tally (status, verdicts) rows the way the exhaustive result reports them, counting every instance."""
    instances, app, held, broken, smallest = {}, np.zeros(N_CLAIMS, int), np.zeros(N_CLAIMS, int), {}, {}
    for (C, K, table, gamma, tau), (status, claims) in rows:
        name = STATUS_NAMES[status]
        instances[name] = instances.get(name, 0) + 1
        if status & BROKEN_3_3_I:
            continue
        a = np.array([c[0] for c in claims])
        h = np.array([c[1] for c in claims])
        if status == 0:
            app += a
            held += a & h
            for ci in np.flatnonzero(a & ~h):
                j = claims[ci][4] if ci < 13 else bound.max_chunks
                key = (int(table.sum()), C, K, int(j), tau, gamma)
                smallest[ci] = min(smallest.get(ci, key), key)
        else:
            b = broken.setdefault(name, [np.zeros(N_CLAIMS, int), np.zeros(N_CLAIMS, int)])
            b[0] += a
            b[1] += a & ~h
    return instances, app, held, broken, smallest


def _assert_agrees(result, plain):
    instances, app, held, broken, smallest = plain
    assert {k: w for k, (_, w) in result.instances.items()} == instances
    assert result.n_represented == sum(instances.values())
    np.testing.assert_array_equal(result.applicable[1], app)
    np.testing.assert_array_equal(result.held[1], held)
    assert set(result.broken) == set(broken)
    for name, (a, f) in result.broken.items():
        np.testing.assert_array_equal(a[1], broken[name][0])
        np.testing.assert_array_equal(f[1], broken[name][1])
    found = {ci: (f[0]["n"], f[0]["C"], f[0]["K"], f[0]["J"], f[0]["tau"], f[0]["gamma"])
             for (ci, r), f in result.smallest.items() if not r}
    assert found == smallest


@pytest.mark.parametrize("bound", [Bound(2, 2, max_count=2, max_chunks=5),
                                   Bound(2, 2, max_count=1, min_count=0, max_chunks=4),
                                   Bound(2, 2, max_count=2, max_chunks=4, min_tau=2)])
def test_reduced_enumeration_agrees_count_for_count_with_the_plain_one(bound):
    raw = list(_raw_instances(bound))
    rows = []
    for C, K, table, gamma, tau in raw:
        out = check_tables(table[None], [gamma], [tau], bound.max_chunks)
        rows.append(((C, K, table, gamma, tau), (int(out["status"][0]), [
            (bool(out["applicable"][0, ci]), bool(out["holds"][0, ci]), 0, 0, int(out["at"][0, ci]))
            for ci in range(N_CLAIMS)])))
    result = exhaustive_check(bound, chunk_size=7)
    assert result.n_checked < len(raw) == result.n_represented
    _assert_agrees(result, _plain_tally(bound, rows))


def test_reduced_enumeration_agrees_with_the_reference_checker_on_every_tiny_instance():
    bound = Bound(2, 1, max_count=2, min_count=0, max_chunks=4)
    rows = [((C, K, table, gamma, tau), _reference_row(composition_of(table), gamma, tau, bound.max_chunks))
            for C, K, table, gamma, tau in _raw_instances(bound)]
    _assert_agrees(exhaustive_check(bound), _plain_tally(bound, rows))


def test_orbits_count_every_vector_once():
    for K, lo, hi in ((1, 1, 3), (2, 0, 2), (3, 1, 2)):
        reps, sizes = class_orbits(K, lo, hi)
        assert sizes.sum() == (hi - lo + 1) ** (2**K)
        # The representative is the smallest of its orbit: no feature permutation makes it smaller.
        for rep in reps:
            for perm in itertools.permutations(range(K)):
                moved = [sum(((a >> k) & 1) << perm[k] for k in range(K)) for a in range(2**K)]
                permuted = np.empty_like(rep)
                permuted[moved] = rep
                assert tuple(permuted) >= tuple(rep)
    for C, K in ((2, 2), (3, 1), (3, 2)):
        choice, weight = compositions(C, K, 1, 2)
        assert weight.sum() == 2 ** (2**K * C)


def _planted(tables, gammas, taus):
    # Deliberately false, symmetric claim: "no class has n_∅ = 2 when tau >= 2".
    return ~((tables[:, :, 0] == 2).any(axis=1) & (taus >= 2))


def test_a_planted_false_claim_is_found_as_minimal():
    bound = Bound(2, 2, max_count=2, max_chunks=3)
    result = exhaustive_check(bound, extra_claims=[("planted", _planted)])
    ci = N_CLAIMS
    assert result.claim_names[ci] == "planted"
    # The plain search: every valid instance on which the planted claim fails, smallest first.
    failing = []
    for C, K, table, gamma, tau in _raw_instances(bound):
        if _planted(table[None], np.array([gamma]), np.array([tau]))[0]:
            continue
        if check_assumptions(composition_of(table), gamma=gamma, tau=tau).all_hold:
            failing.append((int(table.sum()), C, K, bound.max_chunks, tau, gamma))
    assert failing, "the planted claim must fail somewhere within the bound"
    best = result.smallest[(ci, False)][0]
    assert (best["n"], best["C"], best["K"], best["J"], best["tau"], best["gamma"]) == min(failing)
    assert result.applicable[1, ci] - result.held[1, ci] == len(failing)
    table = np.asarray(best["table"])
    assert table[:, 0].max() == 2 and best["tau"] >= 2
    # The ready-to-run code rebuilds it.
    code = result.code(ci)
    assert f"gamma={best['gamma']}, tau={best['tau']}" in code and "check_theorems(comp, 3" in code


def test_results_do_not_depend_on_the_executor_or_chunking():
    bound = Bound(2, 2, max_count=2, max_chunks=4)
    one = exhaustive_check(bound, chunk_size=10**6).to_dict()
    with concurrent.futures.ProcessPoolExecutor(2) as pool:
        two = exhaustive_check(bound, executor=pool, chunk_size=9).to_dict()
    one.pop("seconds")
    two.pop("seconds")
    assert json.dumps(one, sort_keys=True) == json.dumps(two, sort_keys=True)


@pytest.mark.parametrize("kwargs, field", [(dict(num_classes=0), "num_classes"), (dict(max_chunks=1), "max_chunks"),
                                           (dict(min_count=3, max_count=2), "min_count"),
                                           (dict(num_features=2, min_tau=3), "min_tau"),
                                           (dict(num_features=4, max_count=3), "count vectors")])
def test_bad_bounds_are_refused_naming_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        Bound(**kwargs)


def test_executor_without_map_is_refused():
    with pytest.raises(TypeError, match="map"):
        exhaustive_check(Bound(1, 1), executor=object())


def test_command_prints_tables_and_json(capsys):
    args = ["theorems", "--exhaustive", "--C", "2", "--K", "2", "--max-count", "2", "--J", "4"]
    assert cli.main(args) == 0
    text = capsys.readouterr().out
    assert "T_ideal < T_cold" in text and "represented" in text and "comp = Composition(" in text
    assert cli.main(args + ["--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["bound"]["max_chunks"] == 4 and len(data["claims"]) == N_CLAIMS
    assert any(c["claim"] == "T_ideal < T_cold" and c["failed"] > 0 for c in data["claims"])


def test_command_refuses_bad_flags(capsys):
    assert cli.main(["theorems", "--exhaustive", "--K", "9"]) == 2
    assert "num_features" in capsys.readouterr().err
    assert cli.main(["theorems", "--workers", "0"]) == 2
    assert "--workers" in capsys.readouterr().err


def test_command_random_mode_prints_the_reference_tally(capsys):
    assert cli.main(["theorems", "--instances", "5", "--J", "3", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["instances"] == 5 and [c["claim"] for c in data["claims"]] == [name for name, _ in CLAIMS]
    assert all(c["held"] + c["failed"] == c["checked"] for c in data["claims"])
