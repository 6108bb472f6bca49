"""dashsim's documented errors, in one place.

Every error dashsim raises on purpose is one of these classes (or a plain ``ValueError``/``TypeError``
naming the argument, from the argument checks in :mod:`dashsim._validate`). Each subclasses the
built-in exception it refines, so an existing ``except ValueError`` (or ``RuntimeError``) keeps working.

=========================  ==================  ===============================================================
class                      refines             raised when
=========================  ==================  ===============================================================
SettingsError              ValueError          settings the data or the machine cannot satisfy (before any work)
TooLargeError              SettingsError       a request whose estimated memory or time exceeds the machine's
ConfigMismatchError        ValueError          a run folder holds a run with another configuration
RunFolderBusyError         RuntimeError        another live process holds the run folder's lock
CorruptFileError           ValueError          a file dashsim reads back is unreadable or inconsistent
RunFolderCorruptError      CorruptFileError    ... a run folder's config, environment, metrics or checkpoint file
DataFileError              CorruptFileError    ... a local copy of a data set (truncated, mis-shaped, missing keys)
UnsafePickleError          DataFileError       ... a pickle that asks for anything but plain data (never executed)
NonFiniteError             ValueError          NaN or infinite inputs, weights or settings where finite ones are needed
NonFiniteLossError         FloatingPointError  the training loss diverged (finished experiments are kept)
=========================  ==================  ===============================================================

Every message names the file or the field, and says what to do.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DashsimError", "SettingsError", "TooLargeError", "ConfigMismatchError", "RunFolderBusyError",
           "CorruptFileError", "RunFolderCorruptError", "DataFileError", "UnsafePickleError", "NonFiniteError",
           "NonFiniteLossError"]


class DashsimError(Exception):
    """Base of every error dashsim raises on purpose (catch it to handle all of them)."""


class SettingsError(DashsimError, ValueError):
    """A protocol's settings are invalid or the data cannot satisfy them (``k`` above the data set size, ...).

    Raised by the protocols' checks of their arguments against the data, before the training they
    govern; ``dashsim train`` reports it as a usage error, while any other ``ValueError`` (a bug
    during training) propagates with its traceback.
    """


class TooLargeError(SettingsError):
    """A request whose estimated memory (or time) exceeds what the machine has; raised before any work."""


class ConfigMismatchError(DashsimError, ValueError):
    """A run folder already holds a run with a different configuration."""


class RunFolderBusyError(DashsimError, RuntimeError):
    """Another live process holds the run folder's lock (it is running, or resuming, the same folder)."""


class CorruptFileError(DashsimError, ValueError):
    """A file dashsim reads back is unreadable or inconsistent; ``path`` is the file."""

    def __init__(self, path: str | Path, problem: str, remedy: str = ""):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" + (f"; {remedy}" if remedy else ""))


class RunFolderCorruptError(CorruptFileError):
    """A run folder's config.json, environment.json, metrics.csv or checkpoint.pt is corrupt."""


class DataFileError(CorruptFileError):
    """A local copy of a data set is corrupt or not in the expected format."""


class UnsafePickleError(DataFileError):
    """A data pickle references something other than plain data (the load stops before running it)."""


class NonFiniteError(DashsimError, ValueError):
    """NaN or infinite values where finite ones are needed (inputs, weights, settings)."""


class NonFiniteLossError(DashsimError, FloatingPointError):
    """The training loss became NaN or infinite; every finished experiment has been kept."""
