"""TFRecord files read and written without TensorFlow, one record at a time.

Framing of every record (little-endian), as TensorFlow's ``RecordWriter`` writes it::

    uint64 length | uint32 masked_crc32c(length bytes) | data[length] | uint32 masked_crc32c(data)

Reading streams: only the current record is in memory, so a multi-gigabyte file needs no
more RAM than its largest record. CRCs are checked by default (a flipped bit or a cut download
raises :class:`FormatError` naming the record and byte offset); ``check_crc=False`` skips them
for speed. :func:`parse_example` decodes a serialized ``tf.train.Example`` by hand for files
that hold Examples (NAS-Bench-101's records are JSON, not Examples).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from gnnnas.data.formats.crc32c import masked_crc32c
from gnnnas.data.formats.errors import FormatError
from gnnnas.data.formats.protobuf import iter_fields, read_varint

__all__ = ["iter_records", "parse_example", "write_records"]

_HEADER = struct.Struct("<QI")
_FOOTER = struct.Struct("<I")
#: Refuse absurd lengths (a corrupted length field) before trying to allocate them.
MAX_RECORD_BYTES = 1 << 31


def _read_exact(handle: BinaryIO, n: int) -> bytes:
    data = handle.read(n)
    return data if data is not None else b""


def iter_records(path: str | os.PathLike, check_crc: bool = True) -> Iterator[bytes]:
    """Yield the data of each record of the TFRecord file ``path`` in file order."""
    with open(path, "rb") as handle:
        offset = 0
        index = 0
        while True:
            header = _read_exact(handle, _HEADER.size)
            if not header:
                return
            if len(header) < _HEADER.size:
                raise FormatError(path, f"truncated record header ({len(header)} of {_HEADER.size} bytes)",
                                  offset=offset, record=index)
            length, length_crc = _HEADER.unpack(header)
            if check_crc and masked_crc32c(header[:8]) != length_crc:
                raise FormatError(path, "length CRC mismatch: corrupted file or not a TFRecord file",
                                  offset=offset, record=index)
            if length > MAX_RECORD_BYTES:
                raise FormatError(path, f"record length {length} is implausible: corrupted file or not a "
                                  "TFRecord file", offset=offset, record=index)
            data = _read_exact(handle, length)
            footer = _read_exact(handle, _FOOTER.size)
            if len(data) < length or len(footer) < _FOOTER.size:
                raise FormatError(path, f"truncated record: expected {length} data bytes + 4 CRC bytes, "
                                  "the file ends first (incomplete download?)", offset=offset, record=index)
            if check_crc and masked_crc32c(data) != _FOOTER.unpack(footer)[0]:
                raise FormatError(path, "data CRC mismatch: the record is corrupted",
                                  offset=offset, record=index)
            yield data
            offset += _HEADER.size + length + _FOOTER.size
            index += 1


def write_records(path: str | os.PathLike, records: Iterable[bytes]) -> int:
    """Write ``records`` as a TFRecord file (for tests and benchmarks); returns the count."""
    count = 0
    with open(path, "wb") as handle:
        for data in records:
            length = struct.pack("<Q", len(data))
            handle.write(length)
            handle.write(_FOOTER.pack(masked_crc32c(length)))
            handle.write(data)
            handle.write(_FOOTER.pack(masked_crc32c(data)))
            count += 1
    return count


def _packed_or_single(wire: int, value, kind: str) -> list:
    if kind == "int64":
        if wire == 0:
            return [value - (1 << 64) if value >= 1 << 63 else value]
        out, pos = [], 0
        while pos < len(value):
            v, pos = read_varint(value, pos)
            out.append(v - (1 << 64) if v >= 1 << 63 else v)
        return out
    if wire == 5:
        return [struct.unpack("<f", value)[0]]
    return list(struct.unpack(f"<{len(value) // 4}f", value))


def _parse_feature(data: bytes) -> list:
    for number, _wire, value in iter_fields(data):
        if number == 1:  # BytesList {repeated bytes value = 1}
            return [v for n, _w, v in iter_fields(value) if n == 1]
        if number == 2:  # FloatList {repeated float value = 1 [packed]}
            return [x for n, w, v in iter_fields(value) if n == 1 for x in _packed_or_single(w, v, "float")]
        if number == 3:  # Int64List {repeated int64 value = 1 [packed]}
            return [x for n, w, v in iter_fields(value) if n == 1 for x in _packed_or_single(w, v, "int64")]
    return []


def parse_example(data: bytes) -> dict[str, list]:
    """``tf.train.Example`` bytes -> ``{feature name: list of bytes / float / int}``.

    Example {Features features = 1}; Features {map<string, Feature> feature = 1} (map entries:
    key = 1, value = 2); Feature {oneof: BytesList = 1, FloatList = 2, Int64List = 3}.
    """
    features: dict[str, list] = {}
    for number, _wire, value in iter_fields(data):
        if number != 1:
            continue
        for entry_number, _w, entry in iter_fields(value):
            if entry_number != 1:
                continue
            key, feature = b"", b""
            for n, _ww, v in iter_fields(entry):
                if n == 1:
                    key = v
                elif n == 2:
                    feature = v
            features[key.decode("utf-8")] = _parse_feature(feature)
    return features
