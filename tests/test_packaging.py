"""What ``setup.cfg`` installs: scikit-learn in the core, the extras by purpose, the README's list of them."""

from __future__ import annotations

import configparser
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _names(value: str) -> set[str]:
    """The distribution names of a requirements value (one per line; versions and markers dropped)."""
    return {re.match(r"[A-Za-z0-9._-]+", line.strip()).group(0).lower()
            for line in value.splitlines() if line.strip()}


def _setup() -> configparser.ConfigParser:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return config


def _extras() -> dict[str, set[str]]:
    section = _setup()["options.extras_require"]
    return {name: _names(section[name]) for name in section}


def test_scikit_learn_is_core_and_no_extra_repeats_it():
    # The digits data of every quick mode ship with scikit-learn: a plain install must run them.
    assert "scikit-learn" in _names(_setup()["options"]["install_requires"])
    extras = _extras()
    assert not any("scikit-learn" in extras[name] for name in extras if name != "dev"), extras


def test_extras_by_purpose():
    extras = _extras()
    assert {"jupyterlab", "ipywidgets"} <= extras["notebooks"]
    assert {"pytest", "pytest-xdist", "hypothesis", "ruff", "nbclient"} <= extras["test"]
    others = set().union(*(names for name, names in extras.items() if name != "dev"))
    assert others <= extras["dev"], others - extras["dev"]


def test_readme_install_names_every_extra():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    paragraph = next(p for p in readme.split("\n\n") if p.startswith('`pip install -e ".[EXTRA]"`'))
    for name in _extras():
        assert f"`{name}`" in paragraph, name
    assert "scikit-learn is a core dependency" in paragraph


def test_load_digits_without_scikit_learn_says_what_to_install(monkeypatch):
    from dashsim.nn.data import load_digits

    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # importing it now raises ImportError
    with pytest.raises(ImportError, match="pip install scikit-learn"):
        load_digits()
