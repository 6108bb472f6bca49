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


@njit(cache=True)
def simulate_builtin(mode, prefix_end, mult, pt_ptr, pt_feat, ft_ptr, ft_pts, weights, gamma, tau,
                     K, masks, out_learned, out_nonzero, out_memorized, out_order):
    """All J experiments of one built-in method (MODE_COLD / MODE_WARM / MODE_IDEAL), in one call.

    Experiment j (0-based) trains on points 0 .. prefix_end[j]-1 with weights ``weights * mult[j]``.
    Writes L^(j) to ``out_learned[j]``, |N^(j,0)| to ``out_nonzero[j]``, |M^(j)| (weighted) to
    ``out_memorized[j]`` and the learned flat indices to ``out_order[j]`` (pre-filled with -1).
    ``masks`` comes from :func:`build_masks` when K <= 64, else is empty.
    """
    n = weights.shape[0]
    n_features = out_learned.shape[1]
    learned = np.zeros(n_features, dtype=np.bool_)
    mem_w = np.zeros(n, dtype=np.int64)
    hits = np.zeros(n, dtype=np.int32)
    reached = np.empty(n, dtype=np.int32)
    class_mask = np.zeros(2 * (n_features // K), dtype=np.uint64)
    size = _tree_size(n_features)
    vals = np.empty(size, dtype=np.int64)
    tree = np.empty(2 * size, dtype=np.int64)
    dirty = np.zeros(size, dtype=np.bool_)
    dirty_list = np.empty(size, dtype=np.int64)
    cold_counts = np.zeros(n_features, dtype=np.int64)
    cold_total = -1
    arrived = 0
    for j in range(prefix_end.shape[0]):
        m = prefix_end[j]
        if mode == MODE_COLD:
            learned[:] = False
            # From L = M = ∅ the starting counts are sums over T_{1:j}: add only the new chunk.
            cold_total = max(cold_total, 0)
            for i in range(arrived, m):
                cold_total += weights[i]
                for p in range(pt_ptr[i], pt_ptr[i + 1]):
                    cold_counts[pt_feat[p]] += weights[i]
            arrived = m
            # Cold forgets L every experiment, so hits are only needed inside T_{1:j}.
            hit_limit = m
        else:
            if mode == MODE_IDEAL:
                mem_w[:m] = 0
            # L only grows: keep |V(x) ∩ L| exact for every point, arrived or not.
            hit_limit = n
        n_nonzero, _, memorized = _process(m, hit_limit, mult[j], pt_ptr, pt_feat, ft_ptr, ft_pts, weights,
                                gamma, tau, learned, mem_w, hits, vals, tree, size, dirty, dirty_list,
                                out_order[j], cold_counts, cold_total, K, masks, class_mask, reached)
        out_nonzero[j] = n_nonzero
        out_memorized[j] = memorized
        out_learned[j, :] = learned


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



@njit(cache=True)
def build_masks(pt_ptr, pt_feat, K):
    """Each point's features as a bitmask of its own class (requires K <= 64).

    Returns ``masks`` (n,) uint64 with bit k set iff flat feature ``c*K + k`` is in the point's CSR
    row (c is the point's label; the class itself is not stored, since a point is only reached
    through one of its own features).
    """
    n = pt_ptr.shape[0] - 1
    masks = np.zeros(n, dtype=np.uint64)
    for i in range(n):
        bits = np.uint64(0)
        for p in range(pt_ptr[i], pt_ptr[i + 1]):
            bits |= np.uint64(1) << np.uint64(pt_feat[p] % K)
        masks[i] = bits
    return masks
