"""Label-free pretext tasks that pre-train the encoder on the unlabelled architectures of a space.

A search space is known in full before anyone trains a network in it; these tasks let the
encoder learn its structure from every architecture, not only the few labelled ones
(self-supervised pre-training as in FGP, arXiv 2510.18360, and graph masked autoencoders,
GraphMAE, arXiv 2205.10803). None of them reads an accuracy label.

- ``costs``: regress what the space computes exactly without training
  (:func:`cost_targets`): the space's macro numbers (params, FLOPs, ...) where the computation
  graph determines them, the graph's longest input->output path, its number of such paths and
  the count of each op on it.
- ``zero_cost``: regress zero-cost proxies (grad_norm, snip, synflow, NASWOT's jacov) of each
  architecture's real small network at initialisation (:mod:`gnnnas.nn.probe`).
- ``flow``: regress how the same network at initialisation transforms a fixed probe batch (the
  spread of its outputs, how similar the outputs of different images are;
  :mod:`gnnnas.nn.probe`).
- ``hypernetwork``: HyperNAS's auxiliary task (``docs/hypernetwork.md``) on unlabelled archs:
  node embeddings emit each op's weights, the generated networks classify proxy images,
  cross-entropy.
- ``masked``: masked-node reconstruction: the op one-hot of a random 15 % of the operation
  nodes is blanked and the encoder's node embedding must name the op (cross-entropy).

A spec joins tasks with ``+`` and optional weights: ``"costs"``, ``"costs+masked"``,
``"costs+0.5*masked"``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from gnnnas.graph import ArchGraph
from gnnnas.nn.featurize import DenseGraphBatch
from gnnnas.params import weighted_terms

__all__ = ["MASK_RATE", "PRETEXTS", "HyperPretext", "REGRESSION_PRETEXTS", "PretextHeads", "cost_targets", "format_pretrain", "mask_ops",
           "parse_pretrain"]

#: Built-in pretext tasks (label-free).
PRETEXTS = ("costs", "zero_cost", "flow", "masked", "hypernetwork")
#: The tasks that regress per-architecture numbers from the graph embedding.
REGRESSION_PRETEXTS = ("costs", "zero_cost", "flow")
#: Fraction of operation nodes blanked by the ``masked`` task (GraphMAE's default range).
MASK_RATE = 0.15
_NAME = re.compile(r"[a-z_]+")


def parse_pretrain(spec: str) -> dict[str, float]:
    """``"costs+0.5*masked"`` -> ``{"costs": 1.0, "masked": 0.5}``.

    A spec is tasks of :data:`PRETEXTS` joined by ``+``, each optionally ``<weight>*`` first; a
    weight is an unsigned number as Python's :func:`float` reads it (``0.5``, ``.5``, ``1E3``,
    ``1e+3``; a leading ``+`` would read as a join) that is finite and > 0 (``1e400`` is
    infinite, ``1e-400`` is 0: both refused).

    Raises:
        ValueError: not a string, an empty term (``"costs+"``), an unknown task, a task named
            twice, or a weight that is not a finite number > 0 (the message names the term).
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"pretrain must be a '+'-joined spec of tasks among {PRETEXTS}, e.g. 'costs+masked'; "
                         f"got {spec!r}")
    tasks: dict[str, float] = {}
    for weight_text, name in weighted_terms(spec):
        if weight_text is None and not name:
            raise ValueError(f"pretrain: empty term in {spec!r} (a '+' with no task on one side); "
                             f"join tasks among {list(PRETEXTS)} with '+'")
        if _NAME.fullmatch(name) is None or name not in PRETEXTS:
            raise ValueError(f"pretrain: unknown task {name!r} in {spec!r}; known: {list(PRETEXTS)}")
        weight = 1.0
        if weight_text is not None:  # "<weight>*<task>"
            try:
                weight = float(weight_text)
            except ValueError:
                raise ValueError(f"pretrain: the weight {weight_text!r} of {name!r} in {spec!r} is not "
                                 "a number (write e.g. '0.5*masked')") from None
        if name in tasks:
            raise ValueError(f"pretrain: task {name!r} appears twice in {spec!r}")
        if not (math.isfinite(weight) and weight > 0):
            raise ValueError(f"pretrain: the weight of {name!r} must be a finite number > 0, got "
                             f"{weight_text!r} ({weight}) in {spec!r}")
        tasks[name] = weight
    return tasks


def format_pretrain(tasks: dict[str, float]) -> str:
    """:func:`parse_pretrain`'s inverse in one canonical spelling: ``{"costs": 1.0, "masked": 0.5}``
    -> ``"costs+0.5*masked"`` (tasks in the given order, weight 1 left out), so specs that parse
    alike (``"costs + masked"``, ``"1*costs+masked"``) are named alike."""
    return "+".join(name if weight == 1 else f"{_shortest(weight)}*{name}" for name, weight in tasks.items())


def _shortest(weight: float) -> str:
    """The shortest spelling that reads back as ``weight``, without an exponent's ``+`` (``1e16``,
    not ``1e+16``), which would read as a join."""
    return repr(float(weight)).replace("e+", "e")


def _signed_log(values: np.ndarray) -> np.ndarray:
    return np.sign(values) * np.log1p(np.abs(values))


def cost_targets(archs: Sequence[ArchGraph], visible_only: bool = True) -> tuple[np.ndarray, list[str]]:
    """Exact, training-free numbers of each architecture: the ``costs`` pretext's targets.

    Columns: the macro numbers the space reports (``arch.macro``: params, FLOPs, ... as the
    space defines them), then, on the :meth:`~gnnnas.ArchGraph.computation_graph` (dead ops
    removed, identities contracted): ``longest_path`` (edges on the longest input->output
    path), ``num_paths`` (input->output paths, with multiplicities) and ``count:<op>`` for every
    op of the vocabulary. Macro numbers and path counts enter as ``sign(v) log(1 + |v|)``.

    ``visible_only``: drop the macro numbers that differ between architectures of one
    :meth:`~gnnnas.ArchGraph.canonical_hash` in ``archs`` (NB201 counts the parameters of dead
    ops): an encoder that reads computation graphs cannot see them, so they would only be noise.

    Returns ``(targets [n, k] float64, names [k])``; constant columns are kept (the caller
    standardises and drops them).
    """
    if not archs:
        return np.zeros((0, 0)), []
    vocab = archs[0].vocab
    macro_names = sorted(set().union(*(a.macro.keys() for a in archs)))
    ops = list(vocab.ops)
    rows = []
    for arch in archs:
        graph = arch.computation_graph()
        n = graph.num_nodes
        succ: list[list[tuple[int, int]]] = [[] for _ in range(n)]
        indegree = [0] * n
        for s, d, m in graph.edges:
            succ[s].append((d, m))
            indegree[d] += 1
        depth = [0 if op == "input" else -1 for op in graph.ops]  # longest path from an input
        paths = [1.0 if op == "input" else 0.0 for op in graph.ops]
        order = [v for v in range(n) if indegree[v] == 0]
        remaining = list(indegree)
        for v in order:  # Kahn's topological order; appending while iterating extends it
            for d, m in succ[v]:
                if depth[v] >= 0:
                    depth[d] = max(depth[d], depth[v] + 1)
                    paths[d] += m * paths[v]
                remaining[d] -= 1
                if remaining[d] == 0:
                    order.append(d)
        outputs = [v for v in range(n) if graph.ops[v] == "output"]
        counts = [sum(op == name for op in graph.ops) for name in ops]
        rows.append(
            [arch.macro.get(name, 0.0) for name in macro_names]
            + [max((depth[v] for v in outputs), default=0), sum(paths[v] for v in outputs)]
            + counts
        )
    targets = np.asarray(rows, dtype=np.float64)
    k = len(macro_names)
    targets[:, :k] = _signed_log(targets[:, :k])
    targets[:, k + 1] = _signed_log(targets[:, k + 1])
    names = macro_names + ["longest_path", "num_paths"] + [f"count:{op}" for op in ops]
    if visible_only and k:
        keys = np.unique([a.canonical_hash() for a in archs], return_inverse=True)[1].ravel()
        order = np.argsort(keys, kind="stable")
        starts = np.r_[True, keys[order][1:] != keys[order][:-1]]
        first = np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))
        varies = (targets[order, :k] != targets[order[first], :k]).any(0)  # differs from its group's first
        keep = np.r_[~varies, np.ones(len(names) - k, dtype=bool)]
        targets, names = targets[:, keep], [name for name, kept in zip(names, keep, strict=True) if kept]
    return targets, names


def mask_ops(batch: DenseGraphBatch, num_labels: int, generator: torch.Generator,
             rate: float = MASK_RATE, hide: slice | None = None) -> tuple[DenseGraphBatch, torch.Tensor]:
    """Blank the op one-hot of a random ``rate`` of the operation nodes (at least one per graph
    that has any). Returns ``(masked batch, mask [B, N] bool)``; ``batch.op`` keeps the truth.

    ``num_labels``: width of the op one-hot block (``GraphFeaturizer.num_labels``). ``hide``:
    other columns of ``x`` blanked on masked nodes too (the space's node features, which give the
    op away on ViT: an attention block has heads, an MLP block a hidden width). Input, output,
    ``sum`` and global nodes are never masked: their kind is known from the structure.
    """
    op = batch.op
    candidates = (op >= 2) & (op < num_labels - 2)  # labels: input, output, ops..., sum, global
    draw = torch.rand(op.shape, generator=generator, device=op.device) if op.numel() else op.float()
    chosen = candidates & (draw < rate)
    # graphs that drew none: mask their highest-scoring candidate, so every graph contributes
    none = candidates.any(1) & ~chosen.any(1)
    if bool(none.any()):
        best = torch.where(candidates, draw, torch.full_like(draw, -1.0)).argmax(1)
        chosen[none, best[none]] = True
    x = batch.x.clone()
    zero = torch.zeros((), dtype=x.dtype)
    x[..., :num_labels] = torch.where(chosen[..., None], zero, x[..., :num_labels])
    if hide is not None:
        x[..., hide] = torch.where(chosen[..., None], zero, x[..., hide])
    masked = DenseGraphBatch(x, batch.adj, batch.mask, batch.cell, batch.op, batch.features)
    return masked, chosen


@dataclass(frozen=True)
class HyperPretext:
    """What the ``hypernetwork`` pretext runs: the space's executor (its networks at small width),
    proxy images (:class:`~gnnnas.data.proxy.ProxyImages`, train split) and the draw of one step."""

    executor: nn.Module
    proxy: Any
    archs_per_step: int = 16
    images_per_step: int = 32


class PretextHeads(nn.Module):
    """One small head per pretext task, on top of the encoder's embeddings.

    Args:
        graph_dim: size of the encoder's graph embedding (``ArchEncoder.out_dim``).
        node_dim: size of its node embeddings (``hidden_dim``).
        regression: ``{task: number of targets}`` of the regression tasks (an MLP each, from the
            graph embedding).
        num_labels: op labels to predict for ``masked`` (0: no ``masked`` head).
    """

    def __init__(self, graph_dim: int, node_dim: int, regression: dict[str, int] | None = None,
                 num_labels: int = 0) -> None:
        super().__init__()
        self.regression = nn.ModuleDict({
            task: nn.Sequential(nn.Linear(graph_dim, node_dim), nn.ReLU(), nn.Linear(node_dim, k))
            for task, k in (regression or {}).items()
        })
        self.masked = nn.Linear(node_dim, num_labels) if num_labels else None
