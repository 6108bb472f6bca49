"""Settings refused before any run folder exists, and numpy numbers stored as numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from dashsim.errors import TooLargeError
from dashsim.nn import Dash, ImageDataset, TrainConfig, run_incremental
from dashsim.nn.protocols.online import smallest_margin


def _images(n: int = 40, size: int = 8) -> ImageDataset:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 1, size, size), generator=g, dtype=torch.uint8)
    y = torch.arange(n) % 2
    return ImageDataset.from_tensors(x, y, x[:10], y[:10], name="tiny-images")


def test_an_absurd_crop_padding_is_refused_before_the_run_folder(tmp_path):
    config = TrainConfig(model="mlp", width=8, J=2, max_epochs=1, augment=True, crop_padding=10**6, device="cpu",
                         out=str(tmp_path / "run"))
    with pytest.raises(TooLargeError, match="crop_padding"):
        run_incremental(config, dataset=_images(), method="cold", progress=False)
    assert not (tmp_path / "run").exists()


def test_a_one_class_model_has_no_margin():
    one_class = nn.Linear(3, 1)
    one_class.train()
    with pytest.raises(ValueError, match="at least two class scores"):
        smallest_margin(one_class, torch.randn(5, 3), torch.arange(5), 2)
    assert one_class.training  # its mode is restored on the way out


def test_numpy_hyper_parameters_are_stored_as_numbers(tmp_path):
    method = Dash(alpha=np.float64(0.3), lam=np.float32(0.5))
    assert method.hyperparameters()["lam"] == 0.5 and type(method.hyperparameters()["lam"]) is float
    config = TrainConfig(model="mlp", width=8, J=2, max_epochs=1, device="cpu", out=str(tmp_path / "run"))
    rows = run_incremental(config, dataset=_images(), method=method, progress=False)
    stored = json.loads((tmp_path / "run" / "config.json").read_text())["method_params"]
    assert stored["alpha"] == 0.3 and stored["lam"] == 0.5
    assert rows["lam"].dtype.kind == "f" and rows["alpha"].tolist() == [0.3] * len(rows)
