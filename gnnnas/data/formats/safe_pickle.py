"""Read pickles and ``torch.save`` files without executing code or trusting the file.

Benchmark files (NAS-Bench-201 ``.pth``, NATS-Bench ``.pickle.pbz2``, NASLib and NAS-Bench-Graph
pickles) are plain containers of numbers, strings and arrays, but ``pickle.load`` /
``torch.load`` would run whatever a tampered file asks for. :func:`load_pickle` returns plain
Python containers with numpy arrays for tensors; everything it refuses raises
:class:`FormatError` naming the file and the problem.

Which reader reads what:

- ``torch.save`` files - zip archives (torch >= 1.6) and the legacy format (torch < 1.6, that of
  the 2020 NAS-Bench-201 ``.pth``) - go first to ``torch.load(weights_only=True)`` when torch is
  importable: PyTorch maintains that restricted unpickler for exactly this job and defines the
  format. A file it refuses (e.g. one holding numpy arrays, outside its allow-list) or cannot
  parse goes to our reader, which then decides.
- Our :class:`SafeUnpickler` reads what torch cannot: bz2 and plain pickles (NATS-Bench
  ``*.pickle.pbz2``, NASLib, NAS-Bench-Graph; ``torch.load`` reads only its own containers), and
  every format when torch is absent. Both readers give identical results on valid files (tested).

How our reader stays safe. ``find_class`` resolves only an allow-list of globals, and every
numpy or torch object it hands out is an inert placeholder: pickle's BUILD can reach only those
and plain containers, never a live array or dtype (``ndarray.__setstate__`` with an object dtype
takes raw pointers from the file's bytes). One pass after unpickling turns the placeholders
into numpy objects and refuses: dtypes holding Python objects (``'O'``, or structured/sub-array
dtypes containing it) and any other non-numeric/text dtype; array data whose length is not
shape x itemsize; tensor views (size, stride, storage offset) with negative strides or offsets
or reaching outside their storage; cycles; nesting deeper than :data:`MAX_DEPTH`; arrays from
tensor views totalling more than ``64 MiB + 4 x`` the input's size. The pass builds each shared
(memoised) object once, so a pickle of self-similar tuples costs its size, not 2^depth. Builtin
constructors accept only already-built values (no ``bytes(10**12)``), bz2 input may decompress
to at most ``64 MiB + 1000 x`` its size, and zip members must be stored uncompressed, as
``torch.save`` writes them.

Containers understood by our reader:

- ``torch.save`` zip archives: ``<root>/data.pkl`` with persistent ids ``("storage", storage
  type, key, location, numel)`` whose bytes are ``<root>/data/<key>``;
- legacy torch files: pickled magic number, protocol version and system info, then the object,
  then the list of storage keys, then each storage as ``int64 numel`` + raw little-endian bytes;
- bz2-compressed pickles and plain pickles.
"""

from __future__ import annotations

import bz2
import io
import math
import os
import pickle
import re
import struct
import warnings
import zipfile
from collections import OrderedDict, defaultdict
from typing import Any, BinaryIO

import numpy as np

from gnnnas.data.formats.errors import FormatError

__all__ = ["MAX_DEPTH", "load_pickle", "loads"]

#: Deepest nesting of containers accepted (benchmark files nest fewer than 10 levels).
MAX_DEPTH = 100
_FLOOR = 64 << 20  # bytes any input may expand to, plus _VIEW_RATIO / _BZ2_RATIO x its size
_VIEW_RATIO = 4
_BZ2_RATIO = 1000
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001
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
_ATOMIC = frozenset({str, bytes, bytearray, int, float, complex, bool, type(None)})
_CONTAINERS = (list, tuple, set, frozenset, dict)
_DTYPE_SPEC = re.compile(r"[<>|=]?[A-Za-z?]\d{0,9}")


def _refuse(problem: str):
    raise FormatError(None, problem)  # load_pickle / loads add the path


# ------------------------------------------------------------------ inert placeholders
class _Inert:
    """Base of every object the unpickler hands out for a numpy/torch global: BUILD is refused."""

    __slots__ = ()
    what = "placeholder"

    def __setstate__(self, state):
        _refuse(f"the pickle sets the state of a {self.what}, which no benchmark file does")


class _Marker(_Inert):
    """``numpy.ndarray``: only the type argument of ``_reconstruct``, never called."""

    __slots__ = ()
    what = "numpy.ndarray type"

    def __call__(self, *args):
        _refuse("the pickle calls numpy.ndarray directly (an array over raw file bytes); numpy pickles "
                "arrays through _reconstruct")


class _Builtin(_Inert):
    """A builtin type, callable only on already-built values (so no ``bytes(10**12)``)."""

    __slots__ = ("kind",)
    what = "builtin type"

    def __init__(self, kind: type) -> None:
        self.kind = kind

    def __call__(self, *args):
        kind = self.kind
        ok = _CONTAINERS if kind in _CONTAINERS else (str, bytes) if kind in (bytes, bytearray) \
            else (int, float, str, bytes)
        if len(args) > 3 or not all(isinstance(a, ok) for a in args):
            _refuse(f"{kind.__name__}() called on {[type(a).__name__ for a in args]}")
        return kind(*args)


class _StorageType(_Inert):
    __slots__ = ("dtype", "name")
    what = "storage type"

    def __init__(self, name: str, dtype) -> None:
        self.name, self.dtype = name, np.dtype(dtype)


class _Once(_Inert):
    """A placeholder whose state BUILD may set once: numpy dtypes and arrays."""

    __slots__ = ("state",)

    def __setstate__(self, state):
        if self.state is not None:
            _refuse(f"the pickle sets the state of a {self.what} twice")
        self.state = state


class _DtypeStub(_Once):
    __slots__ = ("spec",)
    what = "numpy dtype"

    def __init__(self, spec: Any) -> None:
        self.spec, self.state = spec, None


class _ArrayStub(_Once):
    __slots__ = ()
    what = "numpy array"

    def __init__(self, state: Any = None) -> None:
        self.state = state


class _ScalarStub(_Inert):
    __slots__ = ("data", "dtype")
    what = "numpy scalar"

    def __init__(self, dtype: Any, data: Any = None) -> None:
        self.dtype, self.data = dtype, data


class _Storage(_Inert):
    """A tensor storage: its elements (``array``; for legacy files filled in after the pickle)."""

    __slots__ = ("array", "dtype", "numel")
    what = "tensor storage"

    def __init__(self, dtype: np.dtype, numel: Any = None, array: np.ndarray | None = None) -> None:
        self.dtype, self.numel, self.array = dtype, numel, array


class _StorageView(_Inert):
    """A legacy storage view (``view_metadata`` = (view key, element offset, size))."""

    __slots__ = ("base", "offset", "size")
    what = "storage view"

    def __init__(self, base: _Storage, offset: Any, size: Any) -> None:
        self.base, self.offset, self.size = base, offset, size


class _LazyTensor(_Inert):
    __slots__ = ("offset", "size", "storage", "stride")
    what = "tensor"

    def __init__(self, storage, offset, size, stride) -> None:
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride


_NDARRAY = _Marker()


def _reconstruct(subtype, shape, typecode):
    if subtype is not _NDARRAY:
        _refuse("numpy _reconstruct of a type other than numpy.ndarray")
    return _ArrayStub()


def _frombuffer(buffer, dtype, shape, order):
    return _ArrayStub((shape, dtype, order == "F", buffer))


def _make_dtype(spec, *_flags):  # a function, not the class: pickle's NEWOBJ needs a class
    return _DtypeStub(spec)


def _make_scalar(dtype, data=None):
    return _ScalarStub(dtype, data)


def _codecs_encode(text: Any, encoding: Any = "utf-8") -> bytes:
    if not isinstance(text, str) or not isinstance(encoding, str):
        _refuse("_codecs.encode of something other than a string")
    return text.encode(encoding)


def _defaultdict(factory=None, *rest):
    if rest or not (factory is None or isinstance(factory, _Builtin)):
        _refuse("defaultdict with a default factory other than a builtin type")
    return defaultdict(None if factory is None else factory.kind)


def _rebuild_tensor(storage, storage_offset, size, stride, *_rest, **_kw):
    if not isinstance(storage, (_Storage, _StorageView)):
        _refuse("a tensor is rebuilt from something other than a storage")
    return _LazyTensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, *_rest, **_kw):
    return data


_GLOBALS: dict[tuple[str, str], Any] = {
    **{(m, t.__name__): _Builtin(t) for m in ("builtins", "__builtin__")
       for t in (dict, list, tuple, set, frozenset, int, float, complex, str, bytes, bytearray, bool)},
    ("collections", "OrderedDict"): OrderedDict,
    ("collections", "defaultdict"): _defaultdict,
    ("_codecs", "encode"): _codecs_encode,
    ("codecs", "encode"): _codecs_encode,
    **{(m, n): f for m in _NUMPY_MODULES for n, f in (
        ("_reconstruct", _reconstruct), ("_frombuffer", _frombuffer), ("ndarray", _NDARRAY),
        ("dtype", _make_dtype), ("scalar", _make_scalar))},
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch", "Size"): _Builtin(tuple),
    **{(m, n): _StorageType(n, d) for m in ("torch", "torch.storage") for n, d in _STORAGE_DTYPES.items()},
}


class SafeUnpickler(pickle.Unpickler):
    """Unpickler with an allow-list of globals (internal: use :func:`load_pickle` or :func:`loads`).

    ``load()`` returns the objects with numpy/torch values still as inert placeholders; the
    public functions check and build them. Storages come from ``storage_reader`` (zip archives)
    or, with ``legacy=True``, are collected in ``storages`` to be filled from the file's tail.
    """

    def __init__(self, file: BinaryIO, path: str | os.PathLike | None = None,
                 storage_reader=None, legacy: bool = False) -> None:
        super().__init__(file, encoding="latin1")
        self._path = path
        self._storage_reader = storage_reader
        self._legacy = legacy
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str) -> Any:
        found = _GLOBALS.get((module, name))
        if found is not None:
            return found
        if module == "torch" and name in _DTYPE_NAMES:
            return _DtypeStub(np.dtype(_DTYPE_NAMES[name]).str)
        raise FormatError(self._path, f"refusing to unpickle global {module}.{name}: benchmark files hold "
                          "only containers, numbers, strings and arrays (a tampered or unrelated file?)")

    def persistent_load(self, pid: Any) -> Any:
        if not isinstance(pid, tuple) or len(pid) < 5 or pid[0] != "storage" or not isinstance(pid[1], _StorageType):
            raise FormatError(self._path, f"unsupported persistent id {pid!r:.80}")
        dtype, key = pid[1].dtype, str(pid[2])
        if not self._legacy:
            if self._storage_reader is None:
                raise FormatError(self._path, "the pickle refers to tensor storage but the file is not a torch archive")
            return self._storage_reader(key, dtype)
        storage = self.storages.setdefault(key, _Storage(dtype, pid[4]))
        view = pid[5] if len(pid) > 5 else None
        if view is not None:  # (view key, offset, size): a slice of the storage
            if not isinstance(view, tuple) or len(view) != 3:
                raise FormatError(self._path, f"bad storage view {view!r:.80}")
            return _StorageView(storage, view[1], view[2])
        return storage


# ------------------------------------------------------------------ placeholders -> numpy
def _index(value: Any, what: str) -> int:
    if type(value) is not int:
        _refuse(f"{what} {value!r:.40} is not an integer")
    return value


def _shape(values: Any, what: str) -> tuple[int, ...]:
    if not isinstance(values, (tuple, list)) or len(values) > 64:
        _refuse(f"{what} {values!r:.60} is not a tuple of integers")
    return tuple(_index(v, what) for v in values)


class _Builder:
    """Turns an unpickled graph of containers and placeholders into plain Python + numpy.

    Each object is built once (memo by identity), so shared objects stay shared and their cost
    is paid once; cycles and nesting deeper than :data:`MAX_DEPTH` are refused.
    """

    def __init__(self, source_bytes: int, torch=None) -> None:
        self.torch = torch
        self.limit = self.left = _FLOOR + _VIEW_RATIO * int(source_bytes)
        self.done: dict[int, Any] = {}
        self.open: set[int] = set()
        self.keep: list[Any] = []  # replaced originals stay alive, so their ids are not reused

    def __call__(self, obj: Any, depth: int = 0) -> Any:
        if type(obj) in _ATOMIC:
            return obj
        key = id(obj)
        if key in self.done:
            return self.done[key]
        if key in self.open:
            _refuse("a container contains itself (a cycle); benchmark files hold trees of values")
        if depth >= MAX_DEPTH:
            _refuse(f"objects are nested more than {MAX_DEPTH} levels deep")
        self.open.add(key)
        out = self._build(obj, depth + 1)
        self.open.discard(key)
        if out is not obj:
            self.keep.append(obj)
        self.done[key] = out
        return out

    def _build(self, obj: Any, depth: int) -> Any:
        kind = type(obj)
        if kind is list:
            if not _ATOMIC.issuperset(map(type, obj)):  # the check runs at C speed
                for i, value in enumerate(obj):
                    if type(value) not in _ATOMIC:
                        obj[i] = self(value, depth)
            return obj
        if kind in (dict, OrderedDict, defaultdict):
            if not _ATOMIC.issuperset(map(type, obj.values())):
                for k, value in obj.items():
                    if type(value) not in _ATOMIC:
                        obj[k] = self(value, depth)
            if _ATOMIC.issuperset(map(type, obj)) or all(self(k, depth) is k for k in obj):
                return obj
            out = defaultdict(obj.default_factory) if kind is defaultdict else kind()
            for k, value in obj.items():
                out[self(k, depth)] = value
            return out
        if kind in (tuple, set, frozenset):
            items = [self(v, depth) for v in obj]
            return obj if all(a is b for a, b in zip(items, obj)) else kind(items)
        if kind is _DtypeStub:
            return self._dtype(obj, depth)
        if kind is _ArrayStub:
            return self._array(obj, depth)
        if kind is _ScalarStub:
            dtype, data = self._need_dtype(obj.dtype, depth), obj.data
            data = data.encode("latin1") if isinstance(data, str) else data
            if not isinstance(data, bytes) or len(data) != dtype.itemsize:
                _refuse(f"numpy scalar of dtype {dtype} without its {dtype.itemsize} bytes")
            return np.frombuffer(data, dtype)[0]
        if kind is _LazyTensor:
            return self._tensor(obj)
        if kind is _Builtin:
            return obj.kind
        if self.torch is not None:
            torch = self.torch
            if isinstance(obj, torch.Tensor):
                self._spend(obj.numel() * obj.element_size())
                return np.array(obj.detach().cpu().numpy(), order="C")
            if kind is torch.Size:
                return tuple(obj)
            if kind is torch.dtype:
                return torch.empty((), dtype=obj).numpy().dtype
        _refuse(f"unsupported object in the data: {getattr(obj, 'what', kind.__name__)}")

    def _need_dtype(self, value: Any, depth: int) -> np.dtype:
        dtype = self(value, depth)
        if not isinstance(dtype, np.dtype):
            _refuse(f"{type(value).__name__} where a numpy dtype belongs")
        return dtype

    def _dtype(self, stub: _DtypeStub, depth: int) -> np.dtype:
        spec, state = stub.spec, stub.state
        if not isinstance(spec, str) or not _DTYPE_SPEC.fullmatch(spec):
            _refuse(f"dtype {spec!r:.40} is not a numpy type code")
        dtype = np.dtype(spec)
        if state is not None:
            if not isinstance(state, tuple) or len(state) < 6:
                _refuse("malformed dtype state")
            order, sub, names, fields, itemsize = state[1:6]
            if sub is not None:
                dtype = np.dtype((self._need_dtype(sub[0], depth), _shape(sub[1], "sub-array shape")))
            elif names is not None:
                dtype = np.dtype({"names": list(names),
                                  "formats": [self._need_dtype(fields[n][0], depth) for n in names],
                                  "offsets": [_index(fields[n][1], "field offset") for n in names],
                                  "itemsize": _index(itemsize, "dtype itemsize")})
            if order in ("<", ">"):
                dtype = dtype.newbyteorder(order)
        if dtype.hasobject:
            _refuse(f"dtype {dtype} holds Python objects: an array of it would take raw memory pointers "
                    "from the file (benchmark arrays are numeric or text)")
        if dtype.kind not in "biufcSUV":
            _refuse(f"dtype {dtype} is not supported (benchmark arrays are numeric or text)")
        return dtype

    def _array(self, stub: _ArrayStub, depth: int) -> np.ndarray:
        state = stub.state
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            _refuse("numpy array without a (shape, dtype, order, data) state")
        shape, dtype, fortran, raw = state[-4:]
        shape, dtype = _shape(shape, "array shape"), self._need_dtype(dtype, depth)
        if any(n < 0 for n in shape):
            _refuse(f"negative array shape {shape}")
        raw = raw.encode("latin1") if isinstance(raw, str) else raw  # Python 2 pickles, as numpy does
        if not isinstance(raw, (bytes, bytearray)):
            _refuse(f"numpy array data is a {type(raw).__name__}, not raw bytes")
        count = math.prod(shape)
        if len(raw) != count * dtype.itemsize:
            _refuse(f"numpy array of shape {shape} and dtype {dtype} needs {count * dtype.itemsize} bytes, "
                    f"the file holds {len(raw)}")
        flat = np.frombuffer(raw, dtype, count) if count else np.empty(0, dtype)
        return flat.reshape(shape, order="F" if fortran else "C").copy(order="K")

    def _tensor(self, tensor: _LazyTensor) -> np.ndarray:
        storage, offset = tensor.storage, _index(tensor.offset, "storage offset")
        size, stride = _shape(tensor.size, "tensor size"), _shape(tensor.stride, "tensor stride")
        if isinstance(storage, _StorageView):
            base = storage.base.array
            start, length = _index(storage.offset, "view offset"), _index(storage.size, "view size")
            if base is not None and (start < 0 or length < 0 or start + length > len(base)):
                _refuse(f"storage view [{start}, {start + length}) lies outside its storage of {len(base)} elements")
            array = None if base is None else base[start:start + length]
        else:
            array = storage.array
        if array is None:
            _refuse("a tensor's storage bytes are missing from the file")
        where = f"tensor view (size {size}, stride {stride}, storage offset {offset})"
        if len(size) != len(stride):
            _refuse(f"{where}: size and stride differ in length")
        if offset < 0 or any(s < 0 for s in stride) or any(n < 0 for n in size):
            _refuse(f"{where}: negative offset, stride or size")
        count = math.prod(size)
        end = offset + sum((n - 1) * s for n, s in zip(size, stride)) + 1 if count else offset
        if end > len(array):
            _refuse(f"{where} reaches element {end - 1}, outside its storage of {len(array)} elements")
        self._spend(count * array.dtype.itemsize)
        item = array.dtype.itemsize
        return np.lib.stride_tricks.as_strided(array[offset:], size, tuple(s * item for s in stride)).copy()

    def _spend(self, nbytes: int) -> None:
        self.left -= nbytes
        if self.left < 0:
            _refuse(f"arrays built from tensor views exceed {self.limit} bytes (64 MiB + {_VIEW_RATIO} x the "
                    "input): views overlap or repeat their storage")


# ------------------------------------------------------------------ containers
class _Capped(io.RawIOBase):
    """A read-only stream that refuses to deliver more than ``limit`` bytes (bz2 bombs)."""

    def __init__(self, inner: BinaryIO, limit: int) -> None:
        self.inner, self.limit, self.count = inner, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self.inner.readinto(buffer)
        self.count += n
        if self.count > self.limit:
            _refuse(f"decompresses to more than {self.limit} bytes (64 MiB + {_BZ2_RATIO} x the file)")
        return n


def _load_zip(path: str | os.PathLike) -> Any:
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        if any(info.compress_type != zipfile.ZIP_STORED for info in infos):
            raise FormatError(path, "zip archive with compressed members: torch.save stores them uncompressed")
        pkl = sorted(i.filename for i in infos if i.filename.endswith("/data.pkl") or i.filename == "data.pkl")
        if not pkl:
            raise FormatError(path, "zip archive without data.pkl: not a torch.save file")
        root = pkl[0][: -len("data.pkl")]
        storages: dict[str, _Storage] = {}

        def read_storage(key: str, dtype: np.dtype) -> _Storage:
            if key not in storages:
                name = f"{root}data/{key}"
                try:
                    raw = archive.read(name)
                except KeyError:
                    raise FormatError(path, f"tensor storage {name!r} missing from the archive") from None
                storages[key] = _Storage(dtype, array=np.frombuffer(raw, dtype=dtype.newbyteorder("<")))
            return storages[key]

        with archive.open(pkl[0]) as handle:
            return SafeUnpickler(io.BufferedReader(handle), path, storage_reader=read_storage).load()


def _load_legacy(handle: BinaryIO, path: str | os.PathLike, size: int) -> Any:
    def plain() -> Any:
        return SafeUnpickler(handle, path).load()

    if plain() != _LEGACY_PROTOCOL:
        raise FormatError(path, "legacy torch file with an unknown protocol version")
    plain()  # sys info (endianness, type sizes)
    main = SafeUnpickler(handle, path, legacy=True)
    obj = main.load()
    keys = plain()
    if not isinstance(keys, list):
        raise FormatError(path, "legacy torch file: storage key list missing")
    for key in keys:
        storage = main.storages.get(str(key))
        if storage is None:
            raise FormatError(path, f"legacy torch file lists storage {key!r:.40} that no tensor uses")
        head = handle.read(8)
        if len(head) < 8:
            raise FormatError(path, f"legacy torch file truncated before storage {key!r}")
        (numel,) = struct.unpack("<q", head)
        nbytes = numel * storage.dtype.itemsize
        if numel < 0 or nbytes > size - handle.tell():
            raise FormatError(path, f"legacy torch file truncated inside storage {key!r} ({numel} elements)")
        if storage.numel is not None and numel != storage.numel:
            raise FormatError(path, f"storage {key!r} holds {numel} elements, the pickle says {storage.numel!r:.20}")
        storage.array = np.frombuffer(handle.read(nbytes), dtype=storage.dtype.newbyteorder("<"))
    return obj


_NOTHING = object()


def _torch_load(path: str | os.PathLike) -> tuple[Any, Any]:
    """``(object, torch)`` from ``torch.load(weights_only=True)``; ``(_NOTHING, None)`` when torch is
    absent or does not read the file (our reader then decides)."""
    try:
        import torch
    except ImportError:
        return _NOTHING, None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's own deprecation notes concern its API, not the data
            return torch.load(path, map_location="cpu", weights_only=True), torch
    except Exception:  # noqa: BLE001 - refused or unreadable for torch; our reader gives the error
        return _NOTHING, None


def loads(data: bytes, path: str | os.PathLike | None = None) -> Any:
    """Safely unpickle ``data`` (a plain pickle).

    Raises :class:`FormatError` for anything :func:`load_pickle` refuses.
    """
    return _guarded(path, lambda: _Builder(len(data))(SafeUnpickler(io.BytesIO(data), path).load()))


def load_pickle(path: str | os.PathLike, use_torch: bool = True) -> Any:
    """Safely load a torch.save file (zip or legacy), a bz2 pickle or a plain pickle.

    Tensors and numpy arrays come back as numpy arrays. ``use_torch=False`` reads torch files
    with our reader even when torch is importable. Raises :class:`FormatError` when the file is
    truncated, corrupted, not one of these containers, or holds anything refused (see the
    module docstring): a disallowed global, an object dtype, a tensor view outside its storage,
    a cycle, nesting deeper than :data:`MAX_DEPTH`, or more data than the size limits allow.
    """
    def read() -> Any:
        size, torch = os.path.getsize(path), None
        if zipfile.is_zipfile(path):
            obj, torch = _torch_load(path) if use_torch else (_NOTHING, None)
            if obj is _NOTHING:
                obj = _load_zip(path)
            return _Builder(size, torch)(obj)
        with open(path, "rb") as raw:
            if raw.read(3) == b"BZh":
                raw.seek(0)
                with bz2.BZ2File(raw) as handle:
                    capped = _Capped(handle, _FLOOR + _BZ2_RATIO * size)
                    obj = SafeUnpickler(io.BufferedReader(capped), path).load()
                return _Builder(capped.count)(obj)
            raw.seek(0)
            obj = SafeUnpickler(raw, path).load()
            if type(obj) is int and obj == _LEGACY_MAGIC:
                obj, torch = _torch_load(path) if use_torch else (_NOTHING, None)
                if obj is _NOTHING:
                    obj = _load_legacy(raw, path, size)
            return _Builder(size, torch)(obj)

    return _guarded(path, read)


def _guarded(path, read) -> Any:
    try:
        return read()
    except FormatError as err:
        if err.path is None and path is not None:
            raise FormatError(path, err.problem) from None
        raise
    except Exception as err:  # noqa: BLE001 - any failure to parse untrusted bytes is a format error
        raise FormatError(path, f"cannot unpickle ({type(err).__name__}: {err}); the file is truncated, "
                          "corrupted or not a pickle") from None
