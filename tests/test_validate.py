"""dashsim._validate: the shared argument checks accept what they should and name the bad field."""

from __future__ import annotations

import numpy as np
import pytest

from dashsim._validate import as_binary_matrix, as_int_vector, check_int, check_labels, check_real


def test_check_int():
    assert check_int("J", np.int64(3)) == 3 and type(check_int("J", np.int64(3))) is int
    assert check_int("n", 0, minimum=0) == 0
    for bad in (0, -1, 2.0, True, "3", None):
        with pytest.raises(ValueError, match=r"J must be an integer >= 1; got"):
            check_int("J", bad)


def test_check_real():
    assert check_real("gamma", 2) == 2.0 and type(check_real("gamma", 2)) is float
    assert check_real("threshold", 0.0, positive=False) == 0.0
    assert check_real("threshold", -1.5, positive=False) == -1.5
    for bad in (0, -1.0, float("nan"), float("inf"), True, "1", None):
        with pytest.raises(ValueError, match="gamma must be a finite number > 0; got"):
            check_real("gamma", bad)
    with pytest.raises(ValueError, match=r"threshold must be a finite number; got nan"):
        check_real("threshold", float("nan"), positive=False)


def test_as_binary_matrix():
    for values in ([[1, 0], [0, 1]], np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[True, False], [False, True]])):
        out = as_binary_matrix("features", values)
        assert out.dtype == np.bool_ and out.flags.c_contiguous
        np.testing.assert_array_equal(out, np.eye(2, dtype=bool))
    with pytest.raises(ValueError, match=r"Composition.features must be a 2-D \(R, K\) array; got shape \(3,\)"):
        as_binary_matrix("Composition.features", np.ones(3), shape="(R, K)")
    with pytest.raises(ValueError, match=r"features must be binary \(values 0 or 1\); found 2"):
        as_binary_matrix("features", [[1, 2]])
    with pytest.raises(TypeError, match="features must be binary .* got dtype <U1"):
        as_binary_matrix("features", [["a", "b"]])


def test_as_int_vector_and_check_labels():
    out = as_int_vector("labels", [0, 2, 1], 3)
    assert out.dtype == np.int64 and out.tolist() == [0, 2, 1]
    assert as_int_vector("labels", np.array([], dtype=float), 0).shape == (0,)  # empty: no dtype to check
    with pytest.raises(ValueError, match="labels must be a 1-D array"):
        as_int_vector("labels", [[0]], 1)
    with pytest.raises(ValueError, match=r"labels must have one entry per point \(n=2\); got 3"):
        as_int_vector("labels", [0, 1, 0], 2)
    with pytest.raises(TypeError, match="labels must hold integers; got dtype float64"):
        as_int_vector("labels", [0.0, 1.0], 2)
    assert check_labels("labels", out, None) == 3
    assert check_labels("labels", out, 5) == 5
    with pytest.raises(ValueError, match=r"labels must be in \[0, num_classes=2\); found 2"):
        check_labels("labels", out, 2)
    with pytest.raises(ValueError, match=r"labels must be in \[0, C\); found -1"):
        check_labels("labels", np.array([0, -1]), None)
    with pytest.raises(ValueError, match="num_classes must be given"):
        check_labels("labels", np.array([], dtype=np.int64), None)
    with pytest.raises(ValueError, match="num_classes must be an integer >= 1"):
        check_labels("labels", out, 0)
