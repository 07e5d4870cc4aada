"""Read pickles and ``torch.save`` files without executing arbitrary code, and without torch.

Benchmark files (NAS-Bench-201 ``.pth``, NATS-Bench ``.pickle.pbz2``, NASLib and
NAS-Bench-Graph pickles) are plain containers of numbers and strings, but ``pickle.load`` /
``torch.load`` would run whatever a tampered file asks for. :class:`SafeUnpickler` resolves only
an allow-list of globals - builtin containers, ``collections.OrderedDict``/``defaultdict``, numpy
array and scalar reconstruction, torch's tensor rebuild functions and storage types - and raises
:class:`FormatError` naming any other global. Tensors come back as numpy arrays.

Containers understood by :func:`load_pickle`:

- ``torch.save`` zip archives (torch >= 1.6): ``<root>/data.pkl`` with persistent ids
  ``("storage", storage type, key, location, numel)`` whose bytes are ``<root>/data/<key>``;
- legacy torch files (torch < 1.6; the NAS-Bench-201 ``.pth`` of 2020 are of this era): pickled
  magic number, protocol version and system info, then the object, then the list of storage
  keys, then each storage as ``int64 numel`` + raw little-endian bytes;
- bz2-compressed pickles (NATS-Bench ``*.pickle.pbz2``) and plain pickles.
"""

from __future__ import annotations

import bz2
import io
import os
import pickle
import struct
import zipfile
from collections import OrderedDict, defaultdict
from typing import Any, BinaryIO

import numpy as np

from gnnnas.data.formats.errors import FormatError

__all__ = ["SafeUnpickler", "load_pickle", "loads"]

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_BUILTINS = {
    "dict": dict, "list": list, "tuple": tuple, "set": set, "frozenset": frozenset,
    "int": int, "float": float, "complex": complex, "str": str, "bytes": bytes,
    "bytearray": bytearray, "bool": bool, "slice": slice, "range": range,
}
_NUMPY_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray", "numpy.core.numeric",
                  "numpy._core.numeric", "numpy")
#: torch storage class name -> numpy dtype of its elements
_STORAGE_DTYPES = {
    "DoubleStorage": np.float64, "FloatStorage": np.float32, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
    "UntypedStorage": np.uint8,
}
_DTYPE_NAMES = {
    "float64": np.float64, "float32": np.float32, "float16": np.float16, "int64": np.int64,
    "int32": np.int32, "int16": np.int16, "int8": np.int8, "uint8": np.uint8, "bool": np.bool_,
    "double": np.float64, "float": np.float32, "half": np.float16, "long": np.int64, "int": np.int32,
}


class _StorageType:
    """Stand-in for a torch storage class: just the element dtype."""

    def __init__(self, name: str, dtype) -> None:
        self.name, self.dtype = name, np.dtype(dtype)


class _LazyStorage:
    """A legacy-format storage whose bytes come after the pickle (filled in later)."""

    def __init__(self, dtype: np.dtype) -> None:
        self.dtype = dtype
        self.array: np.ndarray | None = None


class _StorageView:
    """A legacy storage view (``view_metadata`` = (view key, element offset, size))."""

    def __init__(self, base: _LazyStorage, offset: int) -> None:
        self.base, self.offset = base, int(offset)


class _LazyTensor:
    def __init__(self, storage: _LazyStorage, offset: int, size, stride) -> None:
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)


def _view(storage: np.ndarray, offset: int, size, stride) -> np.ndarray:
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    if not size:
        return np.array(storage[offset])
    extent = offset + sum((n - 1) * s for n, s in zip(size, stride)) + 1 if all(size) else offset
    if extent > len(storage):
        raise ValueError(f"tensor view needs {extent} elements, storage has {len(storage)}")
    item = storage.dtype.itemsize
    base = storage[offset:]
    return np.lib.stride_tricks.as_strided(base, size, tuple(s * item for s in stride)).copy()


def _rebuild_tensor(storage, storage_offset, size, stride, *_rest, **_kw):
    if isinstance(storage, _StorageView):
        return _LazyTensor(storage.base, storage.offset + storage_offset, size, stride)
    if isinstance(storage, _LazyStorage):
        return _LazyTensor(storage, storage_offset, size, stride)
    return _view(storage, storage_offset, size, stride)


def _rebuild_parameter(data, *_rest, **_kw):
    return data


def _numpy_reconstruct(subtype, shape, dtype):
    return np.ndarray.__new__(np.ndarray, shape, dtype)


def _numpy_frombuffer(buffer, dtype, shape, order):
    return np.frombuffer(buffer, dtype=dtype).reshape(shape, order=order).copy()


_NUMPY_GLOBALS = {"_reconstruct": _numpy_reconstruct, "_frombuffer": _numpy_frombuffer,
                  "ndarray": np.ndarray, "dtype": np.dtype}


def _numpy_scalar(dtype, data=None):
    return np.frombuffer(data, dtype=dtype)[0] if data is not None else np.zeros((), dtype)[()]


def _codecs_encode(text: str, encoding: str = "utf-8") -> bytes:
    return text.encode(encoding)


def _torch_dtype(name: str):
    return np.dtype(_DTYPE_NAMES.get(name, np.float32))


class SafeUnpickler(pickle.Unpickler):
    """Unpickler with an allow-list of globals; storages come from ``storage_reader``."""

    def __init__(self, file: BinaryIO, path: str | os.PathLike | None = None,
                 storage_reader=None, legacy: bool = False) -> None:
        super().__init__(file, encoding="latin1")
        self._path = path
        self._storage_reader = storage_reader
        self._legacy = legacy
        self.storages: dict[str, _LazyStorage] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module in ("builtins", "__builtin__") and name in _BUILTINS:
            return _BUILTINS[name]
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        if module == "collections" and name == "defaultdict":
            return defaultdict
        if module in ("_codecs", "codecs") and name == "encode":
            return _codecs_encode
        if module in _NUMPY_MODULES and name == "scalar":
            return _numpy_scalar
        if module in _NUMPY_MODULES and name in _NUMPY_GLOBALS:
            return _NUMPY_GLOBALS[name]
        if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module in ("torch", "torch.storage") and name in _STORAGE_DTYPES:
            return _StorageType(name, _STORAGE_DTYPES[name])
        if module == "torch" and name == "Size":
            return tuple
        if module == "torch" and name in _DTYPE_NAMES:
            return _torch_dtype(name)
        raise FormatError(self._path, f"refusing to unpickle global {module}.{name}: benchmark files hold "
                          "only containers, numbers, strings and arrays (a tampered or unrelated file?)")

    def persistent_load(self, pid: Any) -> Any:
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise FormatError(self._path, f"unsupported persistent id {pid!r:.80}")
        storage_type, key = pid[1], str(pid[2])
        dtype = storage_type.dtype if isinstance(storage_type, _StorageType) else np.dtype(np.uint8)
        if self._legacy:
            if key not in self.storages:
                self.storages[key] = _LazyStorage(dtype)
            view = pid[5] if len(pid) > 5 else None
            if view is not None:  # (view key, offset, size): a slice of the storage
                return _StorageView(self.storages[key], view[1])
            return self.storages[key]
        if self._storage_reader is None:
            raise FormatError(self._path, "the pickle refers to tensor storage but the file is not a torch archive")
        return self._storage_reader(key, dtype)


def _materialize(obj: Any) -> Any:
    """Replace legacy lazy tensors by numpy arrays, in place where the container allows."""
    if isinstance(obj, _LazyTensor):
        return _view(obj.storage.array, obj.offset, obj.size, obj.stride)
    if isinstance(obj, dict):
        for k, v in obj.items():
            obj[k] = _materialize(v)
        return obj
    if isinstance(obj, list):
        for i, v in enumerate(obj):
            obj[i] = _materialize(v)
        return obj
    if isinstance(obj, tuple):
        return tuple(_materialize(v) for v in obj)
    return obj


def _load_zip(path: str | os.PathLike) -> Any:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if not pkl:
            raise FormatError(path, "zip archive without data.pkl: not a torch.save file")
        root = pkl[0][: -len("data.pkl")]

        def read_storage(key: str, dtype: np.dtype) -> np.ndarray:
            name = f"{root}data/{key}"
            try:
                raw = archive.read(name)
            except KeyError:
                raise FormatError(path, f"tensor storage {name!r} missing from the archive") from None
            return np.frombuffer(raw, dtype=dtype.newbyteorder("<"))

        with archive.open(pkl[0]) as handle:
            return SafeUnpickler(io.BufferedReader(handle), path, storage_reader=read_storage).load()


def _load_legacy(handle: BinaryIO, path: str | os.PathLike) -> Any:
    def unpickler(**kw) -> SafeUnpickler:
        return SafeUnpickler(handle, path, **kw)

    unpickler().load()  # protocol version
    unpickler().load()  # sys info (endianness, type sizes)
    main = unpickler(legacy=True)
    obj = main.load()
    keys = unpickler().load()
    if not isinstance(keys, list):
        raise FormatError(path, "legacy torch file: storage key list missing")
    for key in keys:
        head = handle.read(8)
        if len(head) < 8:
            raise FormatError(path, f"legacy torch file truncated before storage {key!r}")
        (numel,) = struct.unpack("<q", head)
        storage = main.storages.get(str(key))
        dtype = storage.dtype if storage is not None else np.dtype(np.uint8)
        raw = handle.read(numel * dtype.itemsize)
        if len(raw) < numel * dtype.itemsize:
            raise FormatError(path, f"legacy torch file truncated inside storage {key!r}")
        if storage is not None:
            storage.array = np.frombuffer(raw, dtype=dtype.newbyteorder("<"))
    missing = [k for k, s in main.storages.items() if s.array is None]
    if missing:
        raise FormatError(path, f"legacy torch file lacks the bytes of storages {missing[:3]}")
    return _materialize(obj)


def loads(data: bytes, path: str | os.PathLike | None = None) -> Any:
    """Safely unpickle ``data`` (a plain pickle)."""
    return SafeUnpickler(io.BytesIO(data), path).load()


def load_pickle(path: str | os.PathLike) -> Any:
    """Safely load a torch.save file (zip or legacy), a bz2 pickle or a plain pickle."""
    try:
        if zipfile.is_zipfile(path):
            return _load_zip(path)
        with open(path, "rb") as raw:
            magic = raw.read(3)
            raw.seek(0)
            if magic == b"BZh":
                with bz2.BZ2File(raw) as handle:
                    return SafeUnpickler(handle, path).load()
            first = SafeUnpickler(raw, path)
            head = first.load()
            if isinstance(head, int) and head == _LEGACY_MAGIC:
                return _load_legacy(raw, path)
            return head
    except FormatError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, OSError, zipfile.BadZipFile,
            struct.error, IndexError, KeyError, AttributeError, MemoryError) as err:
        raise FormatError(path, f"cannot unpickle ({type(err).__name__}: {err}); the file is truncated, "
                          "corrupted or not a pickle") from None
