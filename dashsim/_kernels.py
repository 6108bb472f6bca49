"""All numba code of dashsim's simulator (kept in one module: numba's cache only sees this file).

The kernels draw no random numbers and write into arrays they are given. Callers in
:mod:`dashsim.simulator` validate input and pass one canonical dtype per argument:

- points are sorted by chunk, so the training set ``T_{1:j}`` of experiment j is a prefix
  ``0 .. m_j - 1``;
- ``pt_ptr`` (n + 1,) int64 / ``pt_feat`` (nnz,) int32: CSR list of each point's present features as
  flat indices ``c*K + k`` with ``c`` the point's label (only own-class features exist);
- ``ft_ptr`` (C*K + 1,) int64 / ``ft_pts`` (nnz,) int32: the transposed index, feature -> points
  containing it, ascending (int32 halves the memory of the two largest arrays);
- ``weights`` (n,) int64 multiplicities, ``mult`` (J,) int64 a per-experiment factor on them (1 for
  sampled data; j for a fixed composition collapsed to one row per combination);
- ``mem_w`` (n,) int64 memorized weight of each point (0 or the point's full weight), ``hits`` (n,)
  int32 ``|V(x) ∩ L|`` (at most K), ``learned`` (C*K,) bool;
- ``masks`` (n,) uint64, only when K <= 64 (an empty array otherwise): each point's own-class
  features as a bitmask (bit k = feature ``c*K + k``, c its label). A point reaching tau then
  visits only the set bits of ``masks[i] & ~class_mask[c]`` (its unlearned features) instead of
  its CSR row with a ``learned`` test per entry.

Cost: building the counts touches each (point, present feature) pair of the non-zero-gradient set
once; learning a feature touches only the points containing it, and a point reaching ``tau`` only
its own features; choosing the next feature is a segment-tree query (O(log CK) per change).
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numba.extending import intrinsic
from numba.cpython.unsafe.numbers import trailing_zeros

MODE_COLD = 0
MODE_WARM = 1
MODE_IDEAL = 2


@njit(cache=True)
def _better(vals, a, b):
    # Largest count first; equal counts go to the smaller flat index (the authors' stable
    # descending sort of the flattened C x K counts).
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
def _process(m, hit_limit, mult_j, pt_ptr, pt_feat, ft_ptr, ft_pts, weights, gamma, tau,
             learned, mem_w, hits, vals, tree, size, dirty, dirty_list, order_row, cold_counts,
             cold_total, K, masks, class_mask, reached):
    """TrainingProcess(L, M, T_{1:m}, gamma, tau) in place; returns (|N^0|, #learned, |M ∩ T_{1:m}|).

    Sizes of N and M are weighted.

    ``hits[i]`` must equal |V(x_i) ∩ L| for i < m on entry; it is kept exact for i < hit_limit.
    ``reached`` (n,) int32 is scratch.
    ``vals`` (size,), ``tree`` (2*size,), ``dirty`` (size,) all False and ``dirty_list`` (size,)
    are scratch space. If ``cold_total >= 0`` the run starts from L = M = ∅ and
    ``cold_counts[f] = sum_{i < m, f in V(x_i)} weights[i]``, ``cold_total = sum_{i < m} weights[i]``
    are given, which saves a pass over T_{1:m} (cold start keeps them across experiments); then
    ``mem_w`` is neither read nor needs resetting (it is overwritten for i < m on exit) and
    ``hits[:m]`` is left all 0, ready for the next cold run.
    ``masks.shape[0] > 0`` selects the bitmask walk (K <= 64); ``class_mask`` (2C,) is scratch:
    learned features of class c in entry c, features whose count changed in entry C + c.
    """
    n_features = learned.shape[0]
    use_masks = masks.shape[0] > 0
    cold = cold_total >= 0
    one = np.uint64(1)
    n_classes = class_mask.shape[0] // 2
    if use_masks:
        for c in range(n_classes):
            class_mask[n_classes + c] = 0  # features whose count changed since the last query
            bits = np.uint64(0)
            for k in range(K):
                if learned[c * K + k]:
                    bits |= one << np.uint64(k)
            class_mask[c] = bits
    for f in range(n_features, size):
        vals[f] = -2  # padding leaves rank below learned features
    if cold_total >= 0:
        for f in range(n_features):
            vals[f] = cold_counts[f] * mult_j
        n_nonzero = cold_total * mult_j
    else:
        for f in range(n_features):
            vals[f] = -1 if learned[f] else 0
        n_nonzero = 0
        for i in range(m):
            if hits[i] < tau:
                a = weights[i] * mult_j - mem_w[i]
                if a > 0:
                    n_nonzero += a
                    for p in range(pt_ptr[i], pt_ptr[i + 1]):
                        f = pt_feat[p]
                        if not learned[f]:
                            vals[f] += a
    depth = 0
    while (1 << depth) < size:
        depth += 1
    for leaf in range(size):
        tree[size + leaf] = leaf
    for node in range(size - 1, 0, -1):
        a = tree[2 * node]
        b = tree[2 * node + 1]
        tree[node] = a if _better(vals, a, b) else b

    n_new = 0
    n_dirty = 0
    while True:
        # Counts only change between queries; refresh each changed leaf's path once, not once per
        # decrement (a feature loses weight from many points per learning step).
        if use_masks:
            for c in range(n_classes):
                changed = class_mask[n_classes + c]
                while changed:
                    dirty_list[n_dirty] = c * K + np.int64(trailing_zeros(changed))
                    n_dirty += 1
                    changed &= changed - one
                class_mask[n_classes + c] = 0
        if n_dirty * depth >= size:
            # Many leaves changed (typical when C*K is small): one bottom-up rebuild of the size - 1
            # inner nodes is cheaper than n_dirty root paths; it yields the same tree.
            for d in range(n_dirty):
                dirty[dirty_list[d]] = False
            for node in range(size - 1, 0, -1):
                a = tree[2 * node]
                b = tree[2 * node + 1]
                tree[node] = a if _better(vals, a, b) else b
        else:
            for d in range(n_dirty):
                f = dirty_list[d]
                dirty[f] = False
                _tree_update(tree, vals, size, f)
        n_dirty = 0
        best = tree[1]
        if vals[best] < 0 or vals[best] < gamma:
            break
        learned[best] = True
        order_row[n_new] = best
        n_new += 1
        vals[best] = -1
        _tree_update(tree, vals, size, best)
        if use_masks:
            class_mask[best // K] |= one << np.uint64(best % K)
        # Two passes: a branch-free increment that lists the points reaching tau now, then
        # their decrements (whether a point reaches tau is unpredictable, so a branch in the
        # first loop would mispredict often).
        start = ft_ptr[best]
        # ft_pts is ascending, so the points below hit_limit are a prefix of the row.
        stop = start + np.searchsorted(ft_pts[start:ft_ptr[best + 1]], hit_limit)
        n_reached = 0
        for q in range(start, stop):
            i = ft_pts[q]
            h = hits[i] + 1
            hits[i] = h
            reached[n_reached] = i
            n_reached += (h == tau) & (i < m)
        # Only own-class features exist, so every point containing best is of best's class.
        c = best // K
        base = c * K
        unlearned = ~class_mask[c] if use_masks else np.uint64(0)
        changed = np.uint64(0)  # one OR per point instead of a dirty test per feature
        for r in range(n_reached):
            i = reached[r]
            a = weights[i] * mult_j
            if not cold:
                a -= mem_w[i]
            if a > 0:
                # The point leaves N: its other unlearned features lose its weight.
                if use_masks:
                    rest = masks[i] & unlearned
                    changed |= rest
                    while rest:
                        f = base + np.int64(trailing_zeros(rest))
                        rest &= rest - one
                        vals[f] -= a
                else:
                    for p in range(pt_ptr[i], pt_ptr[i + 1]):
                        f = pt_feat[p]
                        if not learned[f]:
                            vals[f] -= a
                            if not dirty[f]:
                                dirty[f] = True
                                dirty_list[n_dirty] = f
                                n_dirty += 1
        if use_masks:
            class_mask[n_classes + c] |= changed
    # Everything still with non-zero gradient is memorized.
    memorized = 0
    if cold:
        for i in range(m):
            w = weights[i] * mult_j if hits[i] < tau else 0
            mem_w[i] = w
            memorized += w
            hits[i] = 0  # the next cold run starts from L = ∅; this saves it a reset pass
    else:
        for i in range(m):
            if hits[i] < tau:
                mem_w[i] = weights[i] * mult_j
            memorized += mem_w[i]
    return n_nonzero, n_new, memorized


@njit(cache=True)
def _tree_size(n_features):
    size = 1
    while size < n_features:
        size *= 2
    return size


@njit(cache=True)
def process_from_state(m, mult_j, pt_ptr, pt_feat, ft_ptr, ft_pts, weights, gamma, tau,
                       learned, mem_w, order_row):
    """One TrainingProcess on points 0..m-1 from an arbitrary (learned, mem_w) state, in place.

    Returns (|N^0| weighted, number of features learned); ``order_row`` receives their flat indices.
    """
    n = weights.shape[0]
    hits = np.zeros(n, dtype=np.int32)
    for i in range(m):
        h = 0
        for p in range(pt_ptr[i], pt_ptr[i + 1]):
            if learned[pt_feat[p]]:
                h += 1
        hits[i] = h
    size = _tree_size(learned.shape[0])
    vals = np.empty(size, dtype=np.int64)
    tree = np.empty(2 * size, dtype=np.int64)
    dirty = np.zeros(size, dtype=np.bool_)
    dirty_list = np.empty(size, dtype=np.int64)
    n_nonzero, n_new, _ = _process(m, m, mult_j, pt_ptr, pt_feat, ft_ptr, ft_pts, weights, gamma, tau,
                                   learned, mem_w, hits, vals, tree, size, dirty, dirty_list, order_row,
                                   np.zeros(0, dtype=np.int64), -1, 1, np.zeros(0, dtype=np.uint64),
                                   np.zeros(0, dtype=np.uint64),
                                   np.empty(n, dtype=np.int32))
    return n_nonzero, n_new


# ----------------------------------------------------------------------------------------------
# Built-in methods on bitsets (cold, warm, ideal over all J experiments)
# ----------------------------------------------------------------------------------------------
_COUNTER_PLANES = 8  # the unit-weight accumulator holds counts < 2**8 per feature before a flush
_COUNTER_LIMIT = (1 << _COUNTER_PLANES) - 1


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
def _add_points(points, amounts, n_points, all_unit, masks, target, base, sign):
    """``target[base + k] += sign * amounts[r]`` for every feature k of point ``points[r]``, r < n_points.

    Unit amounts (every point of sampled data) are summed 64 features at a time by a vertical
    bit-sliced counter held in eight registers (``c_p`` holds bit p of each feature's count): a
    fixed, branch-free ripple per point and word instead of one read-modify-write per feature,
    emptied into ``target`` every 2**8 - 1 points. Other amounts are added feature by feature.
    ``points`` is reordered; ``all_unit`` says every amount is 1 (``amounts`` is then not read). The points are listed first and added in one call, since a call per
    point would pay numba's reference counting of the arrays.
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
        for ww in range(masks.shape[1]):
            c0 = c1 = c2 = c3 = c4 = c5 = c6 = c7 = np.uint64(0)
            for r in range(first, last):
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
def simulate_builtin(mode, cprefix, mult, cstart, woff, masks, cols, weights, gamma, tau,
                     out_learned, out_nonzero, out_memorized, out_order):
    """All J experiments of one built-in method (MODE_COLD / MODE_WARM / MODE_IDEAL), in one call.

    Input from :func:`build_bitsets` (points sorted by class, then chunk): experiment j (0-based)
    trains on the first ``cprefix[j, c]`` points of each class c, with weights
    ``weights * mult[j]``. Writes L^(j) to ``out_learned[j]``, |N^(j,0)| to ``out_nonzero[j]``,
    |M^(j)| (weighted) to ``out_memorized[j]`` and the learned flat indices to ``out_order[j]``
    (pre-filled with -1).

    State per point is one bit per bitset word (bit t of word ``woff[c] + t // 64`` is the t-th
    point of class c): ``done`` = |V(x) ∩ L| >= tau; ``planes`` = |V(x) ∩ L| in binary for the
    others (bit_length(tau - 1) planes); ``nz`` = in N at the start of the experiment. Learning
    feature (c, k) adds ``cols[k]`` to class c's counters word by word (64 points per operation);
    points reaching tau then give back their weight to every feature they hold, through
    :func:`_add_points`. Only class c's counts change, so only its best feature is searched again
    (O(K)), and a small segment tree over classes gives the overall best in O(log C).
    """
    n, W = masks.shape
    K = cols.shape[0]
    C = cstart.shape[0] - 1
    n_words = woff[C]
    n_features = C * K
    zero = np.uint64(0)
    one = np.uint64(1)
    cold = mode == MODE_COLD
    warm = mode == MODE_WARM
    top = tau - 1  # the count at which one more learned feature makes a point well-classified
    n_planes = 0
    while (top >> n_planes) > 0:
        n_planes += 1
    planes = np.zeros((n_words, max(n_planes, 1)), dtype=np.uint64)
    done = np.zeros(n_words, dtype=np.uint64)
    nz = np.zeros(n_words, dtype=np.uint64)
    # Warm with a constant mult: a memorized point has a = w*mult - mem_w = 0 in every later
    # experiment, so it is frozen out of the scans of N.
    frozen = np.zeros(n_words, dtype=np.uint64)
    freeze = warm
    for j in range(mult.shape[0]):
        freeze = freeze and mult[j] == mult[0]
    unit = True
    for s in range(n):
        unit = unit and weights[s] == 1
    mem_w = np.zeros(n if warm else 0, dtype=np.int64)
    memorized_total = 0
    learned = np.zeros(n_features, dtype=np.bool_)
    vals = np.zeros(n_features, dtype=np.int64)
    cold_counts = np.zeros(n_features, dtype=np.int64)
    cold_total = 0
    # Points whose weight is added to (or taken from) counts; room for 4 unconditional writes.
    points = np.empty(n + 4, dtype=np.int64)
    amounts = np.empty(n, dtype=np.int64)
    csize = _tree_size(C)
    class_val = np.full(csize, -2, dtype=np.int64)  # padding classes rank last
    class_k = np.zeros(csize, dtype=np.int64)
    ctree = np.empty(2 * csize, dtype=np.int64)
    for j in range(cprefix.shape[0]):
        mult_j = mult[j]
        unit_j = unit and mult_j == 1
        n_nonzero = 0
        if cold:
            learned[:] = False
            for c in range(C):
                # From L = M = ∅ the starting counts are sums over T_{1:j}: add only the new chunk.
                lo = cprefix[j - 1, c] if j > 0 else 0
                hi = cprefix[j, c]
                w0 = woff[c]
                w_end = w0 + (hi + 63) // 64
                done[w0:w_end] = 0
                planes[w0:w_end, :] = 0
                for t in range(lo, hi):
                    s = cstart[c] + t
                    cold_total += weights[s]
                    if weights[s] > 0:
                        nz[w0 + (t >> 6)] |= one << np.uint64(t & 63)
                    points[t - lo] = s
                    amounts[t - lo] = weights[s]
                _add_points(points, amounts, hi - lo, False, masks, cold_counts, c * K, 1)
            for f in range(n_features):
                vals[f] = cold_counts[f] * mult_j
            n_nonzero = cold_total * mult_j
        else:
            vals[:] = 0
            for c in range(C):
                hi = cprefix[j, c]
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
        for c in range(C):
            class_val[c], class_k[c] = _class_best(vals, learned, c * K, K)
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
            out_order[j, n_new] = base + k
            n_new += 1
            w0 = woff[c]
            # Cold forgets L every experiment, so counts are only needed inside T_{1:j};
            # warm and ideal keep |V(x) ∩ L| for every point, arrived or not (L only grows).
            w1 = w0 + (cprefix[j, c] + 63) // 64 if cold else woff[c + 1]
            n_points = 0
            for w in range(w0, w1):
                x = cols[k, w] & ~done[w]
                if x == 0:
                    continue
                at_top = ~zero
                for p in range(n_planes):
                    plane = planes[w, p]
                    at_top &= plane if (top >> p) & 1 else ~plane
                reached = x & at_top
                done[w] |= reached
                # The others count up (their counts stay below tau - 1 + 1, so no plane overflows).
                carry = x & ~reached
                for p in range(n_planes):
                    plane = planes[w, p]
                    planes[w, p] = plane ^ carry
                    carry &= plane
                # Points of N reaching tau leave it: their features lose their weight.
                # Listed without a loop per word (how many leave is unpredictable, so a loop's exit
                # would mispredict): four unconditional writes, a loop only for the rare rest.
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
            if not unit_j:  # (unit weights and mult 1: a point of N has a = 1)
                for r in range(n_points):
                    s = points[r]
                    amounts[r] = weights[s] * mult_j - (mem_w[s] if warm else 0)
            _add_points(points, amounts, n_points, unit_j, masks, vals, base, -1)
            class_val[c], class_k[c] = _class_best(vals, learned, base, K)
            _tree_update(ctree, class_val, csize, c)

        # Everything still with non-zero gradient is memorized.
        memorized = 0
        for c in range(C):
            hi = cprefix[j, c]
            w0 = woff[c]
            for w in range(w0, w0 + (hi + 63) // 64):
                t0 = (w - w0) * 64
                if warm:
                    # M grows: M^(j) = M^(j-1) ∪ N; every arrived point below tau gets weight w*mult_j.
                    rest = ~done[w] & ~frozen[w] & _low_bits(hi - t0)
                    if freeze:
                        frozen[w] |= rest
                    while rest:
                        s = cstart[c] + t0 + np.int64(trailing_zeros(rest))
                        rest &= rest - one
                        memorized_total += weights[s] * mult_j - mem_w[s]
                        mem_w[s] = weights[s] * mult_j
                else:
                    # Points outside N here have weight 0 and add nothing.
                    rest = nz[w] & ~done[w]
                    if unit:
                        memorized += np.int64(_popcount(rest)) * mult_j
                    else:
                        while rest:
                            memorized += weights[cstart[c] + t0 + np.int64(trailing_zeros(rest))] * mult_j
                            rest &= rest - one
        out_nonzero[j] = n_nonzero
        out_memorized[j] = memorized_total if warm else memorized
        out_learned[j, :] = learned


@njit(cache=True)
def build_bitsets(features, labels, chunk, n_chunks, n_classes):
    """Points sorted by (class, chunk) (stable counting sort) and their features as bitsets.

    Returns ``perm`` (sorted position -> caller's index), ``cstart`` (C + 1,) first sorted position
    of each class, ``cprefix`` (J, C) points of class c in chunks <= j (experiment j's T_{1:j}
    within class c is sorted positions ``cstart[c] .. cstart[c] + cprefix[j, c] - 1``), ``woff``
    (C + 1,) first bitset word of each class (ceil(n_c / 64) words each), ``masks`` (n, ceil(K/64))
    uint64 (bit k of word k // 64: point has feature k of its class) and ``cols`` (K, woff[C]) uint64
    (bit t of word ``woff[c] + t // 64`` of row k: the t-th point of class c has feature k).
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
    return perm, cstart, cprefix, woff, masks, cols


@njit(cache=True)
def build_index(features, labels, chunk, n_chunks, n_classes):
    """Points sorted by chunk (stable counting sort) and their CSR point/feature indices.

    Returns ``perm`` (sorted position -> caller's index), ``prefix_end`` (J,) (experiment j trains
    on sorted points 0 .. prefix_end[j]-1), ``pt_ptr``, ``pt_feat``, ``ft_ptr``, ``ft_pts``.
    """
    n, K = features.shape
    start = np.zeros(n_chunks + 1, dtype=np.int64)
    for i in range(n):
        start[chunk[i] + 1] += 1
    for j in range(n_chunks):
        start[j + 1] += start[j]
    prefix_end = start[1:].copy()
    perm = np.empty(n, dtype=np.int64)
    fill = start[:n_chunks].copy()
    for i in range(n):
        perm[fill[chunk[i]]] = i
        fill[chunk[i]] += 1
    # Branch-free loops below: a present feature is a coin flip, so branches would mispredict.
    pt_ptr = np.zeros(n + 1, dtype=np.int64)
    for s in range(n):
        row = perm[s]
        c = 0
        for k in range(K):
            c += features[row, k]
        pt_ptr[s + 1] = pt_ptr[s] + c
    nnz = pt_ptr[n]
    pt_feat_buf = np.empty(nnz + 1, dtype=np.int32)  # one spare slot for the unconditional write
    n_features = n_classes * K
    ft_ptr = np.zeros(n_features + 1, dtype=np.int64)
    for s in range(n):
        row = perm[s]
        base = labels[row] * K
        p = pt_ptr[s]
        for k in range(K):
            present = features[row, k]
            pt_feat_buf[p] = base + k
            ft_ptr[base + k + 1] += present
            p += present
    pt_feat = pt_feat_buf[:nnz]
    for f in range(n_features):
        ft_ptr[f + 1] += ft_ptr[f]
    ft_pts = np.empty(nnz, dtype=np.int32)
    ft_fill = ft_ptr[:n_features].copy()
    for s in range(n):
        for p in range(pt_ptr[s], pt_ptr[s + 1]):
            f = pt_feat[p]
            ft_pts[ft_fill[f]] = s
            ft_fill[f] += 1
    return perm, prefix_end, pt_ptr, pt_feat, ft_ptr, ft_pts
