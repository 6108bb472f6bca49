"""Image data sets held as tensors, loaded offline from their standard file formats.

Every loader returns an :class:`ImageDataset` whose images are ``uint8`` tensors of shape
``(N, C, H, W)`` (exactly as stored on disk, so nothing is lost before the user picks a
normalization) and whose labels are ``int64``. :meth:`ImageDataset.as_float` turns images into the
float tensors a model trains on, optionally normalized by the training set's channel mean/std.

Nothing here downloads: a missing data set is a :class:`FileNotFoundError` naming the expected
path and how to obtain the files.

References
----------
Shin et al., "DASH: Warm-Starting Neural Network Training in Stationary Settings without Loss of
Plasticity", NeurIPS 2024, Section 5 (data sets; normalization by channel mean/std, none for the MLP).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import pickle
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .._validate import check_int, check_memory
from ..errors import DataFileError, UnsafePickleError

__all__ = [
    "ImageDataset",
    "DATASETS",
    "register_dataset",
    "load_dataset",
    "load_data_pickle",
    "load_fashion_mnist",
    "load_digits",
    "load_cifar10",
    "load_cifar100",
    "load_svhn",
    "load_tiny_imagenet",
    "FASHION_MNIST_ROOT",
    "crop_flip",
    "random_crop_flip",
    "fill_tensor",
]

FASHION_MNIST_ROOT = Path("/usr/share/datasets/fashion-mnist")


@dataclasses.dataclass(frozen=True, eq=False)
class ImageDataset:
    """A labelled classification data set held in memory as tensors: images, or any float inputs.

    Images are ``uint8`` tensors ``(N, C, H, W)`` (exactly as stored on disk; :meth:`as_float`
    scales and optionally standardizes them). Other data (feature vectors, pre-processed images)
    are float tensors of any shape ``(N, ...)``, used as given. Build your own with
    :meth:`from_tensors`.

    Parameters
    ----------
    name : str
        Data set name (a :data:`DATASETS` name for the built-in loaders; any name for your own).
    x_train, x_test : torch.Tensor
        ``uint8`` images ``(N, C, H, W)``, or float inputs ``(N, ...)`` of one shape per sample.
    y_train, y_test : torch.Tensor
        ``int64`` class labels in ``[0, num_classes)``.
    num_classes : int
        Number of classes.
    mean, std : tuple of float
        Per-channel mean and standard deviation of ``x_train / 255`` (images), used for
        normalization; empty for float inputs.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")
        check_int("num_classes", self.num_classes)
        images = self.x_train.dtype == torch.uint8
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
                raise TypeError(f"x_{split} and y_{split} must be torch tensors")
            if images and (x.dtype != torch.uint8 or x.dim() != 4):
                raise TypeError(f"x_{split} must be a uint8 tensor of shape (N, C, H, W), "
                                f"got {x.dtype} {tuple(x.shape)}")
            if not images and (not x.dtype.is_floating_point or x.dim() < 2):
                raise TypeError(f"x_{split} must be uint8 images (N, C, H, W) or a float tensor (N, ...), "
                                f"got {x.dtype} {tuple(x.shape)}")
            if x.shape[1:] != self.x_train.shape[1:]:
                raise ValueError(f"x_{split} samples have shape {tuple(x.shape[1:])}, "
                                 f"x_train's {tuple(self.x_train.shape[1:])}")
            if not images and not bool(torch.isfinite(x).all()):
                raise ValueError(f"x_{split} holds NaN or infinite values")
            if y.dtype != torch.int64 or y.shape != (x.shape[0],):
                raise TypeError(f"y_{split} must be an int64 tensor of shape ({x.shape[0]},), "
                                f"got {y.dtype} {tuple(y.shape)}")
            if y.numel() and not (0 <= int(y.min()) and int(y.max()) < self.num_classes):
                raise ValueError(f"y_{split} must lie in [0, num_classes={self.num_classes}), "
                                 f"got [{int(y.min())}, {int(y.max())}]")
        if self.x_train.shape[0] == 0 or self.x_test.shape[0] == 0:
            raise ValueError(f"both splits need at least one sample; got {self.x_train.shape[0]} train and "
                             f"{self.x_test.shape[0]} test")
        if images and (len(self.mean) != self.channels or len(self.std) != self.channels):
            raise ValueError(f"mean and std need one value per channel ({self.channels})")

    @classmethod
    def from_tensors(cls, x_train, y_train, x_test, y_test, *, name: str,
                     num_classes: int | None = None) -> "ImageDataset":
        """A data set of your own tensors (or NumPy arrays).

        ``uint8`` inputs of shape ``(N, C, H, W)`` are images: the protocols scale them to
        ``[0, 1]`` and, by default, standardize them by the training split's channel statistics,
        like the built-in data sets. Float inputs of any shape ``(N, ...)`` are used exactly as
        given (no scaling, no normalization). Labels may be any integer type.

        Parameters
        ----------
        x_train, y_train, x_test, y_test : the two splits (tensors or arrays).
        name : the data set's name, recorded in run folders and result tables.
        num_classes : the number of classes (default: the largest label + 1).

        Returns
        -------
        ImageDataset
        """
        xs = [torch.as_tensor(np.asarray(v) if not isinstance(v, torch.Tensor) else v) for v in (x_train, x_test)]
        ys = []
        for split, y in (("y_train", y_train), ("y_test", y_test)):
            y = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y)
            if y.dtype.is_floating_point or y.dtype == torch.bool or y.dtype.is_complex:
                raise TypeError(f"{split} must hold integer class labels, got {y.dtype}")
            ys.append(y.to(torch.int64).reshape(-1) if y.dim() <= 1 else y)
        if num_classes is None:
            if any(y.numel() and int(y.min()) < 0 for y in ys):
                raise ValueError("labels must be >= 0")
            num_classes = int(max(int(y.max()) for y in ys if y.numel())) + 1 if any(y.numel() for y in ys) else 1
        if xs[0].dtype == torch.uint8:
            return _make(name, xs[0].numpy(), ys[0].numpy(), xs[1].numpy(), ys[1].numpy(), num_classes)
        return cls(name=name, x_train=xs[0], y_train=ys[0], x_test=xs[1], y_test=ys[1], num_classes=num_classes)

    @property
    def is_images(self) -> bool:
        """True for ``uint8`` images (scaled and normalized by the protocols), False for float inputs used as given."""
        return self.x_train.dtype == torch.uint8

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One sample's shape: ``(C, H, W)`` for images."""
        return tuple(int(v) for v in self.x_train.shape[1:])

    @property
    def channels(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.x_train.shape[2]) if self.x_train.dim() > 2 else 1

    def as_float(self, split: str, *, normalize: bool = True, device: str | torch.device = "cpu",
                 stats: str = "dataset") -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs of ``split`` as float32: images scaled to [0, 1] and optionally standardized per channel.

        ``x_hat[n, c] = (x[n, c] / 255 - mean[c]) / std[c]`` if ``normalize`` else ``x[n, c] / 255``,
        with ``(mean, std)`` the training set's channel statistics (``stats="dataset"``) or ``0.5``
        and ``0.5`` for every channel (``stats="half"``: Ash & Adams' ``Normalize((0.5,)*3, (0.5,)*3)``,
        JordanAsh/warm_start @896176b ``run.py`` 38-41, so ``x_hat = 2 x / 255 - 1``);
        float inputs are returned as they are (``normalize`` does not apply to them).

        Parameters
        ----------
        split : {"train", "test"}
            Which split.
        normalize : bool
            Standardize by the training set's channel ``mean``/``std`` (the authors did for the
            convolutional nets, not for the MLP).
        stats : {"dataset", "half"}
            The statistics ``normalize`` uses: the training set's, or mean = std = 0.5.
        device : str or torch.device
            Where the returned tensors live (the training loop keeps the whole set there).

        Returns
        -------
        (x, y) : tuple of torch.Tensor
            ``float32`` images ``(N, C, H, W)`` and ``int64`` labels ``(N,)``.
        """
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        if not self.is_images:
            return (getattr(self, f"x_{split}").to(device=device, dtype=torch.float32),
                    getattr(self, f"y_{split}").to(device))
        x = getattr(self, f"x_{split}").to(device).float().div_(255.0)
        if normalize:
            mean_c, std_c = self._stats(stats)
            mean = torch.tensor(mean_c, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
            std = torch.tensor(std_c, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
            x = x.sub_(mean).div_(std)
        return x, getattr(self, f"y_{split}").to(device)

    def _stats(self, stats: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """The per-channel (mean, std) that normalization with ``stats`` uses."""
        if stats == "dataset":
            return self.mean, self.std
        if stats == "half":
            return (0.5,) * self.channels, (0.5,) * self.channels
        raise ValueError(f"stats must be 'dataset' or 'half', got {stats!r}")

    def pixel_value(self, level: int = 0, *, normalize: bool = True, stats: str = "dataset") -> tuple[float, ...]:
        """The float value, per channel, that a raw pixel of grey ``level`` takes in :meth:`as_float` (same ``stats``).

        ``v[c] = (level / 255 - mean[c]) / std[c]`` if ``normalize`` else ``level / 255``. With
        ``level = 0`` (black) this is the padding that torchvision's ``RandomCrop(padding=4)``
        inserts before ``ToTensor``/``Normalize`` in the authors' pipeline.
        """
        if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 255:
            raise ValueError(f"level must be an int in [0, 255], got {level!r}")
        if not self.is_images:
            return (0.0,) * (self.channels if self.x_train.dim() == 4 else 1)  # float inputs: pad with zeros
        if not normalize:
            return (level / 255.0,) * self.channels
        mean, std = self._stats(stats)
        return tuple((level / 255.0 - m) / s for m, s in zip(mean, std))


# --- on-device augmentation (the paper's "SoTA" variant) ----------------------------------------


def crop_flip(x: torch.Tensor, top: torch.Tensor, left: torch.Tensor, flip: torch.Tensor, *, padding: int,
              fill: float | tuple[float, ...] | torch.Tensor = 0.0) -> torch.Tensor:
    """Pad every image by ``padding`` on each side, crop it back at a given offset, flip it if asked.

    With ``P`` the image ``x[b]`` padded by ``p = padding`` pixels of value ``fill`` (per channel),
    ``out[b, c, i, j] = P[c, top[b] + i, left[b] + j']`` where ``j' = W - 1 - j`` if ``flip[b]``
    else ``j``: torchvision's ``RandomCrop(H, padding=p)`` then ``RandomHorizontalFlip``, for
    drawn offsets. Pure indexing on ``x``'s device (no host synchronization).

    Parameters
    ----------
    x : float images ``(B, C, H, W)``.
    top, left : int64 ``(B,)`` crop offsets in ``[0, 2 padding]`` (``padding`` = no shift).
    flip : bool ``(B,)``, mirror left-right after cropping.
    padding : pixels added on each side (>= 0).
    fill : padding value, one float or one per channel (in ``x``'s units, e.g.
        :meth:`ImageDataset.pixel_value` for a black pixel); a tensor already of ``x``'s dtype on
        ``x``'s device (see :func:`fill_tensor`) is used as is, so a training loop that builds it
        once copies nothing from the host per mini-batch.

    Returns
    -------
    Tensor ``(B, C, H, W)`` (contiguous, channels-first layout).

    References
    ----------
    DASH paper, Appendix C.4.1 ("SoTA" setting: random crop with padding 4, horizontal flip).
    """
    if x.dim() != 4:
        raise ValueError(f"x must be a batch of images (B, C, H, W), got shape {tuple(x.shape)}")
    check_int("padding", padding, 0)
    B, C, H, W = x.shape
    for name, t in (("top", top), ("left", left), ("flip", flip)):
        if t.shape != (B,):
            raise ValueError(f"{name} must have shape ({B},), got {tuple(t.shape)}")
    if padding > max(H, W):  # only then can the padded batch be large; refuse what memory cannot hold
        check_memory("crop_padding", B * C * (H + 2 * padding) * (W + 2 * padding) * x.element_size(),
                     f"a mini-batch of {B} images padded by {padding} pixels")
    fill_t = fill_tensor(fill, x).reshape(-1)
    if fill_t.numel() not in (1, C):
        raise ValueError(f"fill must be one value or one per channel ({C}), got {fill_t.numel()} values")
    padded = fill_t.view(1, -1, 1, 1).expand(B, C, H + 2 * padding, W + 2 * padding).clone()
    padded[:, :, padding : padding + H, padding : padding + W] = x
    device = x.device
    rows = top.to(device)[:, None] + torch.arange(H, device=device)  # (B, H)
    cols = torch.arange(W, device=device).expand(B, W)
    cols = torch.where(flip.to(device)[:, None], W - 1 - cols, cols) + left.to(device)[:, None]  # (B, W)
    b = torch.arange(B, device=device)[:, None, None, None]
    c = torch.arange(C, device=device)[None, :, None, None]
    return padded[b, c, rows[:, None, :, None], cols[:, None, None, :]]


def fill_tensor(fill: float | tuple[float, ...] | torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``fill`` as a tensor of ``like``'s dtype on ``like``'s device (no copy if it already is one).

    From Python numbers this is a host-to-device copy (blocking on CUDA), which is why
    :func:`~dashsim.nn.train.train_until_target` calls it once per call rather than
    :func:`crop_flip` once per mini-batch.
    """
    return torch.as_tensor(fill, dtype=like.dtype, device=like.device)


def random_crop_flip(x: torch.Tensor, generator: torch.Generator, *, padding: int = 4,
                     fill: float | tuple[float, ...] | torch.Tensor = 0.0) -> torch.Tensor:
    """:func:`crop_flip` with offsets and flips drawn from ``generator`` (a CPU generator, so runs resume exactly).

    Draws, in this order, ``top ~ U{0..2p}^B``, ``left ~ U{0..2p}^B``, ``flip ~ U{0, 1}^B`` with
    ``torch.randint``; the draws are moved to ``x``'s device without a host synchronization.

    Parameters
    ----------
    x : float images ``(B, C, H, W)``.
    generator : CPU ``torch.Generator`` (e.g. the run's mini-batch shuffle generator, checkpointed).
    padding : pixels added on each side (the paper: 4).
    fill : padding value(s), as in :func:`crop_flip`.

    Returns
    -------
    Tensor ``(B, C, H, W)``.

    References
    ----------
    DASH paper, Appendix C.4.1; the authors' code uses ``RandomCrop(32, padding=4)`` and
    ``RandomHorizontalFlip()``.
    """
    check_int("padding", padding, 0)
    B = x.shape[0]
    top = torch.randint(0, 2 * padding + 1, (B,), generator=generator)
    left = torch.randint(0, 2 * padding + 1, (B,), generator=generator)
    flip = torch.randint(0, 2, (B,), generator=generator).bool()
    nb = x.device.type == "cuda"
    return crop_flip(x, top.to(x.device, non_blocking=nb), left.to(x.device, non_blocking=nb),
                     flip.to(x.device, non_blocking=nb), padding=padding, fill=fill)


def _make(name: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
          num_classes: int) -> ImageDataset:
    """Build an :class:`ImageDataset` from NCHW uint8 arrays, computing the channel statistics."""
    xt = torch.from_numpy(np.ascontiguousarray(x_train, dtype=np.uint8))
    scaled = xt.double().div(255.0)
    mean = tuple(float(v) for v in scaled.mean(dim=(0, 2, 3)))
    # A constant channel would divide by zero; 1.0 leaves it unscaled.
    std = tuple(float(v) if v > 0 else 1.0 for v in scaled.std(dim=(0, 2, 3), unbiased=False))
    return ImageDataset(
        name=name,
        x_train=xt,
        y_train=torch.from_numpy(np.asarray(y_train, dtype=np.int64)),
        x_test=torch.from_numpy(np.ascontiguousarray(x_test, dtype=np.uint8)),
        y_test=torch.from_numpy(np.asarray(y_test, dtype=np.int64)),
        num_classes=num_classes,
        mean=mean,
        std=std,
    )


def _require(path: Path, what: str, how: str) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"{what} not found: expected {path}. {how}")
    return path


_FIX = "replace the file with the original download"


@contextlib.contextmanager
def _reading(path: Path):
    """Turn any failure while parsing ``path`` (truncated gzip, bad JPEG, ...) into a DataFileError naming it."""
    try:
        yield
    except (DataFileError, FileNotFoundError):
        raise
    except Exception as err:
        raise DataFileError(path, f"cannot be read ({type(err).__name__}: {err})", _FIX) from None


def _check_split(what: str, where: Path, x: np.ndarray, y: np.ndarray, num_classes: int, ndim: int = 4) -> None:
    """A loaded split: ``ndim``-D images, one integer label in [0, num_classes) each, at least one sample."""
    if x.ndim != ndim:
        raise DataFileError(where, f"{what} images must have {ndim} dimensions, got shape {x.shape}", _FIX)
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise DataFileError(where, f"{what} has {x.shape[0]} images but labels of shape {y.shape}", _FIX)
    if x.shape[0] == 0:
        raise DataFileError(where, f"{what} holds no images", _FIX)
    if y.min() < 0 or y.max() >= num_classes:
        raise DataFileError(where, f"{what} labels must lie in [0, {num_classes}), found [{y.min()}, {y.max()}]", _FIX)


# --- Fashion-MNIST (IDX) ---------------------------------------------------------------------

_IDX_DTYPES = {0x08: np.uint8}


def _read_idx(path: Path) -> np.ndarray:
    """Read a (gzipped) IDX file: magic ``00 00 <dtype> <ndim>``, ``ndim`` big-endian uint32 sizes, data."""
    opener = gzip.open if path.suffix == ".gz" else open
    with _reading(path), opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataFileError(path, f"not a uint8 IDX file (bad magic {raw[:4]!r})", _FIX)
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise DataFileError(path, f"the IDX header of {ndim} sizes is truncated", _FIX)
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    data = np.frombuffer(raw, dtype=_IDX_DTYPES[raw[2]], offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape, dtype=object)):
        raise DataFileError(path, f"the header says shape {shape} but the file holds {data.size} values", _FIX)
    return data.reshape(shape).copy()  # frombuffer is read-only; torch wants writable memory


def load_fashion_mnist(root: str | Path | None = None) -> ImageDataset:
    """Fashion-MNIST (60,000 train + 10,000 test 28x28 grey images, 10 classes) from its IDX files.

    Parameters
    ----------
    root : str or Path, optional
        Folder holding ``{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz``; defaults to where the
        Debian package ``dataset-fashion-mnist`` installs them (``/usr/share/datasets/fashion-mnist``).

    Returns
    -------
    ImageDataset
        Images of shape ``(N, 1, 28, 28)``.

    References
    ----------
    Xiao, Rasul and Vollgraf, "Fashion-MNIST" (2017), arXiv:1708.07747.
    """
    root = Path(root) if root is not None else FASHION_MNIST_ROOT
    how = ("Install it with `apt-get update && apt-get install -y dataset-fashion-mnist`, "
           "or pass root= to a folder with the four IDX .gz files.")
    arrays = {}
    for split in ("train", "t10k"):
        for kind in ("images-idx3", "labels-idx1"):
            arrays[split, kind] = _read_idx(_require(root / f"{split}-{kind}-ubyte.gz", "Fashion-MNIST", how))
    for split in ("train", "t10k"):
        _check_split(f"Fashion-MNIST {split}", root / f"{split}-images-idx3-ubyte.gz", arrays[split, "images-idx3"],
                     arrays[split, "labels-idx1"].astype(np.int64), 10, ndim=3)
    return _make(
        "fashion-mnist",
        arrays["train", "images-idx3"][:, None],
        arrays["train", "labels-idx1"],
        arrays["t10k", "images-idx3"][:, None],
        arrays["t10k", "labels-idx1"],
        10,
    )


# --- scikit-learn digits ---------------------------------------------------------------------


def load_digits(root: str | Path | None = None, *, test_fraction: float = 0.2, seed: int = 0) -> ImageDataset:
    """scikit-learn's 8x8 digits (1,797 images, 10 classes): a tiny real data set for tests.

    The 0..16 grey levels are rescaled to uint8 by ``round(v * 255 / 16)``; a seeded permutation
    puts ``round(test_fraction * 1797)`` images in the test split.

    Parameters
    ----------
    root : ignored
        Accepted for a uniform loader signature; the data ship with scikit-learn.
    test_fraction : float
        Share of images held out for testing, in (0, 1).
    seed : int
        Seed of the train/test split.

    Returns
    -------
    ImageDataset
        Images of shape ``(N, 1, 8, 8)``.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError as err:  # a core dependency, but an install can lack it (--no-deps, a broken environment)
        raise ImportError("load_digits needs scikit-learn, which ships the digits: pip install scikit-learn") from err

    bunch = _sk_load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[:, None]
    order = np.random.default_rng(seed).permutation(len(images))
    n_test = int(round(test_fraction * len(images)))
    test, train = order[:n_test], order[n_test:]
    return _make("digits", images[train], bunch.target[train], images[test], bunch.target[test], 10)


# --- CIFAR-10 / CIFAR-100 (python pickles) ---------------------------------------------------

_CIFAR_HOW = ("Download the 'CIFAR-{n} python version' from https://www.cs.toronto.edu/~kriz/cifar.html "
              "on a machine with internet, extract it and pass root= to the extracted folder.")


# The only globals the CIFAR python pickles reference (numpy's array reconstruction, as written by
# numpy 1.x under Python 2 and by numpy 2; ``_codecs.encode`` is how protocol 2 stores bytes).
_PICKLE_GLOBALS = frozenset({
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
})


class _DataUnpickler(pickle.Unpickler):
    """An unpickler that builds only plain data: containers, str/bytes/numbers and numpy arrays.

    Any other global (a function, a class, ``os.system``, ...) is refused before it is looked up,
    so a crafted file cannot run code: :class:`~dashsim.errors.UnsafePickleError`.
    """

    def __init__(self, file, path: Path):
        super().__init__(file, encoding="bytes")
        self.path = path

    def find_class(self, module: str, name: str):
        if (module, name) not in _PICKLE_GLOBALS:
            raise UnsafePickleError(self.path, f"the pickle asks for {module}.{name}, which is not plain data (only "
                                    "numpy arrays, str/bytes, numbers, lists and dicts are loaded); nothing was run",
                                    "replace the file with the original download")
        return super().find_class(module, name)


def load_data_pickle(path: str | Path):
    """Load a data pickle (e.g. a CIFAR batch) admitting only plain data, never running code from it.

    Parameters
    ----------
    path : the pickle file.

    Returns
    -------
    The unpickled object (dicts, lists, str/bytes, numbers and numpy arrays only).

    Raises
    ------
    UnsafePickleError if the file references any other callable or class;
    DataFileError if it is not a readable pickle (truncated, empty, another format).
    """
    path = Path(path)
    with open(path, "rb") as f:
        try:
            return _DataUnpickler(f, path).load()
        except UnsafePickleError:
            raise
        except Exception as err:  # truncated, empty or not a pickle: every failure is the file's
            raise DataFileError(path, f"not a readable data pickle ({type(err).__name__}: {err})",
                                "replace the file with the original download") from None


def _read_cifar_batch(path: Path, label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    batch = load_data_pickle(path)
    fix = "replace the file with the original download"
    if not isinstance(batch, dict):
        raise DataFileError(path, f"a CIFAR batch must be a dict, this file holds a {type(batch).__name__}", fix)
    missing = [key.decode() for key in (b"data", label_key) if key not in batch]
    if missing:
        raise DataFileError(path, f"the CIFAR batch lacks the key(s) {missing}", fix)
    data, labels = batch[b"data"], batch[label_key]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        what = f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataFileError(path, f"'data' must be a uint8 array of shape (N, 3072); got a {what}", fix)
    try:
        labels = np.asarray(labels)
    except Exception:  # ragged lists and other objects
        labels = np.asarray([], dtype=object)
    if labels.ndim != 1 or (labels.size and not np.issubdtype(labels.dtype, np.integer)):
        raise DataFileError(path, f"'{label_key.decode()}' must be a list of integer labels; got dtype {labels.dtype}, "
                            f"shape {labels.shape}", fix)
    if labels.shape[0] != data.shape[0]:
        raise DataFileError(path, f"{data.shape[0]} images but {labels.shape[0]} labels", fix)
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def load_cifar10(root: str | Path) -> ImageDataset:
    """CIFAR-10 from its python pickles (``data_batch_1..5``, ``test_batch``; keys ``b'data'``, ``b'labels'``).

    Parameters
    ----------
    root : str or Path
        The extracted ``cifar-10-batches-py`` folder.

    Returns
    -------
    ImageDataset
        Images of shape ``(N, 3, 32, 32)``, 10 classes.
    """
    root = Path(root)
    how = _CIFAR_HOW.format(n=10)
    parts = [_read_cifar_batch(_require(root / f"data_batch_{i}", "CIFAR-10", how), b"labels") for i in range(1, 6)]
    x_test, y_test = _read_cifar_batch(_require(root / "test_batch", "CIFAR-10", how), b"labels")
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    _check_split("CIFAR-10 train", root, x_train, y_train, 10)
    _check_split("CIFAR-10 test", root / "test_batch", x_test, y_test, 10)
    return _make("cifar10", x_train, y_train, x_test, y_test, 10)


def load_cifar100(root: str | Path) -> ImageDataset:
    """CIFAR-100 from its python pickles (``train``, ``test``; keys ``b'data'``, ``b'fine_labels'``).

    Parameters
    ----------
    root : str or Path
        The extracted ``cifar-100-python`` folder.

    Returns
    -------
    ImageDataset
        Images of shape ``(N, 3, 32, 32)``, 100 (fine) classes.
    """
    root = Path(root)
    how = _CIFAR_HOW.format(n=100)
    x_train, y_train = _read_cifar_batch(_require(root / "train", "CIFAR-100", how), b"fine_labels")
    x_test, y_test = _read_cifar_batch(_require(root / "test", "CIFAR-100", how), b"fine_labels")
    _check_split("CIFAR-100 train", root / "train", x_train, y_train, 100)
    _check_split("CIFAR-100 test", root / "test", x_test, y_test, 100)
    return _make("cifar100", x_train, y_train, x_test, y_test, 100)


# --- SVHN (.mat) -----------------------------------------------------------------------------


def _read_svhn(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import scipy.io

    with _reading(path):
        mat = scipy.io.loadmat(path)
    missing = [key for key in ("X", "y") if key not in mat]
    if missing:
        raise DataFileError(path, f"the .mat file lacks the variable(s) {missing}", _FIX)
    x, y = np.asarray(mat["X"]), np.asarray(mat["y"])
    if x.ndim != 4 or x.shape[2] != 3 or x.dtype != np.uint8:
        raise DataFileError(path, f"X must be uint8 images of shape (32, 32, 3, N), got {x.dtype} {x.shape}", _FIX)
    whole = np.issubdtype(y.dtype, np.floating) and bool(np.all(y == np.round(y)))
    if not np.issubdtype(y.dtype, np.integer) and not whole:
        raise DataFileError(path, f"y must hold integer labels 1..10, got dtype {y.dtype}", _FIX)
    x = x.transpose(3, 2, 0, 1)  # stored (H, W, C, N)
    y = y.astype(np.int64).reshape(-1)
    # SVHN's format numbers the digit 0 as class 10.
    return x, np.where(y == 10, 0, y)


def load_svhn(root: str | Path) -> ImageDataset:
    """SVHN (cropped digits) from ``train_32x32.mat`` and ``test_32x32.mat`` (label 10 is digit 0).

    Parameters
    ----------
    root : str or Path
        Folder holding both .mat files.

    Returns
    -------
    ImageDataset
        Images of shape ``(N, 3, 32, 32)``, 10 classes. The paper trains on a random 50,000 of
        the 73,257 training images: use the training config's subset option for that.
    """
    root = Path(root)
    how = ("Download train_32x32.mat and test_32x32.mat from http://ufldl.stanford.edu/housenumbers/ "
           "on a machine with internet and pass root= to their folder.")
    x_train, y_train = _read_svhn(_require(root / "train_32x32.mat", "SVHN", how))
    x_test, y_test = _read_svhn(_require(root / "test_32x32.mat", "SVHN", how))
    _check_split("SVHN train", root / "train_32x32.mat", x_train, y_train, 10)
    _check_split("SVHN test", root / "test_32x32.mat", x_test, y_test, 10)
    return _make("svhn", x_train, y_train, x_test, y_test, 10)


# --- Tiny-ImageNet (JPEG tree) ---------------------------------------------------------------


def _read_rgb(path: Path) -> np.ndarray:
    from PIL import Image

    with _reading(path), Image.open(path) as im:
        rgb = np.asarray(im.convert("RGB"), dtype=np.uint8).transpose(2, 0, 1)
    if rgb.shape != (3, 64, 64):
        raise DataFileError(path, f"Tiny-ImageNet images are 64x64, this one is {rgb.shape[2]}x{rgb.shape[1]}", _FIX)
    return rgb


def load_tiny_imagenet(root: str | Path) -> ImageDataset:
    """Tiny-ImageNet (64x64 RGB, 200 classes) from ``train/<wnid>/images/*.JPEG`` and ``val/``.

    Class indices follow the sorted training ``wnid`` folder names; the labelled validation split
    (``val/images/*.JPEG`` with ``val/val_annotations.txt``: file name, wnid, box) is the test set,
    as in the paper.

    Parameters
    ----------
    root : str or Path
        The extracted ``tiny-imagenet-200`` folder.

    Returns
    -------
    ImageDataset
        Images of shape ``(N, 3, 64, 64)``.
    """
    root = Path(root)
    how = ("Download tiny-imagenet-200.zip from http://cs231n.stanford.edu/tiny-imagenet-200.zip "
           "on a machine with internet, extract it and pass root= to the extracted folder.")
    train_dir = _require(root / "train", "Tiny-ImageNet", how)
    annotations = _require(root / "val" / "val_annotations.txt", "Tiny-ImageNet", how)
    wnids = sorted(p.name for p in train_dir.iterdir() if p.is_dir())
    if not wnids:
        raise FileNotFoundError(f"Tiny-ImageNet: no class folders in {train_dir}. {how}")
    index = {w: i for i, w in enumerate(wnids)}
    x_train, y_train = [], []
    for wnid in wnids:
        for path in sorted((train_dir / wnid / "images").glob("*.JPEG")):
            x_train.append(_read_rgb(path))
            y_train.append(index[wnid])
    x_test, y_test = [], []
    for line in annotations.read_text().splitlines():
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2:
            raise DataFileError(annotations, f"line {line!r} lacks the tab-separated file name and wnid", _FIX)
        if fields[1] not in index:
            raise DataFileError(annotations, f"wnid {fields[1]!r} of {fields[0]} has no training folder", _FIX)
        x_test.append(_read_rgb(_require(root / "val" / "images" / fields[0], "Tiny-ImageNet validation image", how)))
        y_test.append(index[fields[1]])
    if not x_train or not x_test:
        empty = train_dir if not x_train else annotations
        raise DataFileError(empty, f"Tiny-ImageNet's {'training' if not x_train else 'validation'} split holds no "
                            "images", _FIX)
    return _make("tiny-imagenet", np.stack(x_train), np.array(y_train), np.stack(x_test), np.array(y_test), len(wnids))


DATASETS: dict[str, Callable[..., ImageDataset]] = {
    "fashion-mnist": load_fashion_mnist,
    "digits": load_digits,
    "cifar10": load_cifar10,
    "cifar100": load_cifar100,
    "svhn": load_svhn,
    "tiny-imagenet": load_tiny_imagenet,
}
# Data sets that have no default location: load_dataset needs root= (the CLI's --data-root).
_NEEDS_ROOT = {"cifar10", "cifar100", "svhn", "tiny-imagenet"}


def register_dataset(name: str, loader: Callable[..., ImageDataset], *, needs_root: bool = False) -> None:
    """Make a data set loadable by name (``TrainConfig(data=name)``, ``--data name``).

    A loaded data set can always be passed to the protocols directly (``run_incremental(config,
    dataset=ImageDataset.from_tensors(...))``); registering adds a name that loads it on demand.

    Parameters
    ----------
    name : the new name (not yet registered).
    loader : ``loader(root) -> ImageDataset``; ``root`` is the ``data_root`` setting (None if unset).
    needs_root : refuse to load without a ``root`` (the data have no default location).
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"a data set name must be a non-empty string, got {name!r}")
    if name in DATASETS:
        raise ValueError(f"data set name {name!r} is already registered")
    if not callable(loader):
        raise TypeError(f"loader must be callable, got {type(loader).__name__}")
    DATASETS[name] = loader
    if needs_root:
        _NEEDS_ROOT.add(name)


def load_dataset(name: str, root: str | Path | None = None) -> ImageDataset:
    """Load data set ``name`` (one of :data:`DATASETS`) from ``root`` (its default location if None)."""
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {sorted(DATASETS)}, got {name!r}")
    if root is None and name in _NEEDS_ROOT:
        raise ValueError(f"dataset {name!r} has no default location: "
                         "pass root= (the CLI's --data-root) to your local copy")
    dataset = DATASETS[name](root)
    if not isinstance(dataset, ImageDataset):
        raise TypeError(f"the loader of {name!r} returned {type(dataset).__name__}, not an ImageDataset")
    return dataset
