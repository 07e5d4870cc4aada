"""Predictor checkpoints: safetensors weights + JSON config in the file's metadata. No pickle.

One file holds everything: the weights of every ensemble member (``members.<m>.<param>``) and,
in the safetensors header metadata, the predictor's hyperparameters, the featuriser state
(macro feature names and their standardisation), label scaling, the op vocabulary and the
versions that wrote it. Files are written atomically.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from gnnnas.data.paths import atomic_write
from gnnnas.nn.featurize import GraphFeaturizer

if TYPE_CHECKING:  # pragma: no cover
    from gnnnas.predictor import Predictor

__all__ = ["CHECKPOINT_FORMAT_VERSION", "load_checkpoint", "save_checkpoint"]

MAGIC = "gnnnas-predictor"
CHECKPOINT_FORMAT_VERSION = 1


def _error(message: str):
    from gnnnas.predictor import CheckpointError

    return CheckpointError(message)


def save_checkpoint(predictor: Predictor, path: str | os.PathLike) -> None:
    from safetensors.torch import save

    import gnnnas

    params = predictor.get_params()
    params["space"] = predictor.space_.name
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
    }
    metadata = {
        "format": MAGIC,
        "format_version": str(CHECKPOINT_FORMAT_VERSION),
        "gnnnas_version": gnnnas.__version__,
        "torch_version": torch.__version__,
        "params": json.dumps(params, sort_keys=True, default=_plain),
        "state": json.dumps(state, sort_keys=True, default=_plain),
    }
    blob = save(tensors, metadata=metadata)
    with atomic_write(path) as handle:
        handle.write(blob)


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store {value!r} in a checkpoint")


def load_checkpoint(cls, path: str | os.PathLike, space: str | None = None) -> Predictor:
    from safetensors import SafetensorError
    from safetensors.torch import load

    from gnnnas.spaces.registry import get_space

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {str(path)!r}")
    raw = path.read_bytes()
    try:
        tensors = load(raw)
        header_len = int.from_bytes(raw[:8], "little")
        metadata = json.loads(raw[8 : 8 + header_len]).get("__metadata__", {})
    except (SafetensorError, ValueError, UnicodeDecodeError, OverflowError) as error:
        raise _error(f"{str(path)!r} is not a readable gnnnas checkpoint (corrupt or truncated: {error})") from None
    if metadata.get("format") != MAGIC:
        raise _error(f"{str(path)!r} is a safetensors file but not a gnnnas predictor checkpoint")
    version = int(metadata.get("format_version", "0"))
    if version != CHECKPOINT_FORMAT_VERSION:
        raise _error(
            f"{str(path)!r} has checkpoint format {version} (written by gnnnas "
            f"{metadata.get('gnnnas_version', '?')}); this gnnnas reads format {CHECKPOINT_FORMAT_VERSION}"
        )
    try:
        params = json.loads(metadata["params"])
        state = json.loads(metadata["state"])
    except (KeyError, json.JSONDecodeError) as error:
        raise _error(f"{str(path)!r} has a damaged config: {error}") from None
    if space is not None and params["space"] != space:
        raise _error(f"{str(path)!r} is a predictor for space {params['space']!r}, not {space!r}")
    try:
        space_obj = get_space(params["space"])
    except ValueError as error:
        raise _error(f"{str(path)!r}: {error}") from None
    if list(space_obj.vocab.ops) != state["vocab"]:
        raise _error(
            f"{str(path)!r} was trained on ops {state['vocab']}, but space {params['space']!r} "
            f"now has {list(space_obj.vocab.ops)}"
        )
    predictor = cls(**params)
    f = state["featurizer"]
    featurizer = GraphFeaturizer(
        space_obj.vocab,
        node_feature_dim=f["node_feature_dim"],
        macro_names=f["macro_names"],
        prune=f["prune"],
        contract_identities=f["contract_identities"],
    )
    featurizer.macro_mean_ = np.asarray(f["macro_mean"], dtype=np.float32)
    featurizer.macro_std_ = np.asarray(f["macro_std"], dtype=np.float32)
    featurizer.node_mean_ = np.asarray(f["node_mean"], dtype=np.float32)
    featurizer.node_std_ = np.asarray(f["node_std"], dtype=np.float32)
    predictor.space_ = space_obj
    predictor.featurizer_ = featurizer
    predictor.y_mean_ = state["y_mean"]
    predictor.y_std_ = state["y_std"]
    predictor.cell_sequence_ = tuple(state["cell_sequence"]) if state["cell_sequence"] else None
    predictor.n_train_ = state["n_train"]
    predictor.proxy_shape_ = tuple(state["proxy_shape"]) if state.get("proxy_shape") else None
    predictor.proxy_ = None
    predictor.models_ = []
    for m in range(state["n_members"]):
        prefix = f"members.{m}."
        member_state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        model = predictor._new_model()
        try:
            model.load_state_dict(member_state)
        except RuntimeError as error:
            raise _error(f"{str(path)!r}: weights do not fit the model: {error}") from None
        model.eval()
        predictor.models_.append(model)
    predictor.device_ = torch.device("cpu")
    return predictor
