"""Where the checkout's files are, whatever folder a script or a notebook kernel was started in.

The package itself needs no files from the checkout; the notebooks and scripts that show the
committed results (``paper_figures/results/``) do, and Jupyter starts a kernel in the notebook's
own folder, not at the repository's root.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

__all__ = ["repository", "committed_results"]


def _is_checkout(folder: Path) -> bool:
    return (folder / "dashsim" / "__init__.py").is_file() and (folder / "paper_figures").is_dir()


def repository(start: Optional[str | Path] = None) -> Path:
    """The dashsim checkout: ``start`` (default: the working folder) or its nearest parent that is one.

    Failing that, the folder above the imported ``dashsim`` package, when that is a checkout (an
    editable install).

    Parameters
    ----------
    start : the folder to search from (default: the current working folder).

    Returns
    -------
    pathlib.Path : the repository's root (it holds ``dashsim/`` and ``paper_figures/``).

    Raises
    ------
    FileNotFoundError if neither ``start``'s folders nor the package's are a checkout.
    """
    here = Path(start if start is not None else Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if _is_checkout(folder):
            return folder
    package_parent = Path(__file__).resolve().parent.parent
    if _is_checkout(package_parent):
        return package_parent
    raise FileNotFoundError(f"no dashsim checkout (a folder with dashsim/ and paper_figures/) at or above {here}, "
                            f"nor at {package_parent}; clone the repository to read its committed results")


def committed_results(start: Optional[str | Path] = None) -> Path:
    """``paper_figures/results/`` of the checkout (:func:`repository`): the committed runs' figures and CSVs."""
    return repository(start) / "paper_figures" / "results"
