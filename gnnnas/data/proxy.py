"""Proxy images: small classification sets on which hypernetwork-generated CNNs are trained.

The hypernetwork auxiliary task needs images that are cheap to classify yet informative about
an architecture. :func:`load_proxy` turns one of several sources into a :class:`ProxyImages`
train / held-out split, standardised per channel with statistics of the training part only.
Nothing is ever downloaded and nothing is cached between calls.

Sources:
- ``"digits"``: scikit-learn's 8x8 handwritten digits (1,797 images, ships with scikit-learn).
- ``"fashion_mnist"``: Fashion-MNIST (28x28, 70,000 images) read from its four IDX files in
  ``<data_dir>/fashion_mnist/`` or where Debian's ``dataset-fashion-mnist`` installs them
  (``/usr/share/datasets/fashion-mnist/``); its official 60,000 / 10,000 split is kept.
- ``(x, y)`` arrays or tensors, or a :class:`torch.utils.data.Dataset` of ``(image, label)``.
- an existing :class:`ProxyImages`, returned as is.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from gnnnas.data.paths import MissingDataError, resolve_data_dir

__all__ = ["FASHION_MNIST_SYSTEM_DIRS", "PROXY_SOURCES", "ProxyImages", "load_proxy", "read_idx"]

#: Named sources accepted by :func:`load_proxy`.
PROXY_SOURCES: tuple[str, ...] = ("digits", "fashion_mnist")

#: Where Debian's ``dataset-fashion-mnist`` package puts the gzipped IDX files (checked against
#: the file list of dataset-fashion-mnist 0.0~git20200523.55506a9-1). Searched after the data
#: directory.
FASHION_MNIST_SYSTEM_DIRS: tuple[Path, ...] = (Path("/usr/share/datasets/fashion-mnist"),)

_FASHION_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_FASHION_HOW = (
    "install Debian's package (`apt install dataset-fashion-mnist`), or put the four IDX files "
    "(optionally .gz) from https://github.com/zalandoresearch/fashion-mnist into "
    "<data_dir>/fashion_mnist/ (data_dir= or $GNNNAS_DATA)"
)
_IDX_UINT8 = 0x08
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True, eq=False, repr=False)
class ProxyImages:
    """Train / held-out split of an image classification set, as float32 tensors [n, C, H, W].

    Images are standardised per channel with the *training* mean and std, so held-out images
    carry no information into the statistics the generated networks are trained on.
    """

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            x, y = getattr(self, f"{split}_x"), getattr(self, f"{split}_y")
            if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.dtype != torch.float32:
                raise ValueError(f"{split}_x must be a float32 tensor [n, C, H, W], got {_describe(x)}")
            if not isinstance(y, torch.Tensor) or y.dim() != 1 or y.dtype != torch.int64:
                raise ValueError(f"{split}_y must be an int64 tensor [n], got {_describe(y)}")
            if len(x) != len(y):
                raise ValueError(f"{split}_x has {len(x)} images but {split}_y has {len(y)} labels")
            if len(y) and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
                raise ValueError(
                    f"{split}_y has labels outside [0, num_classes={self.num_classes}): "
                    f"min {int(y.min())}, max {int(y.max())}"
                )
        if len(self.train_x) == 0:
            raise ValueError("train split is empty")
        if self.train_x.shape[1:] != self.test_x.shape[1:]:
            raise ValueError(
                f"train images {tuple(self.train_x.shape[1:])} and test images "
                f"{tuple(self.test_x.shape[1:])} differ in shape"
            )

    @property
    def in_channels(self) -> int:
        """Number of image channels C."""
        return int(self.train_x.shape[1])

    @property
    def image_size(self) -> tuple[int, int]:
        """Image height and width (H, W)."""
        return int(self.train_x.shape[2]), int(self.train_x.shape[3])

    def sample_train(
        self, n: int, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A random training batch ``(x, y)`` of ``n`` images.

        Drawn without replacement when ``n`` does not exceed the training set, with replacement
        otherwise; pass a seeded ``generator`` for reproducible batches.
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"batch size n must be a positive integer, got {n!r}")
        size = len(self.train_y)
        if n <= size:
            index = torch.randperm(size, generator=generator)[:n]
        else:
            index = torch.randint(size, (int(n),), generator=generator)
        index = index.to(self.train_x.device)
        return self.train_x[index], self.train_y[index]

    def to(self, device: torch.device | str) -> ProxyImages:
        """A copy with all tensors on ``device`` (e.g. move once to the GPU before training)."""
        return dataclasses.replace(
            self,
            train_x=self.train_x.to(device),
            train_y=self.train_y.to(device),
            test_x=self.test_x.to(device),
            test_y=self.test_y.to(device),
        )

    def __repr__(self) -> str:
        shape = (self.in_channels, *self.image_size)
        return (
            f"ProxyImages(name={self.name!r}, train={len(self.train_y)}, test={len(self.test_y)}, "
            f"image_shape={shape}, num_classes={self.num_classes})"
        )


#: What :func:`load_proxy` accepts as ``source``.
ProxySource = str | ProxyImages | tuple | Dataset


def load_proxy(
    source: ProxySource = "digits",
    data_dir: str | os.PathLike | None = None,
    test_fraction: float = 0.25,
    seed: int = 0,
    max_train: int | None = None,
    max_test: int | None = None,
) -> ProxyImages:
    """Proxy images from ``source``, split, optionally subsampled, and standardised.

    Parameters
    ----------
    source:
        ``"digits"``, ``"fashion_mnist"``, a tuple ``(x, y)`` of arrays or tensors (``x`` shaped
        [n, C, H, W] or [n, H, W]; channels first), a :class:`torch.utils.data.Dataset` yielding
        ``(image, label)`` pairs (every item is read once), or a :class:`ProxyImages`, which is
        returned unchanged unless ``max_train`` / ``max_test`` ask for a subsample of it
        (then subsampled only: its standardisation is kept, not recomputed).
    data_dir:
        Where ``fashion_mnist/`` is looked for first (default ``$GNNNAS_DATA``, then
        ``~/.cache/gnnnas``); other sources ignore it.
    test_fraction:
        Held-out share for sources without an official split (stratified when every class has
        at least two images). Ignored by ``"fashion_mnist"``, which keeps its 60k / 10k split.
    seed:
        Seeds the split and the subsampling; the same arguments give the same tensors.
    max_train, max_test:
        Keep at most this many training / held-out images (a seeded random subset), to bound
        the cost of training generated networks. Statistics are taken after subsampling.
    """
    max_train = _check_limit("max_train", max_train)
    max_test = _check_limit("max_test", max_test)
    if isinstance(source, ProxyImages):
        if max_train is None and max_test is None:
            return source
        rng = np.random.default_rng(seed)
        train = _subsample_index(len(source.train_y), max_train, rng)
        test = _subsample_index(len(source.test_y), max_test, rng)
        return dataclasses.replace(
            source,
            train_x=source.train_x[train],
            train_y=source.train_y[train],
            test_x=source.test_x[test],
            test_y=source.test_y[test],
        )

    if isinstance(source, str):
        key = source.strip().lower().replace("-", "_")
        if key == "digits":
            x, y = _load_digits()
            return _from_arrays("digits", x, y, test_fraction, seed, max_train, max_test)
        if key == "fashion_mnist":
            return _load_fashion_mnist(data_dir, seed, max_train, max_test)
    elif isinstance(source, tuple) and len(source) == 2:
        x, y = _arrays_from_pair(source)
        return _from_arrays("arrays", x, y, test_fraction, seed, max_train, max_test)
    elif isinstance(source, Dataset):
        x, y = _arrays_from_dataset(source)
        return _from_arrays(type(source).__name__, x, y, test_fraction, seed, max_train, max_test)

    raise ValueError(
        f"unknown proxy image source {_describe(source)}; accepted: "
        f"{', '.join(repr(s) for s in PROXY_SOURCES)}, a tuple (x, y) of arrays or tensors, "
        "a torch.utils.data.Dataset of (image, label) pairs, or a ProxyImages"
    )


# ----------------------------------------------------------------------------------- sources


def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images[:, None, :, :], bunch.target.astype(np.int64)


def _find_fashion_mnist(data_dir: str | os.PathLike | None) -> dict[str, Path]:
    """The four IDX files from the first directory that has all of them (plain or ``.gz``)."""
    candidates = [resolve_data_dir(data_dir) / "fashion_mnist", *FASHION_MNIST_SYSTEM_DIRS]
    report = []
    for directory in candidates:
        found: dict[str, Path] = {}
        for key, base in _FASHION_FILES.items():
            for name in (base, base + ".gz"):
                if (directory / name).is_file():
                    found[key] = directory / name
                    break
        if len(found) == len(_FASHION_FILES):
            return found
        missing = [base for key, base in _FASHION_FILES.items() if key not in found]
        report.append(f"{str(directory)!r} lacks {', '.join(missing)}")
    raise MissingDataError(
        "Fashion-MNIST IDX files (each plain or .gz: "
        f"{', '.join(_FASHION_FILES.values())}) not found: {'; '.join(report)}. "
        f"To obtain them: {_FASHION_HOW}"
    )


def _load_fashion_mnist(
    data_dir: str | os.PathLike | None, seed: int, max_train: int | None, max_test: int | None
) -> ProxyImages:
    files = _find_fashion_mnist(data_dir)
    arrays = {}
    for split in ("train", "test"):
        images = read_idx(files[f"{split}_images"], ndim=3)
        labels = read_idx(files[f"{split}_labels"], ndim=1)
        if len(images) != len(labels):
            raise ValueError(
                f"{files[f'{split}_images']} holds {len(images)} images but "
                f"{files[f'{split}_labels']} holds {len(labels)} labels"
            )
        arrays[split] = (images, labels.astype(np.int64))
    rng = np.random.default_rng(seed)
    (train_x, train_y), (test_x, test_y) = arrays["train"], arrays["test"]
    num_classes = int(max(train_y.max(), test_y.max())) + 1  # before subsampling drops a class
    train = _subsample_index(len(train_y), max_train, rng)
    test = _subsample_index(len(test_y), max_test, rng)
    # Subsample the uint8 arrays first: the float copy is then only as large as needed.
    return _finish(
        "fashion_mnist",
        train_x[train, None].astype(np.float32) / 255.0,
        train_y[train],
        test_x[test, None].astype(np.float32) / 255.0,
        test_y[test],
        num_classes,
    )


def read_idx(path: str | os.PathLike, ndim: int | None = None) -> np.ndarray:
    """Read an unsigned-byte IDX file (as used by MNIST and Fashion-MNIST), gzipped or not.

    The header is a big-endian magic ``0x0000 08 <ndim>`` followed by ``ndim`` big-endian int32
    sizes; the payload must hold exactly their product of bytes. Anything else raises
    :class:`ValueError` naming the file, so a truncated download never yields silently short data.
    The returned uint8 array is a read-only view of the file's bytes.
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
        if raw[:2] == _GZIP_MAGIC:
            raw = gzip.decompress(raw)
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise ValueError(f"IDX file {str(path)!r}: corrupt or truncated gzip data ({err})") from err
    if len(raw) < 4:
        raise ValueError(f"IDX file {str(path)!r}: {len(raw)} bytes, too short for the 4-byte magic number")
    if raw[0] != 0 or raw[1] != 0 or raw[2] != _IDX_UINT8:
        raise ValueError(
            f"IDX file {str(path)!r}: bad magic number 0x{raw[:4].hex()} "
            f"(expected 0x000008NN: unsigned bytes, NN dimensions)"
        )
    found_ndim = raw[3]
    if ndim is not None and found_ndim != ndim:
        raise ValueError(
            f"IDX file {str(path)!r}: magic number 0x{raw[:4].hex()} declares {found_ndim} dimensions, "
            f"expected {ndim} (magic 0x{0x800 | ndim:08x})"
        )
    if found_ndim == 0:
        raise ValueError(f"IDX file {str(path)!r}: declares 0 dimensions")
    header = 4 + 4 * found_ndim
    if len(raw) < header:
        raise ValueError(
            f"IDX file {str(path)!r}: truncated header ({len(raw)} bytes, {header} needed for "
            f"{found_ndim} dimension sizes)"
        )
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">i4", count=found_ndim, offset=4))
    if any(d <= 0 for d in dims):
        raise ValueError(f"IDX file {str(path)!r}: invalid dimension sizes {dims}")
    expected = int(np.prod(dims, dtype=np.int64))
    payload = len(raw) - header
    if payload != expected:
        problem = "truncated" if payload < expected else "has trailing bytes"
        raise ValueError(
            f"IDX file {str(path)!r}: {problem}: dimensions {dims} need {expected} data bytes, "
            f"found {payload}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _arrays_from_pair(pair: tuple) -> tuple[np.ndarray, np.ndarray]:
    x, y = (_to_numpy(v, what) for v, what in zip(pair, ("x", "y")))
    if x.dtype == object or y.dtype == object:
        raise ValueError("x and y must be numeric arrays or tensors, not object arrays")
    return x, y


def _arrays_from_dataset(dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    try:
        size = len(dataset)  # type: ignore[arg-type]
    except TypeError as err:
        raise ValueError(
            f"dataset {type(dataset).__name__} has no len(); a map-style Dataset is needed"
        ) from err
    if size == 0:
        raise ValueError(f"dataset {type(dataset).__name__} is empty")
    images, labels = [], []
    for i in range(size):
        item = dataset[i]
        if not isinstance(item, Sequence) or len(item) < 2:
            raise ValueError(
                f"dataset {type(dataset).__name__} item {i} is {_describe(item)}, "
                "expected an (image, label) pair"
            )
        image = _image_to_numpy(item[0], i)
        if images and image.shape != images[0].shape:
            raise ValueError(
                f"dataset {type(dataset).__name__}: image {i} has shape {image.shape}, "
                f"image 0 has {images[0].shape}; all images must share one shape"
            )
        images.append(image)
        labels.append(_to_numpy(item[1], f"label of item {i}"))
    try:
        y = np.stack(labels).reshape(size)
    except ValueError as err:
        raise ValueError(f"dataset {type(dataset).__name__}: each label must be a single number") from err
    return np.stack(images), y


def _image_to_numpy(image: Any, index: int) -> np.ndarray:
    if hasattr(image, "getbands"):  # a PIL image: [H, W] or [H, W, C] -> channels first
        array = np.asarray(image)
        return array.transpose(2, 0, 1) if array.ndim == 3 else array
    return _to_numpy(image, f"image of item {index}")


def _to_numpy(value: Any, what: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{what} cannot be converted to an array: {_describe(value)}") from err


# ------------------------------------------------------------------------- split and finish


def _from_arrays(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    test_fraction: float,
    seed: int,
    max_train: int | None,
    max_test: int | None,
) -> ProxyImages:
    x, y = _validate(x, y)
    train, test = _split(y, test_fraction, seed)
    rng = np.random.default_rng(seed)
    train = train[_subsample_index(len(train), max_train, rng)]
    test = test[_subsample_index(len(test), max_test, rng)]
    num_classes = int(y.max()) + 1
    return _finish(name, x[train], y[train], x[test], y[test], num_classes)


def _validate(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Images as float32 [n, C, H, W] and labels as int64 [n], or a ValueError saying what is wrong."""
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4:
        raise ValueError(f"images must be shaped [n, C, H, W] or [n, H, W], got shape {x.shape}")
    if y.ndim != 1:
        raise ValueError(f"labels must be shaped [n], got shape {y.shape}")
    if len(x) != len(y):
        raise ValueError(f"{len(x)} images but {len(y)} labels")
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating) or x.dtype == np.bool_):
        raise ValueError(f"images must be real numbers, got dtype {x.dtype}")
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        bad = int(np.flatnonzero(~np.isfinite(x).reshape(len(x), -1).all(axis=1))[0])
        raise ValueError(f"images contain NaN or infinite values (first at image {bad})")
    if np.issubdtype(y.dtype, np.floating):
        if not np.isfinite(y).all() or not np.all(y == np.round(y)):
            raise ValueError("labels must be integers; got non-integral floating values")
    elif not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if len(y) and y.min() < 0:
        raise ValueError(f"labels must be >= 0, got minimum {int(y.min())}")
    classes = np.unique(y)
    if len(classes) < 2:
        raise ValueError(f"at least 2 classes are needed, got {len(classes)} ({classes.tolist()})")
    return x, y


def _split(y: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and held-out indices; stratified whenever every class can appear on both sides."""
    from sklearn.model_selection import train_test_split

    if isinstance(test_fraction, bool) or not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction!r}")
    n = len(y)
    n_test = int(np.ceil(test_fraction * n))
    if n_test >= n:
        raise ValueError(f"test_fraction={test_fraction} of {n} images leaves no training images")
    _, counts = np.unique(y, return_counts=True)
    stratify = y if counts.min() >= 2 and len(counts) <= min(n_test, n - n_test) else None
    train, test = train_test_split(
        np.arange(n), test_size=n_test, random_state=seed, shuffle=True, stratify=stratify
    )
    return np.asarray(train), np.asarray(test)


def _subsample_index(n: int, limit: int | None, rng: np.random.Generator) -> np.ndarray:
    """Positions of a seeded random subset of at most ``limit`` of ``n`` items, in original order."""
    if limit is None or limit >= n:
        return np.arange(n)
    return np.sort(rng.choice(n, size=limit, replace=False))


def _check_limit(name: str, value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
    return int(value)


def _finish(
    name: str,
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    num_classes: int,
) -> ProxyImages:
    """Standardise both splits per channel with the training statistics and wrap as tensors."""
    mean, std = _channel_stats(train_x)
    shape = (1, -1, 1, 1)
    train_x = ((train_x - mean.reshape(shape)) / std.reshape(shape)).astype(np.float32)
    test_x = ((test_x - mean.reshape(shape)) / std.reshape(shape)).astype(np.float32)
    return ProxyImages(
        name=name,
        train_x=torch.from_numpy(np.ascontiguousarray(train_x)),
        train_y=torch.from_numpy(np.ascontiguousarray(train_y, dtype=np.int64)),
        test_x=torch.from_numpy(np.ascontiguousarray(test_x)),
        test_y=torch.from_numpy(np.ascontiguousarray(test_y, dtype=np.int64)),
        num_classes=num_classes,
    )


def _channel_stats(x: np.ndarray, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of [n, C, H, W] in float64, in chunks to bound memory.

    A constant channel gets std 1, so it maps to zeros instead of NaNs.
    """
    count = x.shape[0] * x.shape[2] * x.shape[3]
    total = np.zeros(x.shape[1])
    for start in range(0, len(x), chunk):
        total += x[start : start + chunk].sum(axis=(0, 2, 3), dtype=np.float64)
    mean = total / count
    squares = np.zeros(x.shape[1])
    for start in range(0, len(x), chunk):
        centred = x[start : start + chunk] - mean.reshape(1, -1, 1, 1)
        squares += np.square(centred).sum(axis=(0, 2, 3))
    std = np.sqrt(squares / count)
    std[std < 1e-12] = 1.0
    return mean.astype(np.float32), std.astype(np.float32)


def _describe(value: Any) -> str:
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return f"{type(value).__name__} of shape {tuple(value.shape)} and dtype {value.dtype}"
    text = repr(value)
    return f"{type(value).__name__} {text[:60] + '...' if len(text) > 60 else text}"
