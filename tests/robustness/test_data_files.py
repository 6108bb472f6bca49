"""Corrupt or hostile local data copies: every kind is a DataFileError naming the file; a pickle never runs code."""

from __future__ import annotations

import gzip
import os
import pickle
import struct

import numpy as np
import pytest

from dashsim.errors import DataFileError, UnsafePickleError
from dashsim.nn import data as D


class _Shell:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def _cifar_batch(n=4, labels_key=b"labels", **changes):
    batch = {b"batch_label": b"training batch", labels_key: list(range(n)), b"filenames": [b"a.png"] * n,
             b"data": np.arange(n * 3072, dtype=np.uint8).reshape(n, 3072)}
    batch.update(changes)
    return batch


def _write_cifar10(root, test=None, **changes):
    root.mkdir(exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        payload = test if (name == "test_batch" and test is not None) else _cifar_batch(**changes)
        with open(root / name, "wb") as f:
            pickle.dump(payload, f, protocol=2)
    return root


def test_a_well_formed_cifar_copy_loads(tmp_path):
    ds = D.load_cifar10(_write_cifar10(tmp_path / "c"))
    assert ds.x_train.shape == (20, 3, 32, 32) and ds.y_test.tolist() == [0, 1, 2, 3]
    assert int(ds.x_train[0, 0, 0, 1]) == 1  # data row 0, channel 0, pixel 1


def test_a_crafted_pickle_never_runs_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = _write_cifar10(tmp_path / "c", test=_Shell())
    with pytest.raises(UnsafePickleError, match=r"test_batch: the pickle asks for (posix|os)\.system.*nothing was run"):
        D.load_cifar10(root)
    assert not (tmp_path / "pwned").exists()
    # Hidden inside the dict, too.
    root = _write_cifar10(tmp_path / "d", test=_cifar_batch(evil=_Shell()))
    with pytest.raises(UnsafePickleError):
        D.load_cifar10(root)
    assert not (tmp_path / "pwned").exists()


CIFAR_DAMAGE = {
    "missing key": dict(test={b"labels": [0]}),
    "wrong ndim": dict(data=np.zeros((4, 3, 32, 32), dtype=np.uint8)),
    "wrong dtype": dict(data=np.zeros((4, 3072), dtype=np.float32)),
    "label count": dict(labels=[0, 1]),
    "label range": dict(labels=[0, 1, 2, 10]),
    "float labels": dict(labels=[0.5, 1.0, 2.0, 3.0]),
    "not a dict": dict(test=[1, 2, 3]),
}


@pytest.mark.parametrize("kind", list(CIFAR_DAMAGE))
def test_a_mis_shaped_cifar_batch_is_named(tmp_path, kind):
    change = dict(CIFAR_DAMAGE[kind])
    test = change.pop("test", None)
    if "labels" in change:
        change[b"labels"] = change.pop("labels")
    if "data" in change:
        change[b"data"] = change.pop("data")
    root = tmp_path / "c"
    root.mkdir()
    for i in range(1, 6):
        with open(root / f"data_batch_{i}", "wb") as f:
            pickle.dump(_cifar_batch() if test is not None else {**_cifar_batch(), **change}, f)
    with open(root / "test_batch", "wb") as f:
        pickle.dump(test if test is not None else _cifar_batch(), f)
    with pytest.raises(DataFileError, match=r"(data_batch_1|test_batch|/c):"):
        D.load_cifar10(root)


@pytest.mark.parametrize("kind", ["empty", "truncated", "not a pickle"])
def test_an_unreadable_pickle_is_named(tmp_path, kind):
    root = _write_cifar10(tmp_path / "c")
    raw = (root / "data_batch_3").read_bytes()
    (root / "data_batch_3").write_bytes({"empty": b"", "truncated": raw[:100], "not a pickle": b"hello"}[kind])
    with pytest.raises(DataFileError, match="data_batch_3: not a readable data pickle"):
        D.load_cifar10(root)


def _idx(array: np.ndarray) -> bytes:
    return bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def _write_fashion(root, images=None, labels=None, test_images=None):
    root.mkdir(exist_ok=True)
    pieces = {
        "train-images-idx3": images if images is not None else _idx(np.zeros((5, 28, 28), np.uint8)),
        "train-labels-idx1": labels if labels is not None else _idx(np.arange(5, dtype=np.uint8)),
        "t10k-images-idx3": test_images if test_images is not None else _idx(np.zeros((3, 28, 28), np.uint8)),
        "t10k-labels-idx1": _idx(np.arange(3, dtype=np.uint8)),
    }
    for name, payload in pieces.items():
        with gzip.open(root / f"{name}-ubyte.gz", "wb") as f:
            f.write(payload)
    return root


def test_fashion_mnist_fixture_loads(tmp_path):
    assert D.load_fashion_mnist(_write_fashion(tmp_path / "f")).x_train.shape == (5, 1, 28, 28)


@pytest.mark.parametrize("kind, file, message", [
    ("truncated gzip", "train-images-idx3", "cannot be read"),
    ("bad magic", "train-labels-idx1", "not a uint8 IDX file"),
    ("short data", "train-images-idx3", "header says shape"),
    ("wrong ndim", "train-images-idx3", "must have 3 dimensions"),
    ("label count", "train-images-idx3", "5 images but labels of shape"),
    ("label range", "train-images-idx3", r"labels must lie in \[0, 10\)"),
    ("empty test", "t10k-images-idx3", "holds no images"),
])
def test_a_corrupt_fashion_mnist_file_is_named(tmp_path, kind, file, message):
    root = tmp_path / "f"
    if kind == "truncated gzip":
        _write_fashion(root)
        path = root / f"{file}-ubyte.gz"
        path.write_bytes(path.read_bytes()[:30])
    elif kind == "bad magic":
        _write_fashion(root, labels=b"\x01\x02\x03\x04")
    elif kind == "short data":
        _write_fashion(root, images=_idx(np.zeros((5, 28, 28), np.uint8))[:-10])
    elif kind == "wrong ndim":
        _write_fashion(root, images=_idx(np.zeros((5, 784), np.uint8)))
    elif kind == "label count":
        _write_fashion(root, labels=_idx(np.arange(4, dtype=np.uint8)))
    elif kind == "label range":
        _write_fashion(root, labels=_idx(np.array([0, 1, 2, 3, 200], np.uint8)))
    else:
        _write_fashion(root, test_images=_idx(np.zeros((0, 28, 28), np.uint8)))
        with gzip.open(root / "t10k-labels-idx1-ubyte.gz", "wb") as f:
            f.write(_idx(np.zeros(0, np.uint8)))
    with pytest.raises(DataFileError, match=rf"{file}-ubyte.gz: .*{message}"):
        D.load_fashion_mnist(root)


def test_corrupt_svhn_files_are_named(tmp_path):
    scipy_io = pytest.importorskip("scipy.io")
    x = np.zeros((32, 32, 3, 4), np.uint8)
    cases = {
        "missing key": ({"X": x}, "lacks the variable"),
        "wrong ndim": ({"X": np.zeros((32, 32, 3), np.uint8), "y": np.ones((4, 1))}, "X must be uint8 images"),
        "label count": ({"X": x, "y": np.ones((3, 1))}, "4 images but labels"),
        "label range": ({"X": x, "y": np.full((4, 1), 11)}, r"labels must lie in \[0, 10\)"),
    }
    for kind, (train, message) in cases.items():
        root = tmp_path / kind.replace(" ", "_")
        root.mkdir()
        scipy_io.savemat(root / "train_32x32.mat", train)
        scipy_io.savemat(root / "test_32x32.mat", {"X": x, "y": np.ones((4, 1))})
        with pytest.raises(DataFileError, match=rf"train_32x32.mat: .*{message}"):
            D.load_svhn(root)
    (root / "train_32x32.mat").write_bytes(b"MATLAB 5.0 truncated")
    with pytest.raises(DataFileError, match="train_32x32.mat: cannot be read"):
        D.load_svhn(root)


def _write_tiny(root, *, bad=None, annotation="img0.JPEG\tn01\t0\t0\t1\t1\n"):
    Image = pytest.importorskip("PIL.Image")
    (root / "train" / "n01" / "images").mkdir(parents=True)
    (root / "val" / "images").mkdir(parents=True)
    Image.new("RGB", (64, 64)).save(root / "train" / "n01" / "images" / "a.JPEG")
    Image.new("RGB", (64, 64)).save(root / "val" / "images" / "img0.JPEG")
    (root / "val" / "val_annotations.txt").write_text(annotation)
    if bad == "jpeg":
        (root / "train" / "n01" / "images" / "a.JPEG").write_bytes(b"\xff\xd8 not a jpeg")
    elif bad == "size":
        Image.new("RGB", (32, 64)).save(root / "train" / "n01" / "images" / "a.JPEG")
    return root


def test_corrupt_tiny_imagenet_files_are_named(tmp_path):
    assert D.load_tiny_imagenet(_write_tiny(tmp_path / "ok")).x_train.shape == (1, 3, 64, 64)
    with pytest.raises(DataFileError, match=r"a.JPEG: cannot be read"):
        D.load_tiny_imagenet(_write_tiny(tmp_path / "jpeg", bad="jpeg"))
    with pytest.raises(DataFileError, match=r"a.JPEG: Tiny-ImageNet images are 64x64, this one is 32x64"):
        D.load_tiny_imagenet(_write_tiny(tmp_path / "size", bad="size"))
    with pytest.raises(DataFileError, match="val_annotations.txt: .*validation.* split holds no images"):
        D.load_tiny_imagenet(_write_tiny(tmp_path / "empty", annotation="\n"))
    with pytest.raises(DataFileError, match="val_annotations.txt: line 'broken' lacks"):
        D.load_tiny_imagenet(_write_tiny(tmp_path / "line", annotation="broken\n"))
