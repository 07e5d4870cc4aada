"""Proxy images: digits, Fashion-MNIST from IDX files, user arrays / datasets, validation."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import need_module
from torch.utils.data import Dataset, TensorDataset

from gnnnas.data import MissingDataError, ProxyImages, load_proxy, proxy
from gnnnas.data.proxy import read_idx

FASHION = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


@pytest.fixture(autouse=True)
def _isolated(monkeypatch):
    """No test may see a system-wide Fashion-MNIST or the caller's $GNNNAS_DATA."""
    monkeypatch.setattr(proxy, "FASHION_MNIST_SYSTEM_DIRS", ())
    monkeypatch.delenv("GNNNAS_DATA", raising=False)


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    array = np.asarray(array, dtype=np.uint8)
    magic = 0x800 | array.ndim if magic is None else magic
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}i", *array.shape)
    return header + array.tobytes()


def write_idx(path: Path, data: bytes, gz: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def make_fashion(root: Path, gz: bool | dict = False, n_train: int = 20, n_test: int = 10, seed: int = 0):
    """Tiny Fashion-MNIST-shaped IDX files under ``root/fashion_mnist``; returns the raw arrays."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        "train_labels": np.arange(n_train, dtype=np.uint8) % 10,
        "test_images": rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        "test_labels": np.arange(n_test, dtype=np.uint8) % 10,
    }
    for key, array in arrays.items():
        zipped = gz.get(key, False) if isinstance(gz, dict) else gz
        write_idx(root / "fashion_mnist" / FASHION[key], idx_bytes(array), zipped)
    return arrays


def with_reference_pixel(n: int = 60, channels: int = 2, seed: int = 0):
    """Random images whose pixel (0, 0) is the same constant in every image and channel."""
    rng = np.random.default_rng(seed)
    x = rng.normal(3.0, 2.0, size=(n, channels, 5, 5)).astype(np.float32)
    x[:, :, 0, 0] = 5.0
    y = np.arange(n) % 3
    return x, y


# ------------------------------------------------------------------------------------ digits


def test_digits_shapes_dtypes_and_split():
    p = load_proxy()
    assert isinstance(p, ProxyImages)
    assert p.name == "digits"
    assert p.train_x.shape == (1347, 1, 8, 8) and p.test_x.shape == (450, 1, 8, 8)
    assert p.train_x.dtype == p.test_x.dtype == torch.float32
    assert p.train_y.dtype == p.test_y.dtype == torch.int64
    assert p.num_classes == 10 and p.in_channels == 1 and p.image_size == (8, 8)
    # stratified: each class is held out in proportion to its size
    held_out = torch.bincount(p.test_y, minlength=10).double()
    total = held_out + torch.bincount(p.train_y, minlength=10)
    assert torch.all((held_out - 0.25 * total).abs() <= 1)
    assert "train=1347" in repr(p) and len(repr(p)) < 200


def test_digits_standardised_with_train_statistics():
    p = load_proxy(test_fraction=0.5)
    assert len(p.test_y) == 899
    assert p.train_x.mean().item() == pytest.approx(0.0, abs=1e-5)
    assert p.train_x.std(unbiased=False).item() == pytest.approx(1.0, abs=1e-5)
    assert p.test_x.mean().item() != pytest.approx(0.0, abs=1e-5)  # not its own statistics


def test_digits_deterministic_in_seed():
    a, b, c = load_proxy(seed=3), load_proxy(seed=3), load_proxy(seed=4)
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_y, b.test_y)
    assert not torch.equal(a.train_y, c.train_y)


# ------------------------------------------------------------------------------ Fashion-MNIST


@pytest.mark.parametrize("gz", [False, True, {"train_images": True, "test_labels": True}])
def test_fashion_mnist_from_idx_files(tmp_path, gz):
    raw = make_fashion(tmp_path, gz=gz)
    p = load_proxy("fashion_mnist", data_dir=tmp_path, test_fraction=0.9)  # test_fraction ignored
    assert p.name == "fashion_mnist"
    assert p.train_x.shape == (20, 1, 28, 28) and p.test_x.shape == (10, 1, 28, 28)
    assert p.num_classes == 10
    np.testing.assert_array_equal(p.train_y.numpy(), raw["train_labels"])
    np.testing.assert_array_equal(p.test_y.numpy(), raw["test_labels"])
    train = raw["train_images"].astype(np.float64) / 255.0
    mean, std = train.mean(), train.std()
    np.testing.assert_allclose(p.train_x[:, 0].numpy(), (train - mean) / std, atol=1e-5)
    test = raw["test_images"].astype(np.float64) / 255.0
    np.testing.assert_allclose(p.test_x[:, 0].numpy(), (test - mean) / std, atol=1e-5)


def test_fashion_mnist_search_order(tmp_path, monkeypatch):
    system = tmp_path / "system"
    make_fashion(system, n_train=12)
    for name in FASHION.values():  # the Debian layout: files directly in the directory, gzipped
        data = (system / "fashion_mnist" / name).read_bytes()
        write_idx(system / "debian" / name, data, gz=True)
    monkeypatch.setattr(proxy, "FASHION_MNIST_SYSTEM_DIRS", (system / "debian",))
    assert len(load_proxy("fashion_mnist", data_dir=tmp_path / "empty").train_y) == 12

    make_fashion(tmp_path / "user", n_train=14)  # the data directory comes first
    assert len(load_proxy("fashion_mnist", data_dir=tmp_path / "user").train_y) == 14
    monkeypatch.setenv("GNNNAS_DATA", str(tmp_path / "user"))
    assert len(load_proxy("fashion-mnist").train_y) == 14


def test_fashion_mnist_subsampling_keeps_num_classes(tmp_path):
    make_fashion(tmp_path, n_train=40, n_test=20)
    a = load_proxy("fashion_mnist", data_dir=tmp_path, max_train=7, max_test=3, seed=1)
    b = load_proxy("fashion_mnist", data_dir=tmp_path, max_train=7, max_test=3, seed=1)
    assert len(a.train_y) == 7 and len(a.test_y) == 3 and a.num_classes == 10
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_y, b.test_y)


def test_fashion_mnist_missing(tmp_path):
    with pytest.raises(MissingDataError, match="apt install dataset-fashion-mnist") as err:
        load_proxy("fashion_mnist", data_dir=tmp_path)
    assert "t10k-labels-idx1-ubyte" in str(err.value) and isinstance(err.value, FileNotFoundError)
    make_fashion(tmp_path)
    (tmp_path / "fashion_mnist" / FASHION["test_labels"]).unlink()
    with pytest.raises(MissingDataError, match="lacks t10k-labels-idx1-ubyte"):
        load_proxy("fashion_mnist", data_dir=tmp_path)


@pytest.mark.parametrize("gz", [False, True])
def test_fashion_mnist_truncated_file(tmp_path, gz):
    make_fashion(tmp_path)
    path = tmp_path / "fashion_mnist" / FASHION["train_images"]
    data = path.read_bytes()
    path.unlink()
    path = write_idx(path, data[:-100], gz=gz)
    with pytest.raises(ValueError, match="truncated") as err:
        load_proxy("fashion_mnist", data_dir=tmp_path)
    assert path.name in str(err.value)


def test_fashion_mnist_cut_gzip_stream(tmp_path):
    make_fashion(tmp_path, gz=True)
    path = tmp_path / "fashion_mnist" / (FASHION["test_images"] + ".gz")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="gzip"):
        load_proxy("fashion_mnist", data_dir=tmp_path)


def test_fashion_mnist_bad_magic_and_counts(tmp_path):
    make_fashion(tmp_path)
    labels = tmp_path / "fashion_mnist" / FASHION["train_labels"]
    labels.write_bytes(idx_bytes(np.zeros(20, np.uint8), magic=0x00000803))
    with pytest.raises(ValueError, match="declares 3 dimensions"):
        load_proxy("fashion_mnist", data_dir=tmp_path)
    labels.write_bytes(b"\x00\x00\x0d\x01" + idx_bytes(np.zeros(20, np.uint8))[4:])  # float32 code
    with pytest.raises(ValueError, match="bad magic"):
        load_proxy("fashion_mnist", data_dir=tmp_path)
    labels.write_bytes(idx_bytes(np.zeros(19, np.uint8)))
    with pytest.raises(ValueError, match="20 images but .* 19 labels"):
        load_proxy("fashion_mnist", data_dir=tmp_path)


def test_read_idx_validation(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(idx_bytes(np.arange(6).reshape(2, 3)))
    np.testing.assert_array_equal(read_idx(path, ndim=2), [[0, 1, 2], [3, 4, 5]])
    for data, message in [
        (b"\x00\x00", "too short"),
        (b"\x00\x00\x08\x02\x00\x00\x00\x02", "truncated header"),
        (idx_bytes(np.arange(6).reshape(2, 3)) + b"\x00", "trailing bytes"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x00", "invalid dimension"),
    ]:
        path.write_bytes(data)
        with pytest.raises(ValueError, match=message):
            read_idx(path)


# --------------------------------------------------------------------- user arrays / datasets


class _ListDataset(Dataset):
    def __init__(self, images, labels):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i], self.labels[i]


def test_user_arrays_standardised_with_train_statistics():
    x, y = with_reference_pixel()
    p = load_proxy((x, y), test_fraction=0.25, seed=0)
    assert p.name == "arrays" and p.in_channels == 2 and p.image_size == (5, 5) and p.num_classes == 3
    assert len(p.train_y) == 45 and len(p.test_y) == 15
    assert torch.bincount(p.test_y).tolist() == [5, 5, 5]  # stratified
    dims = (0, 2, 3)
    assert torch.allclose(p.train_x.mean(dim=dims), torch.zeros(2), atol=1e-5)
    assert torch.allclose(p.train_x.std(dim=dims, unbiased=False), torch.ones(2), atol=1e-5)
    # the constant pixel maps to one value in both parts only if both used the same statistics
    reference = p.train_x[0, :, 0, 0]
    assert torch.allclose(p.test_x[:, :, 0, 0], reference.expand(15, 2))


def test_user_tensors_without_channel_dim_and_unstratifiable():
    x = torch.rand(9, 4, 4, dtype=torch.float64)
    y = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, 2])  # class 2 has one sample: plain random split
    p = load_proxy((x, y), test_fraction=1 / 3)
    assert p.train_x.shape == (6, 1, 4, 4) and p.test_x.shape == (3, 1, 4, 4)
    assert p.train_x.dtype == torch.float32 and p.num_classes == 3


def test_torch_datasets():
    x, y = with_reference_pixel(n=30, channels=3)
    p = load_proxy(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), test_fraction=0.2)
    assert p.name == "TensorDataset" and p.train_x.shape == (24, 3, 5, 5) and p.num_classes == 3

    class Pairs(Dataset):
        def __len__(self):
            return 8

        def __getitem__(self, i):
            return np.full((6, 6), float(i)), i % 2  # [H, W] image and a Python int label

    p = load_proxy(Pairs(), test_fraction=0.25, seed=5)
    assert p.name == "Pairs" and p.train_x.shape == (6, 1, 6, 6) and p.test_x.shape == (2, 1, 6, 6)
    assert torch.bincount(p.test_y).tolist() == [1, 1]


def test_pil_images_are_made_channels_first():
    image_module = need_module("PIL.Image", "pip install pillow (in the test extra)")
    images = [image_module.new("RGB", (7, 5), color=(i, 2 * i, 3 * i)) for i in range(6)]
    p = load_proxy(_ListDataset(images, [0, 1] * 3))
    assert p.train_x.shape[1:] == (3, 5, 7)  # PIL's [H, W, C] made [C, H, W]


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        (np.zeros((4, 3, 3)), np.array([0, 1, 0]), "4 images but 3 labels"),
        (np.random.rand(4, 3, 3), np.zeros(4, int), "at least 2 classes"),
        (np.where(np.eye(3)[None, None] > 0, np.nan, 1.0).repeat(4, 0), np.array([0, 1, 0, 1]), "NaN"),
        (np.full((4, 3, 3), np.inf), np.array([0, 1, 0, 1]), "infinite"),
        (np.zeros((4, 3, 3)), np.array([0, -1, 0, 1]), ">= 0"),
        (np.zeros((4, 3, 3)), np.array([0.0, 1.5, 0.0, 1.0]), "integers"),
        (np.zeros((4, 3, 3)), np.array(["a", "b", "a", "b"]), "integers"),
        (np.zeros((4, 9)), np.array([0, 1, 0, 1]), r"\[n, C, H, W\]"),
        (np.zeros((4, 3, 3)), np.zeros((4, 2), int), r"shaped \[n\]"),
    ],
)
def test_bad_user_arrays(x, y, message):
    with pytest.raises(ValueError, match=message):
        load_proxy((x, y))


def test_bad_datasets_and_arguments():
    with pytest.raises(ValueError, match="empty"):
        load_proxy(TensorDataset(torch.zeros(0, 2, 2), torch.zeros(0)))
    with pytest.raises(ValueError, match="image 1 has shape"):
        load_proxy(_ListDataset([np.zeros((2, 2)), np.zeros((3, 3))], [0, 1]))
    x, y = with_reference_pixel(n=8)
    for fraction in (0.0, 1.0, -0.1, True):
        with pytest.raises(ValueError, match="test_fraction"):
            load_proxy((x, y), test_fraction=fraction)
    with pytest.raises(ValueError, match="leaves no training"):
        load_proxy((x[:2], np.array([0, 1])), test_fraction=0.9)
    for limit in (0, -3, 2.5):
        with pytest.raises(ValueError, match="max_train"):
            load_proxy((x, y), max_train=limit)
    for source in ("cifar10", [x, y], 42, (x,)):
        with pytest.raises(ValueError, match="accepted: 'digits', 'fashion_mnist'"):
            load_proxy(source)


# ------------------------------------------------------------ subsampling, pass-through, batches


def test_max_train_subsamples_the_split_reproducibly():
    n = 50
    x = np.random.default_rng(0).normal(size=(n, 1, 3, 3))
    ids = np.arange(n)  # one class per image: the label names the image
    full = load_proxy((x, ids), seed=2)
    small = load_proxy((x, ids), seed=2, max_train=10, max_test=4)
    again = load_proxy((x, ids), seed=2, max_train=10, max_test=4)
    assert len(small.train_y) == 10 and len(small.test_y) == 4 and small.num_classes == n
    assert set(small.train_y.tolist()) <= set(full.train_y.tolist())
    assert set(small.test_y.tolist()) <= set(full.test_y.tolist())
    assert torch.equal(small.train_x, again.train_x) and torch.equal(small.test_y, again.test_y)
    assert len(load_proxy((x, ids), max_train=10_000).train_y) == len(full.train_y)


def test_proxy_images_pass_through():
    p = load_proxy(with_reference_pixel())
    assert load_proxy(p) is p
    q = load_proxy(p, max_train=5, seed=1)
    assert len(q.train_y) == 5 and len(q.test_y) == len(p.test_y) and q.num_classes == p.num_classes
    assert q.to("cpu").train_x.device.type == "cpu"


def test_sample_train():
    n = 40
    p = load_proxy((np.random.default_rng(0).normal(size=(n, 1, 2, 2)), np.arange(n)), test_fraction=0.25)
    x1, y1 = p.sample_train(16, torch.Generator().manual_seed(7))
    x2, y2 = p.sample_train(16, torch.Generator().manual_seed(7))
    assert x1.shape == (16, 1, 2, 2) and y1.shape == (16,)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert len(set(y1.tolist())) == 16  # without replacement
    _, y_all = p.sample_train(30, torch.Generator().manual_seed(0))
    assert sorted(y_all.tolist()) == sorted(p.train_y.tolist())
    x_big, _ = p.sample_train(100, torch.Generator().manual_seed(0))  # with replacement
    assert x_big.shape[0] == 100
    for bad in (0, -1, 2.0):
        with pytest.raises(ValueError, match="positive integer"):
            p.sample_train(bad)


def test_proxy_images_validates_fields():
    x, y = torch.zeros(4, 1, 2, 2), torch.tensor([0, 1, 0, 1])
    with pytest.raises(ValueError, match="float32"):
        ProxyImages("t", x.double(), y, x, y, 2)
    with pytest.raises(ValueError, match="int64"):
        ProxyImages("t", x, y.int(), x, y, 2)
    with pytest.raises(ValueError, match="outside"):
        ProxyImages("t", x, y, x, y, 1)
    with pytest.raises(ValueError, match="differ in shape"):
        ProxyImages("t", x, y, torch.zeros(4, 3, 2, 2), y, 2)
