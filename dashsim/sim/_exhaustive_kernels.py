"""Numba kernels of the exhaustive theorem checker: every claim of the theory on a batch of instances per call.

An instance is a fixed composition given as a full table ``counts[c, a]`` = n_A for class c and the
combination ``A`` with bit k set when feature k of class c is in it (``S = 2^K`` combinations per
class), plus an integer ``gamma`` and ``tau``. Sets of learned features are one K-bit mask per class.
Because every chunk of a fixed composition is the same table, experiment j sees the table with
weight ``j * n_A`` (as :func:`dashsim.sim.simulator.simulate_composition` does), so each training
process works on the ``C * 2^K`` table rows alone.

:func:`check_instances` runs cold, warm, ideal and the runs the Lemmas need, then writes, per
instance, the assumption status and, per claim of :data:`dashsim.sim.theory.CLAIMS` (same order),
whether it applied, whether it held, both sides and where (the same numbers as
:func:`dashsim.sim.theory.check_theorems`). The kernels draw no random numbers and write into the
arrays they are given; they are kept apart from :mod:`dashsim.sim._kernels` (the simulator's bitset
engine), which they do not touch.
"""

from __future__ import annotations

import numpy as np
from numba import njit

N_CLAIMS = 16
# Assumption status bits (0: all hold).
BROKEN_3_1 = 1
BROKEN_3_3_I = 2
BROKEN_3_3_II = 4


@njit(cache=True)
def _popcount(x):
    c = 0
    while x:
        x &= x - 1
        c += 1
    return c


@njit(cache=True)
def _process(counts, mult, mem, learned, tau, gamma, K, order, popc):
    """One TrainingProcess on the table with weights ``mult * counts - mem``; updates ``learned`` and ``mem``.

    ``learned`` (C,) int64 masks (L), ``mem`` (C, S) int64 memorized weight per row (M). Writes the
    learned flat indices ``c*K + k`` into ``order`` and returns (|N| at the start, features learned).
    """
    C, S = counts.shape
    live = np.empty((C, S), np.int64)  # a: weight of each row in N (0 when not in N)
    n_nonzero = 0
    for c in range(C):
        for a in range(S):
            if popc[a & learned[c]] < tau:
                w = mult * counts[c, a] - mem[c, a]
                live[c, a] = w
                n_nonzero += w
            else:
                live[c, a] = 0
    n_new = 0
    while True:
        best_val = -1
        best_c = -1
        best_k = -1
        for c in range(C):
            lc = learned[c]
            for k in range(K):
                if (lc >> k) & 1:
                    continue
                cnt = 0
                for a in range(S):
                    if (a >> k) & 1:
                        cnt += live[c, a]
                # Strictly larger only: ties go to the smallest flat index c*K + k.
                if cnt > best_val:
                    best_val = cnt
                    best_c = c
                    best_k = k
        if best_c < 0 or best_val < gamma:
            break
        learned[best_c] |= 1 << best_k
        order[n_new] = best_c * K + best_k
        n_new += 1
        lc = learned[best_c]
        for a in range(S):
            if popc[a & lc] >= tau:
                live[best_c, a] = 0
    # Every point left with fewer than tau learned features is memorized (its full weight).
    for c in range(C):
        for a in range(S):
            if popc[a & learned[c]] < tau:
                mem[c, a] = mult * counts[c, a]
    return n_nonzero, n_new


@njit(cache=True)
def _wrong(counts, learned, tau, popc):
    # sum_A n_A 1(|A ∩ L| < tau)
    C, S = counts.shape
    w = 0
    for c in range(C):
        for a in range(S):
            if popc[a & learned[c]] < tau:
                w += counts[c, a]
    return w


@njit(cache=True)
def _acc(wrong, C, n):
    # The expression of dashsim.accuracy_composition, evaluated in the same order.
    return 1.0 - (C - 1) / C * wrong / n


@njit(cache=True)
def _size(learned):
    s = 0
    for c in range(learned.shape[0]):
        s += _popcount(learned[c])
    return s


@njit(cache=True)
def _status(counts, gamma, tau, K, popc):
    """Assumption status bits of one instance (see the module constants)."""
    C, S = counts.shape
    status = 0
    for c in range(C):
        for a in range(S):
            if counts[c, a] < 1:
                status |= BROKEN_3_1
    cnt = np.empty(K, np.int64)
    for c in range(C):
        for lc in range(S):
            # n h(v; L_c) of the unlearned features; any two equal is a tie (learned ones are never compared).
            for k in range(K):
                cnt[k] = -1 - k
                if (lc >> k) & 1:
                    continue
                s = 0
                for a in range(S):
                    if (a >> k) & 1 and popc[a & lc] < tau:
                        s += counts[c, a]
                cnt[k] = s
            for k in range(K):
                for k2 in range(k + 1, K):
                    if cnt[k] >= 0 and cnt[k] == cnt[k2]:
                        status |= BROKEN_3_3_I
    tot = np.empty(K, np.int64)
    for c in range(C):
        for k in range(K):
            s = 0
            for a in range(S):
                if (a >> k) & 1:
                    s += counts[c, a]
            tot[k] = s
        tot = np.sort(tot)[::-1].copy()
        if tau >= 2 and tot[tau - 2] < gamma:
            status |= BROKEN_3_3_II
        if tot[tau - 1] >= gamma:
            status |= BROKEN_3_3_II
    return status


@njit(cache=True)
def _put(ci, b, applicable, holds, lhs, rhs, at, app_out, holds_out, lhs_out, rhs_out, at_out):
    app_out[b, ci] = applicable
    holds_out[b, ci] = holds
    lhs_out[b, ci] = lhs
    rhs_out[b, ci] = rhs
    at_out[b, ci] = at


@njit(cache=True)
def _class_prefix_ok(seq, n_seq, ref, n_ref, c, K):
    # Class c's features in seq, in order, are the first ones of class c in ref.
    i_ref = 0
    for i in range(n_seq):
        v = seq[i]
        if v // K != c:
            continue
        while i_ref < n_ref and ref[i_ref] // K != c:
            i_ref += 1
        if i_ref >= n_ref or ref[i_ref] != v:
            return False
        i_ref += 1
    return True


@njit(cache=True)
def _family_fails(orders, lens, C, K):
    """(Lemma D.2 failures, Lemma D.3 failures) over one family of runs from a common L, no memory."""
    n_runs = orders.shape[0]
    d2 = 0
    d3 = 0
    # Per class, the reference is the first run holding the most features of that class.
    ref_run = np.zeros(C, np.int64)
    best = np.full(C, -1, np.int64)
    for r in range(n_runs):
        for c in range(C):
            m = 0
            for i in range(lens[r]):
                if orders[r, i] // K == c:
                    m += 1
            if m > best[c]:
                best[c] = m
                ref_run[c] = r
    for r in range(n_runs):
        ok = True
        for c in range(C):
            rr = ref_run[c]
            if not _class_prefix_ok(orders[r], lens[r], orders[rr], lens[rr], c, K):
                ok = False
        if not ok:
            d2 += 1
        if r + 1 < n_runs:
            if lens[r] > lens[r + 1]:
                d3 += 1
            else:
                for i in range(lens[r]):
                    if orders[r + 1, i] != orders[r, i]:
                        d3 += 1
                        break
    return d2, d3


@njit(cache=True)
def check_instances(tables, comp, gammas, taus, K, J, status, app, holds, lhs, rhs, at):
    """Check every claim on instances ``(tables[comp[b]], gammas[b], taus[b])`` for the horizon J.

    tables (M, C, 2^K) int64; comp, gammas, taus (B,) int64. Writes status (B,) int64 (assumption
    bits), and per claim (B, N_CLAIMS): app (bool), holds (bool), lhs, rhs (float64, NaN when the
    claim did not apply) and at (int64: the J, or Lemma D.1's pair index, both sides are taken at;
    -1 where the reference reports None).
    """
    M, C, S = tables.shape
    CK = C * K
    nan = np.nan
    popc = np.zeros(S, np.int64)
    for a in range(S):
        popc[a] = _popcount(a)
    L = np.zeros((3, J, C), np.int64)  # cold, warm, ideal learned masks after experiment j
    T = np.zeros((3, J), np.int64)  # cumulative training time
    cold_orders = np.full((J, CK), -1, np.int64)
    cold_lens = np.zeros(J, np.int64)
    g_orders = np.full((3, CK), -1, np.int64)
    g_lens = np.zeros(3, np.int64)
    mem = np.zeros((C, S), np.int64)
    cur = np.zeros(C, np.int64)
    scratch = np.full(CK, -1, np.int64)
    pa = np.zeros((CK + J, C), np.int64)  # Lemma D.1 pairs
    pb = np.zeros((CK + J, C), np.int64)
    js = np.zeros(3, np.int64)
    for b in range(gammas.shape[0]):
        counts = tables[comp[b]]
        gamma = gammas[b]
        tau = taus[b]
        status[b] = _status(counts, gamma, tau, K, popc)
        n = 0
        for c in range(C):
            for a in range(S):
                n += counts[c, a]
        # G = L^(1) from L = M = ∅ on one chunk.
        G = np.zeros(C, np.int64)
        mem[:] = 0
        _process(counts, 1, mem, G, tau, gamma, K, scratch, popc)
        for m in range(3):
            cur[:] = 0
            mem[:] = 0
            total = 0
            for j in range(1, J + 1):
                if m == 0:
                    cur[:] = 0
                if m != 1:
                    mem[:] = 0
                if m == 0:
                    nn, nl = _process(counts, j, mem, cur, tau, gamma, K, cold_orders[j - 1], popc)
                    cold_lens[j - 1] = nl
                else:
                    nn, nl = _process(counts, j, mem, cur, tau, gamma, K, scratch, popc)
                total += nn
                T[m, j - 1] = total
                L[m, j - 1, :] = cur
        size_g = _size(G)
        # delta n = max over features outside G of n h(v; G)
        delta_n = 0
        for c in range(C):
            for k in range(K):
                if (G[c] >> k) & 1:
                    continue
                s = 0
                for a in range(S):
                    if (a >> k) & 1 and popc[a & G[c]] < tau:
                        s += counts[c, a]
                if s > delta_n:
                    delta_n = s
        _put(0, b, True, size_g > 0, size_g, 0.0, 1, app, holds, lhs, rhs, at)
        _put(1, b, True, size_g < CK, size_g, CK, 1, app, holds, lhs, rhs, at)
        same1 = True
        for c in range(C):
            if L[1, 0, c] != G[c] or L[0, 0, c] != G[c]:
                same1 = False
        _put(2, b, True, same1, _size(L[1, 0]), _size(L[0, 0]), 1, app, holds, lhs, rhs, at)
        wr = np.empty((3, J), np.int64)
        for m in range(3):
            for j in range(J):
                wr[m, j] = _wrong(counts, L[m, j], tau, popc)
        # Per-J claims: (claim, first J, kind); sides at the first failing J, else at the last.
        for ci in range(3, 13):
            first = -1
            last = -1
            j0 = 2
            if ci == 6 or ci == 7 or ci == 8:
                j0 = 1
            for j in range(j0, J + 1):
                if ci == 5 and not (delta_n > 0 and j * delta_n > gamma):
                    continue
                i = j - 1
                if ci == 3:
                    ok = _acc(wr[1, i], C, n) <= _acc(wr[0, i], C, n)
                elif ci == 4:
                    ok = T[1, i] < T[0, i]
                elif ci == 5:
                    ok = _acc(wr[1, i], C, n) < _acc(wr[0, i], C, n)
                elif ci == 6:
                    ok = True
                    for c in range(C):
                        if L[1, i, c] != G[c]:
                            ok = False
                elif ci == 7:
                    ok = T[1, i] <= j * n
                elif ci == 8:
                    ok = T[0, i] == n * j * (j + 1) // 2
                elif ci == 9:
                    ok = True
                    for c in range(C):
                        if L[0, i, c] != L[2, i, c]:
                            ok = False
                elif ci == 10:
                    ok = _acc(wr[0, i], C, n) == _acc(wr[2, i], C, n)
                elif ci == 11:
                    ok = T[1, i] < T[2, i]
                else:
                    ok = T[2, i] < T[0, i]
                last = j
                if not ok and first < 0:
                    first = j
            if last < 0:
                _put(ci, b, False, True, nan, nan, -1, app, holds, lhs, rhs, at)
                continue
            jj = first if first >= 0 else last
            i = jj - 1
            if ci == 3 or ci == 5:
                lv, rv = _acc(wr[1, i], C, n), _acc(wr[0, i], C, n)
            elif ci == 4:
                lv, rv = float(T[1, i]), float(T[0, i])
            elif ci == 6:
                lv, rv = float(_size(L[1, i])), float(size_g)
            elif ci == 7:
                lv, rv = float(T[1, i]), float(jj * n)
            elif ci == 8:
                lv, rv = float(T[0, i]), float(n * jj * (jj + 1) // 2)
            elif ci == 9:
                lv, rv = float(_size(L[0, i])), float(_size(L[2, i]))
            elif ci == 10:
                lv, rv = _acc(wr[0, i], C, n), _acc(wr[2, i], C, n)
            elif ci == 11:
                lv, rv = float(T[1, i]), float(T[2, i])
            else:
                lv, rv = float(T[2, i]), float(T[0, i])
            _put(ci, b, True, first < 0, lv, rv, jj, app, holds, lhs, rhs, at)
        # Lemma D.1: (G, G + v) for v outside G, then consecutive strictly growing cold sets.
        n_pairs = 0
        for flat in range(CK):
            c, k = flat // K, flat % K
            if (G[c] >> k) & 1:
                continue
            pa[n_pairs, :] = G
            pb[n_pairs, :] = G
            pb[n_pairs, c] |= 1 << k
            n_pairs += 1
        for j in range(1, J):
            grows = False
            shrinks = False
            for c in range(C):
                if L[0, j, c] & ~L[0, j - 1, c]:
                    grows = True
                if L[0, j - 1, c] & ~L[0, j, c]:
                    shrinks = True
            if grows and not shrinks:
                pa[n_pairs, :] = L[0, j - 1]
                pb[n_pairs, :] = L[0, j]
                n_pairs += 1
        kept = 0
        first = -1
        last_a = 0.0
        last_b = 0.0
        fa = 0.0
        fb = 0.0
        for p in range(n_pairs):
            enough = True
            for c in range(C):
                if _popcount(pa[p, c]) < tau - 1:
                    enough = False
            if not enough:
                continue
            acc_a = _acc(_wrong(counts, pa[p], tau, popc), C, n)
            acc_b = _acc(_wrong(counts, pb[p], tau, popc), C, n)
            if not acc_a < acc_b and first < 0:
                first = kept
                fa, fb = acc_a, acc_b
            last_a, last_b = acc_a, acc_b
            kept += 1
        if kept == 0:
            _put(13, b, False, True, nan, nan, -1, app, holds, lhs, rhs, at)
        elif first >= 0:
            _put(13, b, True, False, fa, fb, first, app, holds, lhs, rhs, at)
        else:
            _put(13, b, True, True, last_a, last_b, kept - 1, app, holds, lhs, rhs, at)
        # Lemmas D.2 and D.3: cold's runs from ∅ (1..J chunks) and runs from G on {2, J//2, J} chunks.
        n_js = 0
        for cand in (2, max(2, J // 2), J):
            dup = False
            for i in range(n_js):
                if js[i] == cand:
                    dup = True
            if not dup:
                js[n_js] = cand
                n_js += 1
        js[:n_js] = np.sort(js[:n_js])
        for i in range(n_js):
            cur[:] = G
            mem[:] = 0
            g_orders[i, :] = -1
            g_lens[i] = _process(counts, js[i], mem, cur, tau, gamma, K, g_orders[i], popc)[1]
        d2a, d3a = _family_fails(cold_orders, cold_lens, C, K)
        d2b, d3b = _family_fails(g_orders[:n_js], g_lens[:n_js], C, K)
        n_runs = J + n_js
        _put(14, b, True, d2a + d2b == 0, n_runs - d2a - d2b, n_runs, -1, app, holds, lhs, rhs, at)
        _put(15, b, True, d3a + d3b == 0, n_runs - d3a - d3b, n_runs, -1, app, holds, lhs, rhs, at)
        cold_orders[:] = -1
