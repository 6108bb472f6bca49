"""Loaders read tiny files written here in exactly the data sets' published formats."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from dashsim.nn import data


def _write_idx(path: Path, array: np.ndarray) -> None:
    # IDX: two zero bytes, dtype code 0x08 (uint8), ndim, then big-endian uint32 sizes.
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(">" + "I" * array.ndim, *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_fashion_mnist_idx_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    imgs = {"train": rng.integers(0, 256, (7, 28, 28)), "t10k": rng.integers(0, 256, (3, 28, 28))}
    labels = {"train": rng.integers(0, 10, 7), "t10k": rng.integers(0, 10, 3)}
    for split in imgs:
        _write_idx(tmp_path / f"{split}-images-idx3-ubyte.gz", imgs[split])
        _write_idx(tmp_path / f"{split}-labels-idx1-ubyte.gz", labels[split])
    ds = data.load_fashion_mnist(tmp_path)
    assert ds.x_train.shape == (7, 1, 28, 28) and ds.x_train.dtype == torch.uint8
    np.testing.assert_array_equal(ds.x_train[:, 0].numpy(), imgs["train"])
    np.testing.assert_array_equal(ds.x_test[:, 0].numpy(), imgs["t10k"])
    np.testing.assert_array_equal(ds.y_train.numpy(), labels["train"])
    np.testing.assert_array_equal(ds.y_test.numpy(), labels["t10k"])
    # Channel statistics against a direct NumPy computation.
    assert ds.mean[0] == pytest.approx((imgs["train"] / 255.0).mean())
    assert ds.std[0] == pytest.approx((imgs["train"] / 255.0).std())


def test_idx_header_shape_mismatch_is_error(tmp_path):
    path = tmp_path / "bad.gz"
    with gzip.open(path, "wb") as f:
        f.write(bytes([0, 0, 8, 1]) + struct.pack(">I", 5) + bytes(3))
    with pytest.raises(ValueError, match="header says shape"):
        data._read_idx(path)


def test_missing_data_names_path_and_remedy(tmp_path):
    with pytest.raises(FileNotFoundError,
                       match=r"train-images-idx3-ubyte\.gz.*apt-get install -y dataset-fashion-mnist"):
        data.load_fashion_mnist(tmp_path)
    with pytest.raises(FileNotFoundError, match="data_batch_1.*cifar"):
        data.load_cifar10(tmp_path)
    with pytest.raises(FileNotFoundError, match="train_32x32.mat"):
        data.load_svhn(tmp_path)
    with pytest.raises(FileNotFoundError, match="tiny-imagenet"):
        data.load_tiny_imagenet(tmp_path)


def test_cifar10_pickles(tmp_path):
    rng = np.random.default_rng(1)
    rows, labels = [], []
    for i in range(1, 6):
        x = rng.integers(0, 256, (2, 3072), dtype=np.uint8)
        y = list(rng.integers(0, 10, 2))
        rows.append(x)
        labels += y
        with open(tmp_path / f"data_batch_{i}", "wb") as f:
            pickle.dump({b"data": x, b"labels": y, b"batch_label": b"x"}, f)
    xt = rng.integers(0, 256, (3, 3072), dtype=np.uint8)
    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump({b"data": xt, b"labels": [1, 2, 3]}, f)
    ds = data.load_cifar10(tmp_path)
    assert ds.x_train.shape == (10, 3, 32, 32) and ds.num_classes == 10
    # CIFAR rows are 1024 red, then 1024 green, then 1024 blue values, each row-major.
    first = np.concatenate(rows)[4]
    np.testing.assert_array_equal(ds.x_train[4, 1].numpy(), first[1024:2048].reshape(32, 32))
    np.testing.assert_array_equal(ds.y_train.numpy(), labels)
    np.testing.assert_array_equal(ds.y_test.numpy(), [1, 2, 3])


def test_cifar100_fine_labels(tmp_path):
    rng = np.random.default_rng(2)
    for name, n in (("train", 4), ("test", 2)):
        with open(tmp_path / name, "wb") as f:
            pickle.dump({b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"fine_labels": [99] * n,
                         b"coarse_labels": [0] * n}, f)
    ds = data.load_cifar100(tmp_path)
    assert ds.num_classes == 100 and ds.y_train.tolist() == [99] * 4 and ds.x_test.shape == (2, 3, 32, 32)


def test_svhn_mat_label_10_is_zero(tmp_path):
    import scipy.io

    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (32, 32, 3, 4), dtype=np.uint8)  # SVHN stores (H, W, C, N)
    scipy.io.savemat(tmp_path / "train_32x32.mat", {"X": x, "y": np.array([[10], [1], [5], [10]], dtype=np.uint8)})
    scipy.io.savemat(tmp_path / "test_32x32.mat", {"X": x[..., :2], "y": np.array([[3], [10]], dtype=np.uint8)})
    ds = data.load_svhn(tmp_path)
    assert ds.y_train.tolist() == [0, 1, 5, 0] and ds.y_test.tolist() == [3, 0]
    np.testing.assert_array_equal(ds.x_train[2].numpy(), x[..., 2].transpose(2, 0, 1))


def test_tiny_imagenet_jpeg_tree(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(4)
    # Flat colours survive JPEG compression nearly exactly, so pixel values can be checked.
    colours = {"n02": (200, 10, 10), "n01": (10, 200, 10)}
    for wnid, colour in colours.items():
        (tmp_path / "train" / wnid / "images").mkdir(parents=True)
        for k in range(2):
            Image.fromarray(np.full((64, 64, 3), colour, np.uint8)).save(
                tmp_path / "train" / wnid / "images" / f"{wnid}_{k}.JPEG")
    (tmp_path / "val" / "images").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "val" / "images" / "val_0.JPEG")
    (tmp_path / "val" / "val_annotations.txt").write_text("val_0.JPEG\tn02\t0\t0\t63\t63\n")
    ds = data.load_tiny_imagenet(tmp_path)
    assert ds.x_train.shape == (4, 3, 64, 64) and ds.num_classes == 2
    assert ds.y_train.tolist() == [0, 0, 1, 1]  # sorted wnids: n01 -> 0, n02 -> 1
    assert ds.y_test.tolist() == [1]
    assert abs(int(ds.x_train[0, 1].float().mean()) - 200) <= 3


def test_as_float_normalizes_against_numpy():
    ds = data.load_digits()
    x, y = ds.as_float("train", normalize=True)
    raw = ds.x_train.numpy() / 255.0
    expect = (raw - raw.mean()) / raw.std()
    np.testing.assert_allclose(x.numpy(), expect, rtol=1e-4, atol=1e-5)
    x_plain, _ = ds.as_float("test", normalize=False)
    np.testing.assert_allclose(x_plain.numpy(), ds.x_test.numpy() / 255.0, rtol=1e-6)
    assert y.dtype == torch.int64 and len(ds.y_train) + len(ds.y_test) == 1797
    with pytest.raises(ValueError, match="split"):
        ds.as_float("val")


def test_load_dataset_rejects_unknown_and_rootless():
    with pytest.raises(ValueError, match="fashion-mnist"):
        data.load_dataset("mnist")
    with pytest.raises(ValueError, match="root"):
        data.load_dataset("cifar10")


def test_bad_labels_rejected():
    x = torch.zeros(2, 1, 4, 4, dtype=torch.uint8)
    with pytest.raises(ValueError, match="y_train"):
        data.ImageDataset("t", x, torch.tensor([0, 5]), x, torch.tensor([0, 1]), 3, (0.0,), (1.0,))


@pytest.mark.skipif(not (data.FASHION_MNIST_ROOT / "train-images-idx3-ubyte.gz").exists(),
                    reason="dataset-fashion-mnist not installed")
def test_real_fashion_mnist():
    ds = data.load_fashion_mnist()
    assert ds.x_train.shape == (60000, 1, 28, 28) and ds.x_test.shape == (10000, 1, 28, 28)
    assert torch.bincount(ds.y_train).tolist() == [6000] * 10
