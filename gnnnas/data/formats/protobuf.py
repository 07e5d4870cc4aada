"""A minimal protocol-buffers wire-format decoder, and NAS-Bench-101's ``ModelMetrics``.

Only what the benchmark files need: varints, 64-bit and 32-bit fixed fields and
length-delimited fields. ``ModelMetrics`` follows ``nasbench/lib/model_metrics.proto``
(google-research/nasbench)::

    ModelMetrics   {repeated EvaluationData evaluation_data = 1; int32 trainable_parameters = 2;
                    double total_time = 3}
    EvaluationData {double current_epoch = 1; double training_time = 2; double train_accuracy = 3;
                    double validation_accuracy = 4; double test_accuracy = 5;
                    string checkpoint_path = 6}
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

__all__ = ["ProtobufError", "decode_model_metrics", "encode_model_metrics", "iter_fields", "read_varint"]

_DOUBLE = struct.Struct("<d")
_EVAL_FIELDS = {
    1: "current_epoch",
    2: "training_time",
    3: "train_accuracy",
    4: "validation_accuracy",
    5: "test_accuracy",
}


class ProtobufError(ValueError):
    """The bytes are not a well-formed protocol buffer."""


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """Decode the varint at ``pos``; returns ``(value, next position)``."""
    result = 0
    shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ProtobufError("varint longer than 10 bytes")


def iter_fields(data: bytes) -> Iterator[tuple[int, int, Any]]:
    """Yield ``(field number, wire type, value)``: an int for varints, bytes for the rest."""
    pos = 0
    n = len(data)
    while pos < n:
        key, pos = read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ProtobufError("field number 0")
        if wire == 0:
            value, pos = read_varint(data, pos)
        elif wire == 1:
            if pos + 8 > n:
                raise ProtobufError("truncated 64-bit field")
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 2:
            length, pos = read_varint(data, pos)
            if pos + length > n:
                raise ProtobufError(f"length-delimited field {number} runs past the end")
            value, pos = data[pos:pos + length], pos + length
        elif wire == 5:
            if pos + 4 > n:
                raise ProtobufError("truncated 32-bit field")
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise ProtobufError(f"unsupported wire type {wire} (field {number})")
        yield number, wire, value


def _double(wire: int, value: Any, name: str) -> float:
    if wire != 1:
        raise ProtobufError(f"field {name} should be a double (wire type 1), got wire type {wire}")
    return _DOUBLE.unpack(value)[0]


def decode_model_metrics(data: bytes) -> dict[str, Any]:
    """Serialized ``ModelMetrics`` -> ``{"evaluation_data": [dict, ...], "trainable_parameters",
    "total_time"}``; unknown fields are skipped, as protobuf parsers do."""
    out: dict[str, Any] = {"evaluation_data": [], "trainable_parameters": None, "total_time": None}
    for number, wire, value in iter_fields(data):
        if number == 1 and wire == 2:
            evaluation: dict[str, Any] = {}
            for n, w, v in iter_fields(value):
                if n in _EVAL_FIELDS:
                    evaluation[_EVAL_FIELDS[n]] = _double(w, v, _EVAL_FIELDS[n])
                elif n == 6 and w == 2:
                    evaluation["checkpoint_path"] = v.decode("utf-8", "replace")
            out["evaluation_data"].append(evaluation)
        elif number == 2:
            if wire != 0:
                raise ProtobufError(f"trainable_parameters should be a varint, got wire type {wire}")
            out["trainable_parameters"] = value - (1 << 64) if value >= 1 << 63 else value
        elif number == 3:
            out["total_time"] = _double(wire, value, "total_time")
    return out


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode_model_metrics(evaluations: list[dict[str, float]], trainable_parameters: int,
                         total_time: float) -> bytes:
    """Serialize a ``ModelMetrics`` (for tests and synthetic files), fields in proto order."""
    out = bytearray()
    for evaluation in evaluations:
        body = bytearray()
        for number, name in _EVAL_FIELDS.items():
            if name in evaluation:
                body += _varint(number << 3 | 1) + _DOUBLE.pack(float(evaluation[name]))
        out += _varint(1 << 3 | 2) + _varint(len(body)) + body
    out += _varint(2 << 3 | 0) + _varint(int(trainable_parameters))
    out += _varint(3 << 3 | 1) + _DOUBLE.pack(float(total_time))
    return bytes(out)
