"""Argument checks shared by the simulator, the synthetic data, the bridge and the diagnostics.

Each check returns the value in its canonical type (``int``, ``float``, contiguous ``bool`` or
``int64`` array) or raises a ``ValueError``/``TypeError`` that names the argument and its allowed
range, so every public function reports bad input the same way.
"""

from __future__ import annotations

import numbers
import os

import numpy as np

__all__ = ["as_binary_matrix", "as_int_vector", "check_int", "check_labels", "check_real", "check_seed",
           "check_memory", "available_memory", "check_int64_total", "canonical_fields",
           "check_output_folder"]

# Counts and weighted sums in the simulator's kernels are int64: totals must stay below this.
INT64_SAFE = 2**62
SEED_LIMIT = 2**32  # seeds feed numpy's legacy RandomState and np.random.seed, which take [0, 2**32)


def check_int(name: str, value, minimum: int = 1) -> int:
    """Return ``value`` as an int after checking it is an integer (not a bool) ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def check_seed(name: str, value) -> int:
    """Return ``value`` as an int after checking it is an integer seed in ``[0, 2**32)`` (numpy integers too)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= value < SEED_LIMIT:
        raise ValueError(f"{name} must be an integer in [0, 2**32); got {value!r}")
    return int(value)


def available_memory() -> int:
    """Bytes of memory this machine can still give a process (``MemAvailable``; total memory where unknown)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 2**63


def _size(nbytes: float) -> str:
    for unit, scale in (("TB", 2**40), ("GB", 2**30), ("MB", 2**20)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{nbytes:.0f} bytes"


def check_memory(field: str, nbytes: float, what: str) -> None:
    """Refuse (:class:`~dashsim.errors.TooLargeError`, naming ``field``) a request needing more than the free memory.

    ``nbytes`` is the caller's estimate of the memory ``what`` needs; before any work, it must be at most
    half of :func:`available_memory` (estimates leave out temporaries; the machine may be shared).
    """
    have = available_memory()
    if nbytes > have / 2:
        from .errors import TooLargeError

        raise TooLargeError(f"{field}: {what} would need about {_size(nbytes)} of memory, and this machine has "
                            f"{_size(have)} available (dashsim uses at most half); choose smaller values")


def check_int64_total(name: str, values: np.ndarray, factor: int = 1) -> None:
    """Refuse weights whose total (times ``factor``) could overflow the simulator's int64 counts (>= 2**62)."""
    if values.size == 0:
        return
    # Exact when max * n * factor is small; otherwise a float sum decides (its error is far below 2**62).
    if int(values.max()) * values.size * factor < INT64_SAFE:
        return
    total = float(values.sum(dtype=np.float64)) * factor
    if total >= INT64_SAFE:
        raise ValueError(f"{name}: the counts would reach {total:.3g} (sum of {name}"
                         f"{f' x {factor}' if factor != 1 else ''}), beyond the int64 arithmetic's safe range "
                         "2**62; use smaller counts")


def canonical_fields(obj, owner: str, *, ints=(), floats=(), optional=()) -> None:
    """Check and convert a frozen dataclass's numeric fields in place: ``ints`` to int, ``floats`` to finite float.

    NumPy integers and floats are accepted (and stored as Python numbers, so they are recorded as
    numbers, not strings); a bool, a string or a non-finite float is a ValueError naming
    ``owner.field``. Fields in ``optional`` may also be None.
    """
    for name in (*ints, *floats):
        value = getattr(obj, name)
        if value is None and name in optional:
            continue
        bad = isinstance(value, bool) or not isinstance(value, numbers.Integral if name in ints else numbers.Real)
        if not bad and name in floats:
            bad = not np.isfinite(float(value))
        if bad:
            kind = "an integer" if name in ints else "a finite number"
            raise ValueError(f"{owner}.{name} must be {kind}; got {value!r} ({type(value).__name__})")
        object.__setattr__(obj, name, int(value) if name in ints else float(value))


def check_output_folder(name: str, path) -> str:
    """Check ``path`` can be (or is) a folder this process may write, before anything is written; return it.

    A ValueError naming ``name`` if ``path`` is an existing file, or if it (or the nearest folder
    above it that exists) cannot be written.
    """
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise ValueError(f"{name} must be a folder path; got {path!r}")
    here = os.path.abspath(os.fspath(path))
    if os.path.exists(here) and not os.path.isdir(here):
        raise ValueError(f"{name} {path} is a file, not a folder; pass a folder path")
    existing = here
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise ValueError(f"{name} {path}: {existing} is a file, so no folder can be made below it")
    try:  # a real write (os.access says yes to root even where the file system refuses)
        import tempfile

        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as err:
        raise ValueError(f"{name} {path}: the folder {existing} is not writable ({err.strerror})") from None
    return str(path)


def check_real(name: str, value, *, positive: bool = True) -> float:
    """Return ``value`` as a float after checking it is a finite real number (not a bool), ``> 0`` if ``positive``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) \
            or (positive and value <= 0):
        raise ValueError(f"{name} must be a finite number{' > 0' if positive else ''}; got {value!r}")
    return float(value)


def as_binary_matrix(name: str, values, *, shape: str = "(n, K)") -> np.ndarray:
    """Return ``values`` as a C-contiguous 2-D bool array; bool or 0/1 integer/float entries are accepted.

    ``shape`` names the expected axes in the error message (e.g. ``"(R, K)"``).
    """
    arr = np.asarray(values)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D {shape} array; got shape {arr.shape}")
    if arr.dtype == np.bool_:
        return np.ascontiguousarray(arr)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"{name} must be binary (bool or 0/1 numbers); got dtype {arr.dtype}")
    bad = (arr != 0) & (arr != 1)
    if bad.any():
        raise ValueError(f"{name} must be binary (values 0 or 1); found {arr[bad].ravel()[0].item()!r}")
    return np.ascontiguousarray(arr == 1)


def as_int_vector(name: str, values, n: int) -> np.ndarray:
    """Return ``values`` as a C-contiguous int64 vector after checking it holds integers, one per point (n)."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array; got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"{name} must have one entry per point (n={n}); got {arr.shape[0]}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must hold integers; got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.int64)


def check_labels(name: str, labels: np.ndarray, num_classes) -> int:
    """Check integer ``labels`` lie in [0, C) and return C: ``num_classes``, or ``labels.max() + 1`` if it is None."""
    if num_classes is None:
        if labels.size == 0:
            raise ValueError("num_classes must be given when there are no points")
        if labels.min() < 0:
            raise ValueError(f"{name} must be in [0, C); found {labels.min()}")
        return int(labels.max()) + 1
    num_classes = check_int("num_classes", num_classes)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        bad = labels[(labels < 0) | (labels >= num_classes)][0]
        raise ValueError(f"{name} must be in [0, num_classes={num_classes}); found {bad}")
    return num_classes
