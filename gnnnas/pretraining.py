"""The self-supervised stage of :class:`gnnnas.Predictor` (``pretrain=``, ``pretrained="default"``).

:mod:`gnnnas.nn.pretrain` trains an encoder on pretext tasks; this module decides what it
trains on and with which targets for a predictor: the pool of unlabelled architectures (all of
a finite space, seeded samples, or the user's), the probe targets of ``zero_cost`` / ``flow``
(:mod:`gnnnas.nn.probe`, cached on disk), the executor and images of ``hypernetwork``, and a
memo so that fits which differ only in their labels pre-train once per process. It reads the
predictor's hyperparameters and never its labels.
"""

from __future__ import annotations

import copy
import json
import sys
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gnnnas import distributed
from gnnnas.graph import ArchGraph
from gnnnas.nn.checkpoint import PretrainedEncoder
from gnnnas.nn.featurize import GraphFeaturizer
from gnnnas.nn.pretext import format_pretrain, parse_pretrain
from gnnnas.nn.pretrain import pretrain_encoder
from gnnnas.nn.probe import FLOW_NAMES, ZERO_COST_NAMES, cached_probe_scores
from gnnnas.params import CONV_NAMES
from gnnnas.spaces.base import SearchSpace

__all__ = ["MEMO", "RUN_PRETEXTS", "pretrain_pool", "pretrain_stage", "probe_targets", "shipped_encoder", "shipped_spaces"]

#: Pre-trained encoders of this process, by everything that determines them (not the labels).
MEMO: OrderedDict = OrderedDict()
#: How many encoders :data:`MEMO` keeps (least recently used dropped first). An encoder is a few
#: hundred KB; 32 covers a benchmark sweep of 5 seeds x 6 pretext variants over every train size
#: (seeds and variants vary fastest), which otherwise pre-trains again for each size.
MEMO_SIZE = 32


def _recall(key: tuple) -> PretrainedEncoder | None:
    """A copy of the memoised encoder of ``key`` (made the most recently used), or None. Each
    predictor gets its own copy: editing one's ``pretrained_encoder_`` changes no other fit."""
    if key not in MEMO:
        return None
    MEMO.move_to_end(key)
    return copy.deepcopy(MEMO[key])


def _remember(key: tuple, result: PretrainedEncoder) -> None:
    """Keep a copy of ``result`` under ``key``, dropping the least recently used beyond :data:`MEMO_SIZE`."""
    MEMO[key] = copy.deepcopy(result)
    MEMO.move_to_end(key)
    while len(MEMO) > MEMO_SIZE:
        MEMO.popitem(last=False)


def pretrain_pool(predictor, space: SearchSpace, unlabelled: Sequence[Any] | None) -> list[ArchGraph]:
    """The unlabelled architectures the stage trains on (see ``Predictor(pretrain=...)``)."""
    if unlabelled is not None:
        pool = predictor._as_archs(unlabelled, space)
    else:
        pool = None
        if space.size is not None and space.size <= predictor.pretrain_archs:
            try:
                pool = list(space.enumerate())
            except TypeError:  # a finite space that does not implement enumerate()
                pool = None
    if pool is None:
        rng = np.random.default_rng(None if predictor.seed is None else int(predictor.seed) + 104729)
        pool = [space.sample(rng) for _ in range(predictor.pretrain_archs)]
    if len(pool) < 2:
        raise ValueError(f"pre-training needs at least 2 unlabelled architectures, got {len(pool)}")
    return pool


def pretrain_stage(predictor, space: SearchSpace, device: torch.device,
                   unlabelled: Sequence[Any] | None, data_parallel: bool = False) -> PretrainedEncoder:
    """Run (or recall from this process's memo) the self-supervised stage of ``predictor`` (a
    :class:`~gnnnas.Predictor`, read for its hyperparameters only). Reads no label.

    ``data_parallel``: every rank of the process group runs this with the same predictor and pool
    (checked: each rank raises ``ValueError`` if the pools differ); the batches are sharded over the
    ranks (:func:`gnnnas.nn.pretrain.pretrain_encoder`) and rank 0 computes the probe targets into
    the disk cache before the others read them.
    """
    tasks = parse_pretrain(predictor.pretrain)
    _check_runnable(tasks, space, predictor.pretrain)
    ranks = distributed.world()[1] if data_parallel else 1
    params = predictor._encoder_params(space)
    key = None
    # memoised only where everything that shapes the encoder is a plain value: no seed=None
    # (a fresh random pool each time), no user images, no user conv objects
    if (unlabelled is None and isinstance(predictor.space, str) and params["conv"] in CONV_NAMES
            and predictor.seed is not None and isinstance(predictor.proxy_data, str)):
        p = predictor
        key = (json_key(params), json_key(list(space.vocab.ops)), space.size, json_key(list(tasks.items())),
               p.pretrain_archs, p.pretrain_epochs, p.pretrain_batch_size, p.lr, p.weight_decay, p.dropout, p.seed,
               torch.get_num_threads(), device.type, p.hyper_width, p.proxy_data, p.hyper_archs, p.hyper_images, ranks)
        recalled = _recall(key)
        if recalled is not None:
            return recalled
    with distributed.fail_together(data_parallel):  # one rank's bad pool stops every rank
        pool = pretrain_pool(predictor, space, unlabelled)
        digest = distributed.data_digest(g.canonical_hash() for g in pool) if data_parallel else b""
    if data_parallel:
        distributed.check_same_data(digest, "pre-training pool (unlabelled archs)")
    featurizer = predictor._new_featurizer(pool, space).fit(pool)
    if predictor.seed is not None:
        torch.manual_seed(int(predictor.seed))  # the encoder's initial weights are part of what the seed fixes
    encoder = predictor._new_encoder(featurizer.num_features, pool[0].cell_sequence)
    start = time.perf_counter()
    with distributed.main_process_first(data_parallel):  # rank 0 fills the probe cache, the others read it
        targets = probe_targets(predictor, space, pool, featurizer, tasks)
    hyper = None
    if "hypernetwork" in tasks:
        from gnnnas.data.proxy import load_proxy
        from gnnnas.nn.executors import get_executor
        from gnnnas.nn.pretext import HyperPretext

        proxy = load_proxy(predictor.proxy_data, seed=0 if predictor.seed is None else int(predictor.seed))
        executor = get_executor(space.name, space.vocab, in_channels=proxy.in_channels,
                                num_classes=proxy.num_classes, width=predictor.hyper_width)
        hyper = HyperPretext(executor, proxy, predictor.hyper_archs, predictor.hyper_images)
    progress = _progress(predictor.pretrain_epochs, predictor.verbose)
    history = pretrain_encoder(
        encoder, featurizer, pool, tasks, targets, hyper=hyper, epochs=predictor.pretrain_epochs,
        batch_size=predictor.pretrain_batch_size, lr=predictor.lr, weight_decay=predictor.weight_decay, seed=predictor.seed, device=device,
        on_epoch=lambda r: progress.advance(status=f"loss {r['loss']:.4f}"), data_parallel=data_parallel,
    )
    progress.close()
    state = {k: v.detach().cpu().clone() for k, v in encoder.state_dict().items()}
    result = PretrainedEncoder(
        params=params, featurizer=featurizer.get_state(), vocab=list(space.vocab.ops),
        cell_sequence=pool[0].cell_sequence, state=state,
        pretrain={"tasks": tasks, "spec": format_pretrain(tasks), "epochs": predictor.pretrain_epochs,
                  "batch_size": predictor.pretrain_batch_size, "archs": len(pool), "seed": predictor.seed,
                  "seconds": time.perf_counter() - start, "history": history,
                  "ranks": ranks},
    )
    if key is not None:
        _remember(key, result)
    return result


#: The pretexts that run each architecture's real network (they need the space's executor).
RUN_PRETEXTS = ("zero_cost", "flow", "hypernetwork")


def _check_runnable(tasks: dict[str, float], space: SearchSpace, spec: str) -> None:
    """ValueError naming the asked-for pretexts that need a network executor ``space`` lacks,
    before any pool is drawn or probed."""
    from gnnnas.nn.executors import missing_executor

    wanted = [task for task in tasks if task in RUN_PRETEXTS]
    if wanted and (reason := missing_executor(space.name)) is not None:
        raise ValueError(
            f"pretrain={spec!r}: {' and '.join(map(repr, wanted))} run{'s' if len(wanted) == 1 else ''} each "
            f"architecture's network, and space {space.name!r} has no network executor ({reason}); "
            "the pretexts 'costs' and 'masked' need none")


def probe_targets(predictor, space: SearchSpace, pool: list[ArchGraph], featurizer: GraphFeaturizer,
                  tasks: dict[str, float]) -> dict[str, np.ndarray]:
    """``zero_cost`` / ``flow`` targets of the pool: each architecture's real network at
    initialisation (width ``hyper_width``, 64 images of ``proxy_data``, random weights from
    seed 0, so every predictor seed shares one disk cache)."""
    wanted = {"zero_cost": ZERO_COST_NAMES, "flow": FLOW_NAMES}
    if not any(task in tasks for task in wanted):
        return {}
    from gnnnas.data.proxy import load_proxy

    proxy = load_proxy(predictor.proxy_data, seed=0)
    scores = cached_probe_scores(space, pool, featurizer, proxy, width=predictor.hyper_width, images=64, seed=0,
                                 progress="auto" if predictor.verbose else False)
    return {task: np.stack([scores[n] for n in names], 1) for task, names in wanted.items() if task in tasks}


def json_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def shipped_spaces() -> list[str]:
    """Names of the spaces gnnnas ships a pre-trained encoder for (``gnnnas/pretrained/<space>.safetensors``;
    empty if the installation lacks its package data)."""
    from importlib import resources

    folder = resources.files("gnnnas") / "pretrained"
    if not folder.is_dir():
        return []
    return sorted(p.name[: -len(".safetensors")] for p in folder.iterdir() if p.name.endswith(".safetensors"))


def shipped_encoder(space: str) -> Path:
    """Path of the pre-trained encoder shipped with gnnnas for ``space`` (a real file, also when
    gnnnas is imported from a zip archive: then a temporary copy).

    Raises:
        ValueError: gnnnas ships none for that space (the message lists those it ships), or the
            installation lacks gnnnas's package data.
    """
    import atexit
    import contextlib
    from importlib import resources

    folder = resources.files("gnnnas") / "pretrained"
    if not folder.is_dir():
        raise ValueError(f"this gnnnas installation has no pre-trained encoders ({folder} is missing): "
                         "reinstall gnnnas with its package data, or pre-train one with pretrain=...")
    shipped = shipped_spaces()
    if space not in shipped:
        raise ValueError(f"gnnnas ships no pre-trained encoder for space {space!r} (it ships: {shipped or 'none'}); "
                         "pre-train one with pretrain=... or `gnnnas pretrain`")
    target = folder / f"{space}.safetensors"
    if isinstance(target, Path):  # an ordinary installation
        return target
    if space not in _EXTRACTED:  # imported from a zip: one temporary copy per process, removed at exit
        stack = contextlib.ExitStack()
        atexit.register(stack.close)
        _EXTRACTED[space] = stack.enter_context(resources.as_file(target))
    return _EXTRACTED[space]


#: space -> the temporary copy of its shipped encoder when gnnnas is imported from a zip archive
#: (every default fit reads it: one copy per process, not one per fit)
_EXTRACTED: dict[str, Path] = {}


def _progress(total: int, verbose: bool):
    from gnnnas.progress import Progress

    return Progress(total, "pretrain", mode="auto" if verbose else "quiet", stream=sys.stderr, unit="epoch",
                    line_every=0.1)
