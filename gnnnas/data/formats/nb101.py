"""NAS-Bench-101: the official TFRecord files, streamed, -> one row per module hash.

Layout (google-research/nasbench ``nasbench/api.py``): every TFRecord record is UTF-8 JSON
``[module_hash, epochs, raw_adjacency, raw_operations, raw_metrics]`` - ``raw_adjacency`` a
string of ``n*n`` 0/1 digits (row-major), ``raw_operations`` comma-separated op names,
``raw_metrics`` base64 of a serialized ``ModelMetrics`` (see :mod:`.protobuf`) whose
``evaluation_data[1]`` is the halfway and ``evaluation_data[2]`` the final evaluation. One
record per (hash, epoch budget, repeat): ``nasbench_only108.tfrecord`` holds budget 108 (3
repeats), ``nasbench_full.tfrecord`` budgets 4, 12, 36 and 108.

Columns: ``hash`` (key), ``num_vertices``, ``adjacency`` (n x 49, the matrix zero-padded to 7x7),
``ops`` (n x 7 op codes into :data:`NB101_OP_CODES`, -1 = padding), ``params``
(trainable_parameters) and, per budget ``e`` in 4, 12, 36, 108: ``{train,val,test}_acc_<e>``
(final accuracies as fractions, mean over repeats), ``training_time_<e>`` (s, mean) and
``repeats_<e>`` (count; 0 and NaN metrics where the file lacks the budget).

Validation: every cell must be a valid NB101 spec (``gnnnas.spaces.nb101.validate_spec``: acyclic,
i.e. strictly upper-triangular with no self-loops; ``input`` first and ``output`` last; at most 7
vertices and 9 edges; the input reaching the output); a bad record raises :class:`FormatError`
naming it, before anything is returned.

Memory: records are read one at a time and folded into per-hash sums, so memory grows with
the number of distinct cells (423,624 at most), not with the file (the 2 GB full file).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gnnnas.data.formats.errors import FormatError
from gnnnas.data.formats.protobuf import ProtobufError, decode_model_metrics
from gnnnas.data.formats.safe_pickle import load_pickle
from gnnnas.data.formats.tfrecord import iter_records
from gnnnas.data.table import Table
from gnnnas.spaces.nb101 import validate_spec

if TYPE_CHECKING:
    from gnnnas.progress import Progress

#: Records read between two progress updates (an update per record would cost more than it tells).
_PROGRESS_EVERY = 4096

__all__ = ["NB101_BUDGETS", "NB101_OP_CODES", "Nb101Accumulator", "parse_record", "read_nb101"]

NB101_BUDGETS = (4, 12, 36, 108)
NB101_OP_CODES = ("input", "output", "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
_OP_CODE = {name: i for i, name in enumerate(NB101_OP_CODES)}
_MAX_V = 7
_FIELDS = ("train_acc", "val_acc", "test_acc", "training_time")


class Nb101Accumulator:
    """Folds ``(hash, budget, matrix, ops, final metrics, params)`` observations into per-hash means."""

    def __init__(self) -> None:
        self.rows: dict[str, int] = {}
        self._cap = 1024
        self.adjacency = np.zeros((self._cap, _MAX_V * _MAX_V), dtype=np.int8)
        self.ops = np.full((self._cap, _MAX_V), -1, dtype=np.int8)
        self.num_vertices = np.zeros(self._cap, dtype=np.int8)
        self.params = np.full(self._cap, np.nan)
        self.sums = np.zeros((self._cap, len(NB101_BUDGETS), len(_FIELDS)))
        self.counts = np.zeros((self._cap, len(NB101_BUDGETS)), dtype=np.int32)

    def _grow(self) -> None:
        self._cap *= 2
        for name in ("adjacency", "ops", "num_vertices", "params", "sums", "counts"):
            old = getattr(self, name)
            fill = -1 if name == "ops" else (np.nan if name == "params" else 0)
            new = np.full((self._cap, *old.shape[1:]), fill, dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)

    def add(self, module_hash: str, budget: int, matrix: np.ndarray, ops: list[str],
            final: Mapping[str, float], params: float, where: str, path) -> None:
        if budget not in NB101_BUDGETS:
            raise FormatError(path, f"{where}: epoch budget {budget} is not one of {NB101_BUDGETS}")
        n = len(ops)
        if matrix.shape != (n, n) or not 2 <= n <= _MAX_V:
            raise FormatError(path, f"{where}: adjacency {matrix.shape} does not match {n} operations")
        try:
            codes = [_OP_CODE[o] for o in ops]
        except KeyError as err:
            raise FormatError(path, f"{where}: unknown operation {err.args[0]!r}") from None
        padded = np.zeros((_MAX_V, _MAX_V), dtype=np.int8)
        padded[:n, :n] = matrix
        row = self.rows.get(module_hash)
        if row is None:
            try:
                validate_spec(matrix, ops)
            except ValueError as err:
                raise FormatError(path, f"{where}: not a valid NB101 cell ({err})") from None
            row = len(self.rows)
            if row >= self._cap:
                self._grow()
            self.rows[module_hash] = row
            self.adjacency[row] = padded.reshape(-1)
            self.ops[row, :n] = codes
            self.num_vertices[row] = n
            self.params[row] = params
        elif self.num_vertices[row] != n or not np.array_equal(self.adjacency[row], padded.reshape(-1)) \
                or list(self.ops[row, :n]) != codes:
            raise FormatError(path, f"{where}: hash {module_hash} appeared before with a different graph")
        b = NB101_BUDGETS.index(budget)
        self.sums[row, b] += [final[f] for f in _FIELDS]
        self.counts[row, b] += 1

    def table(self, source: str, kind: str) -> Table:
        n = len(self.rows)
        if n == 0:
            raise FormatError(source, "no records")
        counts = self.counts[:n]
        with np.errstate(invalid="ignore", divide="ignore"):
            means = self.sums[:n] / counts[:, :, None]
        columns: dict[str, Any] = {
            "hash": np.asarray(list(self.rows), dtype=str),
            "num_vertices": self.num_vertices[:n].copy(),
            "adjacency": self.adjacency[:n].copy(),
            "ops": self.ops[:n].copy(),
            "params": self.params[:n].copy(),
        }
        for b, budget in enumerate(NB101_BUDGETS):
            for f, field in enumerate(_FIELDS):
                columns[f"{field}_{budget}"] = means[:, b, f].copy()
            columns[f"repeats_{budget}"] = counts[:, b].copy()
        meta = {"space": "nb101", "source": source, "source_format": kind, "op_codes": list(NB101_OP_CODES)}
        return Table(columns, key="hash", meta=meta)


def parse_record(data: bytes, where: str, path=None) -> tuple[str, int, np.ndarray, list[str], dict, float]:
    """One NB101 record -> ``(hash, budget, matrix, ops, final metrics, trainable params)``."""
    try:
        module_hash, budget, raw_adjacency, raw_operations, raw_metrics = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError, TypeError) as err:
        raise FormatError(path, f"{where}: not the NAS-Bench-101 JSON record "
                          f"[hash, epochs, adjacency, operations, metrics] ({err})") from None
    try:
        digits = np.frombuffer(str(raw_adjacency).encode("ascii"), dtype=np.uint8) - ord("0")
        dim = math.isqrt(len(digits))
        if dim * dim != len(digits) or digits.size == 0 or digits.max(initial=0) > 1:
            raise ValueError("adjacency is not a square 0/1 digit string")
        matrix = digits.reshape(dim, dim).astype(np.int8)
        ops = str(raw_operations).split(",")
        metrics = decode_model_metrics(base64.b64decode(raw_metrics, validate=True))
    except (ValueError, UnicodeEncodeError, binascii.Error, ProtobufError) as err:
        raise FormatError(path, f"{where}: bad record field ({err})") from None
    evaluations = metrics["evaluation_data"]
    if len(evaluations) < 3:
        raise FormatError(path, f"{where}: ModelMetrics has {len(evaluations)} evaluations, expected 3 "
                          "(start, halfway, final)")
    final_eval = evaluations[2]
    final = {
        "train_acc": final_eval.get("train_accuracy", math.nan),
        "val_acc": final_eval.get("validation_accuracy", math.nan),
        "test_acc": final_eval.get("test_accuracy", math.nan),
        "training_time": final_eval.get("training_time", math.nan),
    }
    params = metrics["trainable_parameters"]
    return str(module_hash), int(budget), matrix, ops, final, math.nan if params is None else float(params)


def _from_tfrecord(path: Path, check_crc: bool, progress: Progress | None = None) -> Table:
    acc = Nb101Accumulator()
    if progress is not None:
        progress.set_total(path.stat().st_size, unit="B")
    pending = 0  # bytes read since the last progress update
    for index, data in enumerate(iter_records(path, check_crc=check_crc)):
        where = f"record {index}"
        acc.add(*parse_record(data, where, path), where=where, path=path)
        pending += len(data) + 16  # 8-byte length, two 4-byte CRCs
        if progress is not None and index % _PROGRESS_EVERY == _PROGRESS_EVERY - 1:
            progress.advance(pending, status=f"{len(acc.rows)} cells")
            pending = 0
    if progress is not None and pending:
        progress.advance(pending, status=f"{len(acc.rows)} cells")
    return acc.table(str(path), "nb101-tfrecord")


def _split_entry(entry: Any) -> tuple[Mapping, Mapping]:
    if isinstance(entry, (tuple, list)) and len(entry) == 2:
        return entry[0], entry[1]
    if isinstance(entry, Mapping) and "fixed" in entry and "computed" in entry:
        return entry["fixed"], entry["computed"]
    if isinstance(entry, Mapping):
        return entry, {k: v for k, v in entry.items() if isinstance(k, int) or str(k).isdigit()}
    raise TypeError("entry is neither (fixed, computed) nor a dict")


def _from_pickle(path: Path, progress: Progress | None = None) -> Table:
    data = load_pickle(path)
    if not isinstance(data, Mapping) or not data:
        raise FormatError(path, "not a dict of module hash -> metrics")
    acc = Nb101Accumulator()
    if progress is not None:
        progress.set_total(len(data), unit="cell")
    for index, (module_hash, entry) in enumerate(data.items()):
        if progress is not None and index and index % _PROGRESS_EVERY == 0:
            progress.advance(_PROGRESS_EVERY)
        where = f"entry {index} ({module_hash})"
        try:
            fixed, computed = _split_entry(entry)
            matrix = np.asarray(fixed["module_adjacency"], dtype=np.int8)
            ops = list(fixed["module_operations"])
            params = float(fixed.get("trainable_parameters", math.nan))
            for budget, repeats in computed.items():
                for repeat in repeats:
                    final = {
                        "train_acc": repeat["final_train_accuracy"],
                        "val_acc": repeat["final_validation_accuracy"],
                        "test_acc": repeat["final_test_accuracy"],
                        "training_time": repeat["final_training_time"],
                    }
                    acc.add(str(module_hash), int(budget), matrix, ops, final, params, where, path)
        except FormatError:
            raise
        except (KeyError, TypeError, ValueError) as err:
            raise FormatError(path, f"{where}: expected NASBench.get_metrics_from_hash layout "
                              f"(fixed stats, {{epochs: [repeat metrics]}}): {type(err).__name__} {err}") from None
    if progress is not None:
        progress.advance(len(data) - progress.done)
    return acc.table(str(path), "nb101-pickle")


def _is_tfrecord(path: Path) -> bool:
    return path.suffix == ".tfrecord" or "tfrecord" in path.name


def read_nb101(source: str | os.PathLike, check_crc: bool = True, progress: Progress | None = None) -> Table:
    """Read ``nasbench_only108.tfrecord`` / ``nasbench_full.tfrecord`` (streamed) or a
    ``get_metrics_from_hash``-style pickle (hash -> (fixed, computed)) into a table.

    Raises :class:`FormatError`, naming the record, for a truncated or corrupted file, a record
    out of layout, or a cell that is not a valid NB101 spec (cycle, self-loop, ops not
    ``input`` ... ``output``, too many vertices or edges, input not reaching the output).
    ``progress`` (a :class:`gnnnas.progress.Progress`) is told the bytes read (TFRecord) or the
    cells folded (pickle).
    """
    source = Path(source)
    if not source.is_file():
        raise FormatError(source, "no such file")
    if _is_tfrecord(source):
        return _from_tfrecord(source, check_crc, progress)
    return _from_pickle(source, progress)

