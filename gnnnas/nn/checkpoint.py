"""Predictor checkpoints and pre-trained encoders: safetensors weights + JSON config in the
file's metadata. No pickle.

One file holds everything: the weights of every ensemble member (``members.<m>.<param>``) and,
in the safetensors header metadata, the predictor's hyperparameters, the featuriser state
(macro feature names and their standardisation), label scaling, the op vocabulary, the
versions that wrote it and the SHA-256 of the tensor data (``tensors_sha256``).

Loading checks the checksum (a flipped byte in the weights is a :class:`CheckpointError`
"checksum mismatch", not silently different predictions) and every config field (a
hand-edited ``n_members: 0`` or ``y_std: NaN`` is an error naming the field). The config itself
is not checksummed: it is validated field by field instead.

Files are written atomically with the usual permissions (``0o666`` less the umask): to a
temporary file ``.<name>.tmp-<pid>-<random>`` beside the target, renamed into place when
complete. Temporary files that a killed save left behind are removed by the next save of the
same target (those of processes still running are left alone).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from gnnnas.files import atomic_write
from gnnnas.nn.featurize import GraphFeaturizer

if TYPE_CHECKING:  # pragma: no cover
    from gnnnas.predictor import Predictor

__all__ = [
    "CHECKPOINT_FORMAT_VERSION",
    "ENCODER_FORMAT_VERSION",
    "ENCODER_PARAMS",
    "PretrainedEncoder",
    "featurizer_from_state",
    "load_checkpoint",
    "load_encoder",
    "save_checkpoint",
    "save_encoder",
]

MAGIC = "gnnnas-predictor"
#: 2: adds ``tensors_sha256``. Format 1 files (no checksum) are refused with a clear error.
#: 3: the encoder is built from torch-geometric convolutions; ``params`` names the ``conv``
#: (``aggr`` is gone). A format-2 file with ``aggr="mean"`` loads into ``conv="gcn"``, which
#: computes the same function with the same weight names; other format-2 encoders are refused.
#: 4: ``gine`` and ``resgated`` aggregate by mean (they summed): format-3 files of those two
#: convs are refused, the others load unchanged.
CHECKPOINT_FORMAT_VERSION = 4


def _error(message: str):
    from gnnnas.predictor import CheckpointError

    return CheckpointError(message)


# ---------------------------------------------------------------------- save
def save_checkpoint(predictor: Predictor, path: str | os.PathLike) -> None:
    """Write ``predictor`` to ``path`` atomically (see the module docstring).

    Raises:
        ValueError: a weight is NaN or infinite, or the conv is not a named one (nothing written).
    """
    from gnnnas.nn.convs import conv_name

    params = predictor.get_params()
    params["space"] = predictor.space_.name
    params["conv"] = conv_name(predictor.conv)
    if params["conv"] is None:
        raise ValueError(
            f"cannot save a predictor whose conv is {predictor.conv!r}: checkpoints store a conv by name; "
            "register it first with gnnnas.nn.register_conv(name, factory) (then it is saved under that name)"
        )
    if isinstance(params.get("pretrained"), os.PathLike):
        params["pretrained"] = os.fspath(params["pretrained"])  # the file it started from, as a record
    if not isinstance(params.get("proxy_data"), str):
        # user images are not stored; remember their name, and pass them to proxy_scores again
        proxy = getattr(predictor, "proxy_", None)
        params["proxy_data"] = proxy.name if proxy is not None else "digits"
    tensors = {}
    for m, model in enumerate(predictor.models_):
        for name, value in model.state_dict().items():
            tensors[f"members.{m}.{name}"] = value.detach().cpu().contiguous()
    state = {
        "featurizer": predictor.featurizer_.get_state(),
        "y_mean": predictor.y_mean_,
        "y_std": predictor.y_std_,
        "cell_sequence": list(predictor.cell_sequence_) if predictor.cell_sequence_ else None,
        "n_members": len(predictor.models_),
        "n_train": predictor.n_train_,
        "vocab": list(predictor.space_.vocab.ops),
        "proxy_shape": list(predictor.proxy_shape_) if getattr(predictor, "proxy_shape_", None) else None,
        "encoder_start": getattr(predictor, "encoder_start_", None),
    }
    _write(path, tensors, MAGIC, CHECKPOINT_FORMAT_VERSION, params=params, state=state)


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store {value!r} in a checkpoint")


def _data_sha256(blob: bytes) -> str:
    """SHA-256 of a safetensors blob's tensor data (everything after the header)."""
    header_len = int.from_bytes(blob[:8], "little")
    return hashlib.sha256(blob[8 + header_len :]).hexdigest()


def _write(path: str | os.PathLike, tensors: dict, magic: str, version: int, **config: Any) -> None:
    """Write ``tensors`` as safetensors with the gnnnas header (format, versions, the SHA-256 of
    the tensor data, each ``config`` entry as JSON), atomically."""
    from safetensors.torch import save

    import gnnnas

    if (name := _non_finite(tensors)) is not None:  # a file no loader would take: refuse before writing
        raise ValueError(f"not writing {str(path)!r}: tensor {name!r} holds NaN or infinite values "
                         "(its training diverged); train it again with a lower lr")
    metadata = {
        "format": magic,
        "format_version": str(version),
        "gnnnas_version": gnnnas.__version__,
        "torch_version": torch.__version__,
        # the data section does not depend on the metadata: hash it from a metadata-free blob
        "tensors_sha256": _data_sha256(save(tensors)),
        **{name: json.dumps(value, sort_keys=True, default=_plain) for name, value in config.items()},
    }
    _write_atomically(Path(path), save(tensors, metadata=metadata))


def _write_atomically(path: Path, blob: bytes) -> None:
    with atomic_write(path) as handle:
        handle.write(blob)


# ---------------------------------------------------------------------- load
def _upgrade_format_2(where: str, params: dict) -> dict:
    """Format 2 (dense encoder with ``aggr``) -> format 3 params, for the one encoder that ported."""
    params = dict(params)
    aggr = params.pop("aggr", "mean")
    if aggr != "mean":
        raise _error(
            f"{where} has checkpoint format 2 with the dense encoder aggr={aggr!r}, which gnnnas no longer has "
            f"(format {CHECKPOINT_FORMAT_VERSION} builds the encoder from torch-geometric convs); refit the "
            "predictor, e.g. with conv='gin' or conv='gatv2', and save it again"
        )
    params["conv"] = "gcn"  # the same function, the same weight names (tests/nn/test_encoder_port.py)
    return params


def _refuse_summed_conv(where: str, version: str, conv: Any, kind: str, fix: str) -> None:
    """Files written before the format that made ``gine``/``resgated`` aggregate by mean hold
    weights trained for sums: they would load, and silently compute another function."""
    from gnnnas.nn.convs import SUMMED_BEFORE_FORMAT_4

    if conv in SUMMED_BEFORE_FORMAT_4:
        raise _error(f"{where} has {kind} format {version} with conv={conv!r}, whose messages were summed; this "
                     f"gnnnas aggregates them by mean (large graphs such as DARTS diverged with sums): {fix}")


def _newer_hint(version: Any, current: int) -> str:
    """The advice for a file written by a newer gnnnas: upgrading reads it, refitting loses it."""
    newer = isinstance(version, str) and version.isdigit() and int(version) > current
    return "; a newer gnnnas wrote it: upgrade gnnnas (pip install --upgrade gnnnas) to read it" if newer else ""


def _is_int(low: int):
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low


def _is_real(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_list(v: Any, item, length: int | None = None) -> bool:
    return isinstance(v, list) and (length is None or len(v) == length) and all(item(x) for x in v)


def _is_bool(v: Any) -> bool:
    return isinstance(v, bool)


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


#: Header ``state`` fields: (valid?, what they must be).
_STATE_FIELDS = {
    "y_mean": (_is_real, "a finite number"),
    "y_std": (lambda v: _is_real(v) and v > 0, "a finite number > 0"),
    "n_members": (_is_int(1), "a positive integer"),
    "n_train": (_is_int(2), "an integer >= 2"),
    "vocab": (lambda v: _is_list(v, _is_str), "a list of op names"),
    "cell_sequence": (lambda v: v is None or _is_list(v, _is_int(0)), "null or a list of cell indices"),
    "proxy_shape": (lambda v: v is None or _is_list(v, _is_int(1), 2), "null or [channels, classes]"),
    "featurizer": (lambda v: isinstance(v, dict), "an object"),
}
#: State fields added within a format version: checked when present, absent in older files.
_OPTIONAL_STATE_FIELDS = {
    "encoder_start": (lambda v: v is None or _is_str(v), "null or a string"),
}
_FEATURIZER_FIELDS = {
    "node_feature_dim": (_is_int(0), "an integer >= 0"),
    "macro_names": (lambda v: _is_list(v, _is_str), "a list of names"),
    "prune": (_is_bool, "true or false"),
    "contract_identities": (_is_bool, "true or false"),
}


def _checked(where: str, table: dict, name: str, valid, what: str, prefix: str = "") -> None:
    if name not in table:
        raise _error(f"{where}: header field '{prefix}{name}' is missing")
    if not valid(table[name]):
        raise _error(f"{where}: header field '{prefix}{name}' must be {what}, got {table[name]!r}")


def _check_featurizer(where: str, f: dict, prefix: str) -> None:
    """Every field of a stored featurizer state (CheckpointError naming the first bad one)."""
    for name, (valid, what) in _FEATURIZER_FIELDS.items():
        _checked(where, f, name, valid, what, prefix=prefix)
    for kind, n in (("macro", len(f["macro_names"])), ("node", f["node_feature_dim"])):
        _checked(where, f, f"{kind}_mean", lambda v, n=n: _is_list(v, _is_real, n), f"{n} finite numbers",
                 prefix=prefix)
        _checked(where, f, f"{kind}_std", lambda v, n=n: _is_list(v, lambda x: _is_real(x) and x > 0, n),
                 f"{n} finite numbers > 0", prefix=prefix)


def _start_agrees(start: str, params: dict) -> bool:
    """Whether ``encoder_start`` names a start that a predictor of ``params`` can take (the
    rules of ``Predictor``'s ``pretrained``): the header has no checksum, so it is checked."""
    from gnnnas.nn.pretext import format_pretrain, parse_pretrain

    pretrain, pretrained = params.get("pretrain"), params.get("pretrained")
    shipped = f"shipped:{params['space']}"
    if pretrain is not None:
        try:
            return start == f"pretrain:{format_pretrain(parse_pretrain(pretrain))}"
        except ValueError:
            return False
    if pretrained is None:
        return start == "random"
    if pretrained == "auto":
        return start in ("random", shipped)
    if pretrained == "default":
        return start == shipped
    return start.startswith("file:") and len(start) > len("file:")


def _check_state(where: str, state: Any, params: dict, tensors: dict) -> dict:
    """The header's ``state``, every field checked (CheckpointError naming the first bad one)."""
    if not isinstance(state, dict):
        raise _error(f"{where}: header field 'state' must be an object, got {state!r}")
    for name, (valid, what) in _STATE_FIELDS.items():
        _checked(where, state, name, valid, what)
    for name, (valid, what) in _OPTIONAL_STATE_FIELDS.items():
        state.setdefault(name, None)
        _checked(where, state, name, valid, what)
    if state["encoder_start"] is not None and not _start_agrees(state["encoder_start"], params):
        raise _error(f"{where}: header field 'encoder_start' is {state['encoder_start']!r}, which a fit with "
                     f"pretrain={params.get('pretrain')!r}, pretrained={params.get('pretrained')!r} cannot take")
    _check_featurizer(where, state["featurizer"], "featurizer.")
    if (state["proxy_shape"] is None) == bool(params["hypernetwork"]):
        raise _error(f"{where}: header field 'proxy_shape' is {state['proxy_shape']!r} but the "
                     f"hypernetwork parameter is {params['hypernetwork']!r}")
    stored = {k.split(".")[1] for k in tensors}  # keys are members.<m>.<param>
    if stored != {str(m) for m in range(state["n_members"])}:
        raise _error(f"{where}: header field 'n_members' is {state['n_members']} but the file holds "
                     f"weights of members {sorted(stored)}")
    return state


def _read(path: str | os.PathLike, magic: str, what: str) -> tuple[str, dict, dict, bytes]:
    """``(where, metadata, tensors, raw bytes)`` of a gnnnas safetensors file whose ``format``
    is ``magic``. The caller checks the format version, then :func:`_verify`."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    path = Path(path)
    where = repr(str(path))
    if not path.is_file():
        raise FileNotFoundError(f"no {what} at {where}")
    raw = path.read_bytes()
    try:
        tensors = load(raw)
        header = json.loads(raw[8 : 8 + int.from_bytes(raw[:8], "little")])
    except (SafetensorError, ValueError, UnicodeDecodeError, OverflowError) as error:
        raise _error(f"{where} is not a readable gnnnas {what} (corrupt or truncated: {error})") from None
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(metadata, dict) or metadata.get("format") != magic:
        raise _error(f"{where} is a safetensors file but not a gnnnas {what}")
    return where, metadata, tensors, raw


def _verify(where: str, metadata: dict, raw: bytes) -> None:
    """CheckpointError unless the tensor data hash to the header's ``tensors_sha256``."""
    digest = _data_sha256(raw)
    if metadata.get("tensors_sha256") != digest:
        raise _error(f"{where}: checksum mismatch: the weights are damaged (header field 'tensors_sha256' "
                     f"is {metadata.get('tensors_sha256')!r}, the data hash to {digest!r})")


def _non_finite(tensors: dict) -> str | None:
    """The name of the first floating-point or complex tensor of ``tensors`` holding NaN or an
    infinity, or None."""
    return next((name for name, value in tensors.items()
                 if (value.is_floating_point() or value.is_complex()) and not bool(torch.isfinite(value).all())),
                None)


def _refuse_non_finite(where: str, tensors: dict) -> None:
    """CheckpointError if a weight is NaN or infinite: such a network scores every arch NaN (a
    diverged training run, or a file written by other code; the checksum cannot tell)."""
    if (name := _non_finite(tensors)) is not None:
        raise _error(f"{where}: tensor {name!r} holds NaN or infinite values (its training diverged); "
                     "train it again with a lower lr")


def load_checkpoint(cls, path: str | os.PathLike, space: str | None = None) -> Predictor:
    """Rebuild a Predictor from :func:`save_checkpoint`'s file.

    Raises:
        FileNotFoundError: there is no file at ``path``.
        CheckpointError: the file is not a readable gnnnas checkpoint, is of another format
            version or (``space`` given) another space, its tensor data fail the checksum
            ("checksum mismatch"), a weight is NaN or infinite, or a header field is invalid
            (the message names it).
    """
    from gnnnas.spaces.registry import get_space

    where, metadata, tensors, raw = _read(path, MAGIC, "predictor checkpoint")
    version = metadata.get("format_version")
    if version not in (str(CHECKPOINT_FORMAT_VERSION), "3", "2"):
        hint = ("; format 1 has no checksum of the weights: fit and save the predictor again" if version == "1"
                else _newer_hint(version, CHECKPOINT_FORMAT_VERSION))
        raise _error(
            f"{where} has checkpoint format {version} (written by gnnnas "
            f"{metadata.get('gnnnas_version', '?')}); this gnnnas reads formats 2 to {CHECKPOINT_FORMAT_VERSION}{hint}"
        )
    _verify(where, metadata, raw)
    _refuse_non_finite(where, tensors)
    try:
        params = json.loads(metadata["params"])
        state = json.loads(metadata["state"])
    except (KeyError, TypeError, json.JSONDecodeError) as error:
        raise _error(f"{where} has a damaged config: {error}") from None
    if not isinstance(params, dict) or not isinstance(params.get("space"), str):
        raise _error(f"{where}: header field 'params' must be an object with a space name, got {params!r}")
    if version == "2":
        params = _upgrade_format_2(where, params)
    if version == "3":
        _refuse_summed_conv(where, version, params.get("conv"), "checkpoint",
                            "fit the predictor again and save it")
    if space is not None and params["space"] != space:
        raise _error(f"{where} is a predictor for space {params['space']!r}, not {space!r}")
    # written before `pretrained` existed, when every fit started from random weights: a refit
    # of the loaded predictor must too, not take today's default start
    if "pretrained" not in params:
        params["pretrained"] = None
        if isinstance(state, dict) and params.get("pretrain") is None:
            state.setdefault("encoder_start", "random")
    try:
        predictor = cls(**params)
        predictor._check_params()
    except (TypeError, ValueError) as error:
        raise _error(f"{where}: header field 'params' is invalid: {error}") from None
    state = _check_state(where, state, params, tensors)
    try:
        space_obj = get_space(params["space"])
    except ValueError as error:
        raise _error(f"{where}: {error}") from None
    if list(space_obj.vocab.ops) != state["vocab"]:
        raise _error(
            f"{where} was trained on ops {state['vocab']}, but space {params['space']!r} "
            f"now has {list(space_obj.vocab.ops)}"
        )
    featurizer = featurizer_from_state(space_obj.vocab, state["featurizer"])
    predictor.space_ = space_obj
    predictor.featurizer_ = featurizer
    predictor.y_mean_ = float(state["y_mean"])
    predictor.y_std_ = float(state["y_std"])
    predictor.cell_sequence_ = tuple(state["cell_sequence"]) if state["cell_sequence"] else None
    predictor.n_train_ = state["n_train"]
    predictor.proxy_shape_ = tuple(state["proxy_shape"]) if state["proxy_shape"] else None
    predictor.encoder_start_ = state["encoder_start"]
    predictor.proxy_ = None
    predictor.models_ = []
    for m in range(state["n_members"]):
        prefix = f"members.{m}."
        member_state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        try:
            model = predictor._new_model()
            model.load_state_dict(member_state)
        except (RuntimeError, ValueError) as error:
            raise _error(f"{where}: weights do not fit the model: {error}") from None
        model.eval()
        predictor.models_.append(model)
    predictor.device_ = torch.device("cpu")
    return predictor


# ---------------------------------------------------------------------- pre-trained encoders
ENCODER_MAGIC = "gnnnas-encoder"
#: 1: encoder weights (``encoder.<param>``) + ``params``, ``featurizer`` and ``pretrain`` config.
#: 2: ``gine`` and ``resgated`` aggregate by mean; format-1 encoders of those convs are refused.
ENCODER_FORMAT_VERSION = 2
#: Predictor parameters that fix an encoder's shape and inputs: a pre-trained encoder starts a
#: predictor only where these agree.
ENCODER_PARAMS = ("space", "hidden_dim", "num_layers", "conv", "use_global_node", "cell_context", "readout",
                  "global_mode", "macro_features", "prune", "contract_identities")


@dataclass(frozen=True)
class PretrainedEncoder:
    """A pre-trained encoder as stored by :func:`save_encoder`.

    Attributes:
        params: the :data:`ENCODER_PARAMS` of the predictor that pre-trained it.
        featurizer: the featurizer state it was trained with (``GraphFeaturizer.get_state``).
        vocab: the space's op names.
        cell_sequence: macro order of the cells, or None.
        pretrain: how it was trained (tasks, epochs, number of archs, seed, per-epoch losses).
        state: the encoder's ``state_dict``.
    """

    params: dict
    featurizer: dict
    vocab: list
    cell_sequence: tuple | None
    pretrain: dict
    state: dict


def save_encoder(path: str | os.PathLike, encoder: PretrainedEncoder) -> None:
    """Write a pre-trained encoder to ``path`` atomically: safetensors weights, JSON config in the
    header metadata, the tensor data's SHA-256 (checked on load).

    Raises:
        ValueError: a weight is NaN or infinite (nothing is written).
    """
    tensors = {f"encoder.{k}": v.detach().cpu().contiguous() for k, v in encoder.state.items()}
    config = {"params": encoder.params, "featurizer": encoder.featurizer, "vocab": list(encoder.vocab),
              "cell_sequence": list(encoder.cell_sequence) if encoder.cell_sequence else None,
              "pretrain": encoder.pretrain}
    _write(path, tensors, ENCODER_MAGIC, ENCODER_FORMAT_VERSION, config=config)


def load_encoder(path: str | os.PathLike) -> PretrainedEncoder:
    """Read :func:`save_encoder`'s file.

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: not a readable gnnnas pre-trained encoder, another format version,
            damaged weights ("checksum mismatch"), NaN or infinite weights, or an invalid config
            field (named).
    """
    where, metadata, tensors, raw = _read(path, ENCODER_MAGIC, "pre-trained encoder")
    version = metadata.get("format_version")
    if version not in (str(ENCODER_FORMAT_VERSION), "1"):
        raise _error(f"{where} has pre-trained encoder format {version} (written by gnnnas "
                     f"{metadata.get('gnnnas_version', '?')}); this gnnnas reads formats 1 and {ENCODER_FORMAT_VERSION}"
                     + (_newer_hint(version, ENCODER_FORMAT_VERSION) or ": pre-train it again (gnnnas pretrain)"))
    _verify(where, metadata, raw)
    _refuse_non_finite(where, tensors)
    try:
        config = json.loads(metadata["config"])
    except (KeyError, TypeError, json.JSONDecodeError) as error:
        raise _error(f"{where} has a damaged config: {error}") from None
    if not isinstance(config, dict):
        raise _error(f"{where}: header field 'config' must be an object, got {config!r}")
    _checked(where, config, "params", lambda v: isinstance(v, dict) and all(k in v for k in ENCODER_PARAMS),
             f"an object with {list(ENCODER_PARAMS)}", prefix="config.")
    _checked(where, config, "vocab", lambda v: _is_list(v, _is_str), "a list of op names", prefix="config.")
    _checked(where, config, "cell_sequence", lambda v: v is None or _is_list(v, _is_int(0)),
             "null or a list of cell indices", prefix="config.")
    _checked(where, config, "pretrain", lambda v: isinstance(v, dict), "an object", prefix="config.")
    _checked(where, config, "featurizer", lambda v: isinstance(v, dict), "an object", prefix="config.")
    if version == "1":
        _refuse_summed_conv(where, version, config["params"].get("conv"), "pre-trained encoder",
                            "pre-train it again (gnnnas pretrain)")
    f = config["featurizer"]
    _check_featurizer(where, f, "config.featurizer.")
    if not tensors or any(not k.startswith("encoder.") for k in tensors):
        raise _error(f"{where}: the file must hold encoder weights only (encoder.<param>), got {sorted(tensors)[:5]}")
    state = {k[len("encoder."):]: v for k, v in tensors.items()}
    return PretrainedEncoder(params=config["params"], featurizer=f, vocab=config["vocab"],
                             cell_sequence=tuple(config["cell_sequence"]) if config["cell_sequence"] else None,
                             pretrain=config["pretrain"], state=state)


def featurizer_from_state(vocab, state: dict) -> GraphFeaturizer:
    """A fitted :class:`GraphFeaturizer` from its ``get_state()`` (as stored in checkpoints)."""
    featurizer = GraphFeaturizer(vocab, node_feature_dim=state["node_feature_dim"], macro_names=state["macro_names"],
                                 prune=state["prune"], contract_identities=state["contract_identities"])
    featurizer.macro_mean_ = np.asarray(state["macro_mean"], dtype=np.float32)
    featurizer.macro_std_ = np.asarray(state["macro_std"], dtype=np.float32)
    featurizer.node_mean_ = np.asarray(state["node_mean"], dtype=np.float32)
    featurizer.node_std_ = np.asarray(state["node_std"], dtype=np.float32)
    return featurizer
