"""All numba code of dashsim's simulator (kept in one module: numba's cache only sees this file).

The kernels draw no random numbers and write into arrays they are given. Callers in
:mod:`dashsim.sim.simulator` validate input and pass one canonical dtype per argument. The kernels
pass their arrays around in three bundles (namedtuples of arrays, which numba passes as freely as
the arrays themselves): :class:`Index`, the data, built once by :func:`build_index`; :class:`State`,
the framework's state (L, M, and each point's learned-feature count); :class:`Scratch`, the work
arrays of the greedy loop. The data:

- points are sorted by class, then chunk, so the training set ``T_{1:j}`` of experiment j is, in
  each class c, a prefix of the class's block: sorted positions ``cstart[c] .. cstart[c] +
  cprefix[j, c] - 1``;
- ``masks`` (n, ceil(K/64)) uint64: each point's features, bit k = feature ``c*K + k`` of its own
  class c (only own-class features exist);
- ``cols`` (K, n_words) uint64: the transpose, per class: bit t of word ``woff[c] + t // 64`` of
  row k says the t-th point of class c has feature k;
- ``weights`` (n,) int64 multiplicities, ``mult`` (J,) int64 a per-experiment factor on them (1 for
  sampled data; j for a fixed composition collapsed to one row per combination).

The state: ``learned`` (C*K,) bool, L; ``mem_w`` (n,) int64, the memorized weight of each point (0
or the point's full weight), M; and per point, as bitsets over the same words as ``cols``:
``done`` (|V(x) ∩ L| >= tau), ``planes`` (|V(x) ∩ L| in binary below that), ``nz`` (in N at the
start of the run), ``frozen`` (memorized for good).

Cost: learning feature (c, k) costs one pass over class c's words of ``cols[k]`` (64 points per
operation, a few operations per plane); a point leaving N adds its mask, ceil(K/64) words, into a
bit-sliced counter (a fixed handful of operations per word, not one per feature); choosing the next
feature rescans the K counts of the class that changed, and a segment tree over classes finds the
best class in O(log C). Dense (n, K) features fit in n*K/8 bytes twice (``masks`` and ``cols``).
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit
from numba.extending import intrinsic
from numba.cpython.unsafe.numbers import trailing_zeros

MODE_COLD = 0
MODE_WARM = 1
MODE_IDEAL = 2

# The points, sorted by class, then chunk (see the module docstring for the bitset layout). Experiment j
# (0-based) trains on the first cprefix[j, c] points of each class c, with weights weights * mult[j].
Index = namedtuple("Index", (
    "cprefix",  # (J, C) int64: points of class c that arrived by experiment j
    "mult",  # (J,) int64: experiment j's factor on the weights
    "cstart",  # (C + 1,) int64: first sorted position of each class
    "woff",  # (C + 1,) int64: first bitset word of each class
    "masks",  # (n, ceil(K/64)) uint64: each point's features
    "cols",  # (K, woff[C]) uint64: the transpose, per class
    "weights",  # (n,) int64: multiplicity of each point
))
# The framework's state: L, M and, per point (one bit per bitset word), |V(x) ∩ L| and N.
State = namedtuple("State", (
    "learned",  # (C*K,) bool: L
    "mem_w",  # (n,) int64: memorized weight of each point (M)
    "done",  # (n_words,) uint64: |V(x) ∩ L| >= tau
    "planes",  # (n_words, max(n_planes, 1)) uint64: |V(x) ∩ L| in binary, for the others
    "nz",  # (n_words,) uint64: in N at the start of the run
    "frozen",  # (n_words,) uint64: known to have a = w * mult - mem_w <= 0 for good (skipped)
))
# Work arrays of the greedy loop.
Scratch = namedtuple("Scratch", (
    "vals",  # (C*K,) int64: each feature's summed a over N
    "points",  # (n + 4,) int64: points whose a is added to (or taken from) vals
    "amounts",  # (n,) int64: their a
    "class_val",  # (tree size,) int64: each class's best count (padding classes -2)
    "class_k",  # (tree size,) int64: ... and its feature
    "ctree",  # (2 * tree size,) int64: segment tree over classes of the best (count, class)
))


@njit(cache=True)
def _better(vals, a, b):
    # Largest count first; equal counts go to the smaller index. Over classes holding each class's
    # best feature, the smaller class has the smaller flat index c*K + k, so this is the authors'
    # stable descending sort of the flattened C x K counts.
    return vals[a] > vals[b] or (vals[a] == vals[b] and a < b)


@njit(cache=True)
def _tree_update(tree, vals, size, leaf):
    node = (size + leaf) >> 1
    while node >= 1:
        a = tree[2 * node]
        b = tree[2 * node + 1]
        tree[node] = a if _better(vals, a, b) else b
        node >>= 1


@njit(cache=True)
def _tree_size(n_leaves):
    size = 1
    while size < n_leaves:
        size *= 2
    return size


# ----------------------------------------------------------------------------------------------
# TrainingProcess on bitsets
# ----------------------------------------------------------------------------------------------
_COUNTER_LIMIT = 2**8 - 1  # unit-weight points summed in _add_points's eight planes before they are emptied


@intrinsic
def _popcount(typingctx, x):
    """Number of set bits of an unsigned integer (one popcnt instruction)."""
    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return x(x), codegen


@njit(cache=True, inline="always")
def _low_bits(r):
    # Bits 0 .. min(r, 64) - 1 set: the arrived points of a class's word.
    if r >= 64:
        return ~np.uint64(0)
    return (np.uint64(1) << np.uint64(r)) - np.uint64(1)


@njit(cache=True)
def _carry_save(a, b, c):
    # Bitwise full adder: a + b + c = 2 * carry + total in each of the 64 lanes.
    partial = a ^ b
    return (a & b) | (partial & c), partial ^ c


# An explicit signature, so that literal arguments at the call sites do not compile variants.
@njit("void(int64[::1], int64[::1], int64, boolean, uint64[:, ::1], int64[::1], int64, int64)", cache=True)
def _add_points(points, amounts, n_points, all_unit, masks, target, base, sign):
    """``target[base + k] += sign * amounts[r]`` for every feature k of point ``points[r]``, r < n_points.

    Unit amounts (every point of sampled data) are summed 64 features at a time by a vertical
    bit-sliced counter held in eight registers (``c_p`` holds bit p of each feature's count): a
    fixed, branch-free ripple per point and word instead of one read-modify-write per feature,
    emptied into ``target`` every 2**8 - 1 points. Other amounts are added feature by feature.
    ``points`` is reordered; ``all_unit`` says every amount is 1 (``amounts`` is then not read).
    The points are listed first and added in one call, since a call per point would pay numba's
    reference counting of the arrays.
    """
    n_unit = n_points if all_unit else 0
    for r in range(0 if all_unit else n_points):
        s = points[r]
        if amounts[r] == 1:
            points[n_unit] = s
            n_unit += 1
        else:
            step = sign * amounts[r]
            for ww in range(masks.shape[1]):
                bits = masks[s, ww]
                while bits:
                    target[base + 64 * ww + np.int64(trailing_zeros(bits))] += step
                    bits &= bits - np.uint64(1)
    for first in range(0, n_unit, _COUNTER_LIMIT):
        last = min(n_unit, first + _COUNTER_LIMIT)
        last4 = first + (last - first) // 4 * 4
        for ww in range(masks.shape[1]):
            c0 = c1 = c2 = c3 = c4 = c5 = c6 = c7 = np.uint64(0)
            # Four points at a time through carry-save adders (Harley-Seal): c0 + x0 + x1 + x2 + x3
            # and c1 + twos take three adders, and only the fours ripple up.
            for r in range(first, last4, 4):
                twos_a, c0 = _carry_save(c0, masks[points[r], ww], masks[points[r + 1], ww])
                twos_b, c0 = _carry_save(c0, masks[points[r + 2], ww], masks[points[r + 3], ww])
                x, c1 = _carry_save(c1, twos_a, twos_b)
                c2, x = c2 ^ x, c2 & x
                c3, x = c3 ^ x, c3 & x
                c4, x = c4 ^ x, c4 & x
                c5, x = c5 ^ x, c5 & x
                c6, x = c6 ^ x, c6 & x
                c7 = c7 ^ x  # counts stay below 2**8, so nothing carries out
            for r in range(last4, last):
                x = masks[points[r], ww]
                c0, x = c0 ^ x, c0 & x
                c1, x = c1 ^ x, c1 & x
                c2, x = c2 ^ x, c2 & x
                c3, x = c3 ^ x, c3 & x
                c4, x = c4 ^ x, c4 & x
                c5, x = c5 ^ x, c5 & x
                c6, x = c6 ^ x, c6 & x
                c7 = c7 ^ x  # counts stay below 2**8, so nothing carries out
            for p, bits in enumerate((c0, c1, c2, c3, c4, c5, c6, c7)):
                step = sign << p
                while bits:
                    target[base + 64 * ww + np.int64(trailing_zeros(bits))] += step
                    bits &= bits - np.uint64(1)


@njit(cache=True)
def _class_best(vals, learned, base, K):
    # Largest count among the class's unlearned features; ties go to the smallest k (so, across
    # classes compared by (count, class), to the smallest flat index c*K + k).
    best_v = -1
    best_k = -1
    for k in range(K):
        if not learned[base + k] and vals[base + k] > best_v:
            best_v = vals[base + k]
            best_k = k
    return best_v, best_k


@njit(cache=True)
def _n_planes(tau):
    # Bits of a count in 0 .. tau - 1 (0 for tau = 1).
    n_planes = 0
    while ((tau - 1) >> n_planes) > 0:
        n_planes += 1
    return n_planes


@njit(cache=True)
def _new_state(learned, mem_w, n_words, tau):
    """A :class:`State` holding ``learned`` and ``mem_w``, every point at count 0, outside N, not frozen."""
    return State(learned=learned, mem_w=mem_w, done=np.zeros(n_words, dtype=np.uint64),
                 planes=np.zeros((n_words, max(_n_planes(tau), 1)), dtype=np.uint64),
                 nz=np.zeros(n_words, dtype=np.uint64), frozen=np.zeros(n_words, dtype=np.uint64))


@njit(cache=True)
def _new_scratch(n, n_features, n_classes):
    """The :class:`Scratch` of a run over n points, C*K features and C classes."""
    csize = _tree_size(n_classes)
    # points: room for the 4 unconditional writes of _learn.
    return Scratch(vals=np.zeros(n_features, dtype=np.int64), points=np.empty(n + 4, dtype=np.int64),
                   amounts=np.empty(n, dtype=np.int64), class_val=np.full(csize, -2, dtype=np.int64),
                   class_k=np.zeros(csize, dtype=np.int64), ctree=np.empty(2 * csize, dtype=np.int64))


@njit(cache=True)
def _start_from_state(index, j, warm, state, scratch):
    """N of experiment j: the arrived points below tau with ``a = weights * mult[j] - mem_w > 0``.

    ``mem_w`` is read only if ``warm``. Writes ``state.nz`` and ``scratch.vals`` (each feature's
    summed ``a`` over N) and returns |N| (weighted). ``state.frozen`` points are known to have
    a <= 0 and are skipped.
    """
    cstart, woff, masks, weights = index.cstart, index.woff, index.masks, index.weights
    prefix, mult_j, K = index.cprefix[j], index.mult[j], index.cols.shape[0]
    mem_w, done, frozen, nz = state.mem_w, state.done, state.frozen, state.nz
    vals, points, amounts = scratch.vals, scratch.points, scratch.amounts
    zero = np.uint64(0)
    one = np.uint64(1)
    vals[:] = 0
    n_nonzero = 0
    for c in range(cstart.shape[0] - 1):
        hi = prefix[c]
        w0 = woff[c]
        n_points = 0
        for w in range(w0, w0 + (hi + 63) // 64):
            t0 = (w - w0) * 64
            live = ~done[w] & ~frozen[w] & _low_bits(hi - t0)
            in_n = zero
            while live:
                b = trailing_zeros(live)
                live &= live - one
                s = cstart[c] + t0 + np.int64(b)
                a = weights[s] * mult_j
                if warm:
                    a -= mem_w[s]
                if a > 0:
                    in_n |= one << b
                    n_nonzero += a
                    points[n_points] = s
                    amounts[n_points] = a
                    n_points += 1
            nz[w] = in_n
        _add_points(points, amounts, n_points, False, masks, vals, c * K, 1)
    return n_nonzero


@njit(cache=True)
def _learn(index, j, hit_all, unit_j, warm, gamma, tau, state, scratch, order_row):
    """The greedy loop of TrainingProcess from the counts ``scratch.vals`` of N; returns how many features it learned.

    Learns ``argmax_{v not in L} vals[v]`` (ties: smallest flat index) while that count is >= gamma,
    writing the flat indices to ``order_row``. Learning feature (c, k) adds ``cols[k]`` to class c's
    counts word by word (64 points per operation: ``planes`` hold |V(x) ∩ L| in binary, ``done``
    marks >= tau); points of N (``nz``) reaching tau give back ``a = weights * mult[j] - mem_w``
    (``mem_w`` read only if ``warm``; ``unit_j``: every such a is 1) to each of their features.
    Counts are kept for the first ``cprefix[j, c]`` points of each class, or for all if ``hit_all``.
    Only class c's counts change, so only its best feature is searched again (O(K)); a segment tree
    over classes gives the overall best in O(log C).
    """
    cstart, woff, masks, cols, weights = index.cstart, index.woff, index.masks, index.cols, index.weights
    prefix, mult_j = index.cprefix[j], index.mult[j]
    learned, mem_w, done, planes, nz = state.learned, state.mem_w, state.done, state.planes, state.nz
    vals, points, amounts = scratch.vals, scratch.points, scratch.amounts
    class_val, class_k, ctree = scratch.class_val, scratch.class_k, scratch.ctree
    zero = np.uint64(0)
    one = np.uint64(1)
    K = cols.shape[0]
    n_classes = cstart.shape[0] - 1
    n_planes = _n_planes(tau)
    # Points at count tau - 1 reach tau with one more learned feature; pattern[p] is bit p of
    # tau - 1 spread over a word, so a count equals tau - 1 where no plane differs from it.
    pattern = np.empty(n_planes, dtype=np.uint64)
    for p in range(n_planes):
        pattern[p] = ~zero if ((tau - 1) >> p) & 1 else zero
    for c in range(n_classes):
        class_val[c], class_k[c] = _class_best(vals, learned, c * K, K)
    csize = class_val.shape[0]
    for leaf in range(csize):
        ctree[csize + leaf] = leaf
    for node in range(csize - 1, 0, -1):
        left = ctree[2 * node]
        right = ctree[2 * node + 1]
        ctree[node] = left if _better(class_val, left, right) else right
    n_new = 0
    while True:
        c = ctree[1]
        if class_val[c] < gamma:  # also stops when nothing is left to learn (-1, -2)
            break
        k = class_k[c]
        base = c * K
        learned[base + k] = True
        order_row[n_new] = base + k
        n_new += 1
        w0 = woff[c]
        w1 = woff[c + 1] if hit_all else w0 + (prefix[c] + 63) // 64
        n_points = 0
        for w in range(w0, w1):
            x = cols[k, w] & ~done[w]
            if x == 0:
                continue
            at_top = ~zero
            for p in range(n_planes):
                at_top &= ~(planes[w, p] ^ pattern[p])
            reached = x & at_top
            done[w] |= reached
            # The others count up (their counts stay below tau - 1 + 1, so no plane overflows).
            carry = x & ~reached
            for p in range(n_planes):
                plane = planes[w, p]
                planes[w, p] = plane ^ carry
                carry &= plane
            # Points of N reaching tau leave it: their features lose their weight. Listed without
            # a loop per word (how many leave is unpredictable, so a loop's exit would
            # mispredict): four unconditional writes, a loop only for the rare rest.
            leaving = reached & nz[w]
            n_leaving = np.int64(_popcount(leaving))
            first = cstart[c] + (w - w0) * 64
            for r in range(n_points, n_points + 4):
                points[r] = first + np.int64(trailing_zeros(leaving))  # (64 once empty: unused)
                leaving &= leaving - one
            r = n_points + 4
            while leaving:
                points[r] = first + np.int64(trailing_zeros(leaving))
                leaving &= leaving - one
                r += 1
            n_points += n_leaving
        if not unit_j:
            for r in range(n_points):
                s = points[r]
                amounts[r] = weights[s] * mult_j - (mem_w[s] if warm else 0)
        _add_points(points, amounts, n_points, unit_j, masks, vals, base, -1)
        class_val[c], class_k[c] = _class_best(vals, learned, base, K)
        _tree_update(ctree, class_val, csize, c)
    return n_new


@njit(cache=True)
def _memorize(index, j, freeze, state):
    """M <- M ∪ N at the end of experiment j: every arrived point below tau gets ``mem_w = weights * mult[j]``.

    Returns the change of ``sum(mem_w)``. Frozen points are skipped (their ``mem_w`` already is
    ``weights * mult[j]``); with ``freeze`` the points set here are frozen too.
    """
    cstart, woff, weights = index.cstart, index.woff, index.weights
    prefix, mult_j = index.cprefix[j], index.mult[j]
    mem_w, done, frozen = state.mem_w, state.done, state.frozen
    one = np.uint64(1)
    change = 0
    for c in range(cstart.shape[0] - 1):
        hi = prefix[c]
        w0 = woff[c]
        for w in range(w0, w0 + (hi + 63) // 64):
            t0 = (w - w0) * 64
            rest = ~done[w] & ~frozen[w] & _low_bits(hi - t0)
            if freeze:
                frozen[w] |= rest
            while rest:
                s = cstart[c] + t0 + np.int64(trailing_zeros(rest))
                rest &= rest - one
                change += weights[s] * mult_j - mem_w[s]
                mem_w[s] = weights[s] * mult_j
    return change


@njit(cache=True)
def simulate_builtin(mode, index, gamma, tau, out_learned, out_nonzero, out_memorized, out_order):
    """All J experiments of one built-in method (MODE_COLD / MODE_WARM / MODE_IDEAL), in one call.

    ``index`` from :func:`build_index` (points sorted by class, then chunk): experiment j (0-based)
    trains on the first ``cprefix[j, c]`` points of each class c, with weights
    ``weights * mult[j]``. Writes L^(j) to ``out_learned[j]``, |N^(j,0)| to ``out_nonzero[j]``,
    |M^(j)| (weighted) to ``out_memorized[j]`` and the learned flat indices to ``out_order[j]``
    (pre-filled with -1).

    State per point is one bit per bitset word (bit t of word ``woff[c] + t // 64`` is the t-th
    point of class c): ``done`` = |V(x) ∩ L| >= tau; ``planes`` = |V(x) ∩ L| in binary for the
    others; ``nz`` = in N at the start of the experiment. Cold keeps the starting counts of
    L = M = ∅ as running sums over T_{1:j}; warm and ideal keep |V(x) ∩ L| for every point
    across experiments (L only grows) and scan only the arrived points below tau.
    """
    cprefix, mult, cstart, woff, masks, weights = (index.cprefix, index.mult, index.cstart, index.woff, index.masks,
                                                   index.weights)
    n = weights.shape[0]
    K = index.cols.shape[0]
    C = cstart.shape[0] - 1
    n_features = C * K
    one = np.uint64(1)
    cold = mode == MODE_COLD
    warm = mode == MODE_WARM
    state = _new_state(np.zeros(n_features, dtype=np.bool_), np.zeros(n, dtype=np.int64), woff[C], tau)
    scratch = _new_scratch(n, n_features, C)
    learned, done, planes, nz = state.learned, state.done, state.planes, state.nz
    vals, points, amounts = scratch.vals, scratch.points, scratch.amounts
    # Warm with a constant mult: a memorized point has a = w*mult - mem_w = 0 in every later
    # experiment, so it is frozen out of the scans of N.
    freeze = warm
    for j in range(mult.shape[0]):
        freeze = freeze and mult[j] == mult[0]
    unit = True
    for s in range(n):
        unit = unit and weights[s] == 1
    memorized_total = 0
    cold_counts = np.zeros(n_features, dtype=np.int64)
    cold_total = 0
    for j in range(cprefix.shape[0]):
        mult_j = mult[j]
        prefix = cprefix[j]
        if cold:
            learned[:] = False
            for c in range(C):
                # From L = M = ∅ the starting counts are sums over T_{1:j}: add only the new chunk.
                lo = cprefix[j - 1, c] if j > 0 else 0
                w0 = woff[c]
                w_end = w0 + (prefix[c] + 63) // 64
                done[w0:w_end] = 0
                planes[w0:w_end, :] = 0
                for t in range(lo, prefix[c]):
                    s = cstart[c] + t
                    cold_total += weights[s]
                    if weights[s] > 0:
                        nz[w0 + (t >> 6)] |= one << np.uint64(t & 63)
                    points[t - lo] = s
                    amounts[t - lo] = weights[s]
                _add_points(points, amounts, prefix[c] - lo, False, masks, cold_counts, c * K, 1)
            for f in range(n_features):
                vals[f] = cold_counts[f] * mult_j
            n_nonzero = cold_total * mult_j
        else:
            n_nonzero = _start_from_state(index, j, warm, state, scratch)
        # (unit weights and mult 1: a point of N has a = 1)
        _learn(index, j, not cold, unit and mult_j == 1, warm, gamma, tau, state, scratch, out_order[j])
        if warm:
            memorized_total += _memorize(index, j, freeze, state)
            out_memorized[j] = memorized_total
        else:
            # M = N at the end (M started empty); the other arrived points below tau have weight 0.
            memorized = 0
            for c in range(C):
                w0 = woff[c]
                for w in range(w0, w0 + (prefix[c] + 63) // 64):
                    rest = nz[w] & ~done[w]
                    if unit:
                        memorized += np.int64(_popcount(rest)) * mult_j
                    else:
                        while rest:
                            s = cstart[c] + (w - w0) * 64 + np.int64(trailing_zeros(rest))
                            memorized += weights[s] * mult_j
                            rest &= rest - one
            out_memorized[j] = memorized
        out_nonzero[j] = n_nonzero
        out_learned[j, :] = learned


@njit(cache=True)
def process_from_state(index, j, gamma, tau, learned, mem_w, order_row, below_tau):
    """TrainingProcess of experiment j (the first ``cprefix[j, c]`` points of each class) from any (L, M), in place.

    ``index`` from :func:`build_index`; ``learned`` (C*K,) bool is L, ``mem_w`` (n,) the memorized
    weight of each point (its weight if in M, else 0). On exit ``learned`` is L after the run,
    ``mem_w`` = ``weights * mult[j]`` for the arrived points left below tau, ``below_tau[s]`` says
    whether arrived point s has fewer than tau learned features, and ``order_row`` lists the learned
    flat indices. Returns (|N^0| weighted, number of features learned).
    """
    cstart, woff, masks = index.cstart, index.woff, index.masks
    prefix = index.cprefix[j]
    n, W = masks.shape
    K = index.cols.shape[0]
    C = cstart.shape[0] - 1
    n_planes = _n_planes(tau)
    state = _new_state(learned, mem_w, woff[C], tau)
    scratch = _new_scratch(n, learned.shape[0], C)
    done, planes = state.done, state.planes
    learned_bits = np.zeros(W, dtype=np.uint64)
    for c in range(C):
        learned_bits[:] = 0
        for k in range(K):
            if learned[c * K + k]:
                learned_bits[k >> 6] |= np.uint64(1) << np.uint64(k & 63)
        for t in range(prefix[c]):
            s = cstart[c] + t
            h = 0
            for ww in range(W):
                h += np.int64(_popcount(masks[s, ww] & learned_bits[ww]))
            w = woff[c] + (t >> 6)
            bit = np.uint64(1) << np.uint64(t & 63)
            if h >= tau:
                done[w] |= bit
            else:
                for p in range(n_planes):
                    if (h >> p) & 1:
                        planes[w, p] |= bit
    # Flags as np.bool_ rather than literals: literals would compile another variant of each helper.
    yes, no = np.bool_(True), np.bool_(False)
    n_nonzero = _start_from_state(index, j, yes, state, scratch)
    n_new = _learn(index, j, no, no, yes, gamma, tau, state, scratch, order_row)
    _memorize(index, j, no, state)
    for c in range(C):
        for t in range(prefix[c]):
            below_tau[cstart[c] + t] = not (done[woff[c] + (t >> 6)] >> np.uint64(t & 63)) & np.uint64(1)
    return n_nonzero, n_new


@njit(cache=True)
def build_index(features, labels, chunk, weights, n_chunks, n_classes):
    """The :class:`Index` of the points, sorted by (class, chunk) (stable counting sort), and ``perm``.

    Returns ``perm`` (sorted position -> caller's index) and an :class:`Index` with ``cstart``
    (C + 1,) first sorted position of each class, ``cprefix`` (J, C) points of class c in chunks
    <= j (experiment j's T_{1:j} within class c is sorted positions ``cstart[c] .. cstart[c] +
    cprefix[j, c] - 1``), ``mult`` (J,) all 1, ``woff`` (C + 1,) first bitset word of each class
    (ceil(n_c / 64) words each), ``masks`` (n, ceil(K/64)) uint64 (bit k of word k // 64: point has
    feature k of its class), ``cols`` (K, woff[C]) uint64 (bit t of word ``woff[c] + t // 64`` of
    row k: the t-th point of class c has feature k) and ``weights`` (n,) in sorted order.
    """
    n, K = features.shape
    n_keys = n_classes * n_chunks
    start = np.zeros(n_keys + 1, dtype=np.int64)
    for i in range(n):
        start[labels[i] * n_chunks + chunk[i] + 1] += 1
    for q in range(n_keys):
        start[q + 1] += start[q]
    perm = np.empty(n, dtype=np.int64)
    fill = start[:n_keys].copy()
    for i in range(n):
        key = labels[i] * n_chunks + chunk[i]
        perm[fill[key]] = i
        fill[key] += 1
    cstart = np.empty(n_classes + 1, dtype=np.int64)
    woff = np.zeros(n_classes + 1, dtype=np.int64)
    cprefix = np.empty((n_chunks, n_classes), dtype=np.int64)
    for c in range(n_classes):
        cstart[c] = start[c * n_chunks]
        for j in range(n_chunks):
            cprefix[j, c] = start[c * n_chunks + j + 1] - start[c * n_chunks]
        woff[c + 1] = woff[c] + (cprefix[n_chunks - 1, c] + 63) // 64
    cstart[n_classes] = n
    W = (K + 63) // 64
    masks = np.zeros((n, W), dtype=np.uint64)
    for s in range(n):
        row = perm[s]
        for ww in range(W):
            bits = np.uint64(0)
            # Branch-free: a present feature is a coin flip, so a branch would mispredict.
            for k in range(64 * ww, min(K, 64 * ww + 64)):
                bits |= np.uint64(features[row, k]) << np.uint64(k - 64 * ww)
            masks[s, ww] = bits
    cols = np.zeros((K, woff[n_classes]), dtype=np.uint64)
    for c in range(n_classes):
        for s in range(cstart[c], cstart[c + 1]):
            t = s - cstart[c]
            word = woff[c] + (t >> 6)
            bit = np.uint64(1) << np.uint64(t & 63)
            for ww in range(W):
                bits = masks[s, ww]
                while bits:
                    cols[64 * ww + np.int64(trailing_zeros(bits)), word] |= bit
                    bits &= bits - np.uint64(1)
    index = Index(cprefix=cprefix, mult=np.ones(n_chunks, dtype=np.int64), cstart=cstart, woff=woff, masks=masks,
                  cols=cols, weights=weights[perm])
    return perm, index
