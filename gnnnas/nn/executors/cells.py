"""Executors for cell-based spaces (NB201, NB101, DARTS): a stem, stacked cells, a classifier.

A cell runs node by node in graph order; each node applies its op to the sum of its
predecessors weighted by the edge multiplicities (the ArchGraph semantics), ``sum`` nodes apply
nothing, and the cell's output node sums its predecessors or, where the space concatenates
(``OpVocabulary(output="concat")``: NB101, DARTS), concatenates them along channels: the width
``C`` is split among the pieces as NAS-Bench-101's ``compute_vertex_channels`` splits it
(``C // k`` each, the first ``C % k`` pieces one more; piece ``i`` gives channels
``[lo_i, hi_i)`` of its own tensor), and input predecessors are added to the concatenation (NB101's input projection,
left out here). The graph is the computation graph the encoder saw (or the pruned graph):
both compute the same function.

The macro skeletons are reduced, faithfully in kind, to keep hundreds of generated networks per
step affordable on a CPU (documented simplifications):

- NB201: one cell per stage (the real network has five), the stages joined by a residual
  reduction block (shared weights), constant width.
- NB101: one cell per stack (real: three), joined by 2x2 max pooling, constant width inside
  the cell (NB101 narrows the vertices that feed the output), and the 1x1 input projections are
  left out.
- DARTS: the real sequence of eight cells (reduction cells third and sixth), each reading the
  two previous cell outputs; a reduction cell gets its inputs average-pooled 2x2 and then runs at
  stride 1 (DARTS strides the ops that read the inputs); the concatenation has the width ``C``
  (DARTS: ``4C``, reduced again by the next cell's 1x1 preprocessing).

Every cell output is batch-normalised (no affine), so sums of many branches stay on one scale.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gnnnas.graph import OpVocabulary
from gnnnas.nn.executors.base import (
    CLASSIFIER_GRID,
    NetworkExecutor,
    arch_batch_norm,
    arch_input,
    gather_node_weights,
    grouped_conv,
    image_batch_norm,
    per_arch,
    pooled_features,
    register_executor,
)
from gnnnas.nn.featurize import DenseGraphBatch, pack_members
from gnnnas.nn.hypernet import WeightSpec

__all__ = ["CELL_OPS", "CellOp", "CellStackExecutor"]

OpFn = Callable[[torch.Tensor, dict[str, torch.Tensor]], torch.Tensor]


@dataclass(frozen=True)
class CellOp:
    """How one op label runs: its weight tensors at a width, and the function applying them."""

    specs: Callable[[int], tuple[WeightSpec, ...]]
    fn: OpFn


def _relu_conv_bn(k: int) -> CellOp:
    return CellOp(
        lambda c: (WeightSpec("weight", (c, c, k, k)),),
        lambda x, w: arch_batch_norm(grouped_conv(torch.relu(x), w["weight"], padding=k // 2)),
    )


def _conv_bn_relu(k: int) -> CellOp:
    return CellOp(
        lambda c: (WeightSpec("weight", (c, c, k, k)),),
        lambda x, w: torch.relu(arch_batch_norm(grouped_conv(x, w["weight"], padding=k // 2))),
    )


def _sep_conv(k: int) -> CellOp:
    """DARTS SepConv: (ReLU, depthwise k, pointwise, BN) twice."""

    def fn(x, w):
        for i in (1, 2):
            x = grouped_conv(torch.relu(x), w[f"dw{i}"], padding=k // 2, depthwise=True)
            x = arch_batch_norm(grouped_conv(x, w[f"pw{i}"]))
        return x

    return CellOp(
        lambda c: tuple(
            s for i in (1, 2) for s in (WeightSpec(f"dw{i}", (c, 1, k, k)), WeightSpec(f"pw{i}", (c, c, 1, 1)))
        ),
        fn,
    )


def _dil_conv(k: int) -> CellOp:
    """DARTS DilConv: ReLU, depthwise k with dilation 2, pointwise, BN."""

    def fn(x, w):
        x = grouped_conv(torch.relu(x), w["dw"], padding=(k // 2) * 2, dilation=2, depthwise=True)
        return arch_batch_norm(grouped_conv(x, w["pw"]))

    return CellOp(lambda c: (WeightSpec("dw", (c, 1, k, k)), WeightSpec("pw", (c, c, 1, 1))), fn)


def _pool(kind: str) -> CellOp:
    if kind == "avg":
        pool = lambda t: F.avg_pool2d(t, 3, stride=1, padding=1, count_include_pad=False)
    else:
        pool = lambda t: F.max_pool2d(t, 3, stride=1, padding=1)
    return CellOp(lambda c: (), lambda x, w: per_arch(pool, x))


_IDENTITY = CellOp(lambda c: (), lambda x, w: x)
_ZERO = CellOp(lambda c: (), lambda x, w: torch.zeros_like(x))

#: Op implementations by label, for every op of the built-in cell spaces.
CELL_OPS: dict[str, CellOp] = {
    # NAS-Bench-201
    "nor_conv_1x1": _relu_conv_bn(1),
    "nor_conv_3x3": _relu_conv_bn(3),
    "avg_pool_3x3": _pool("avg"),
    "skip_connect": _IDENTITY,
    "none": _ZERO,
    # NAS-Bench-101
    "conv3x3-bn-relu": _conv_bn_relu(3),
    "conv1x1-bn-relu": _conv_bn_relu(1),
    "maxpool3x3": _pool("max"),
    # DARTS
    "max_pool_3x3": _pool("max"),
    "sep_conv_3x3": _sep_conv(3),
    "sep_conv_5x5": _sep_conv(5),
    "dil_conv_3x3": _dil_conv(3),
    "dil_conv_5x5": _dil_conv(5),
}


class CellStackExecutor(NetworkExecutor):
    """Stem -> plan of cells and fixed blocks -> ReLU, 2x2 average pooling, linear classifier.

    Args:
        plan: steps in order: ``("cell", cell_type, reduce)`` runs cell ``cell_type`` of the graph
            (``reduce``: average-pool its inputs 2x2 first), ``("resblock",)`` a residual
            reduction block with shared weights, ``("maxpool",)`` 2x2 max pooling.
        cell_inputs: how many previous outputs a cell reads (1; DARTS: 2).
        ops: op label -> :class:`CellOp` (default :data:`CELL_OPS`).
    """

    def __init__(
        self,
        vocab: OpVocabulary,
        in_channels: int,
        num_classes: int,
        width: int = 8,
        plan: Sequence[tuple] = (("cell", 0, False),),
        cell_inputs: int = 1,
        ops: dict[str, CellOp] | None = None,
    ) -> None:
        super().__init__(vocab, in_channels, num_classes, width)
        ops = CELL_OPS if ops is None else ops
        missing = [op for op in vocab.ops if op not in ops]
        if missing:
            raise ValueError(f"no cell implementation for ops {missing}")
        self.ops = {op: ops[op] for op in vocab.ops}
        self.plan = tuple(tuple(step) for step in plan)
        self.cell_inputs = int(cell_inputs)
        c = self.width
        self.stem = nn.Parameter(torch.randn(c, self.in_channels, 3, 3) * (2.0 / (9 * self.in_channels)) ** 0.5)
        blocks = sum(step[0] == "resblock" for step in self.plan)
        self.res_weights = nn.ParameterList(
            nn.Parameter(torch.randn(2, c, c, 3, 3) * (2.0 / (9 * c)) ** 0.5) for _ in range(blocks)
        )
        self.classifier = nn.Linear(c * CLASSIFIER_GRID**2, self.num_classes)

    def weight_specs(self) -> dict[str, tuple[WeightSpec, ...]]:
        return {op: impl.specs(self.width) for op, impl in self.ops.items() if impl.specs(self.width)}

    # -------------------------------------------------------------- forward
    def forward(self, batch, weights, unpack, images):
        archs = len(batch)
        stem = image_batch_norm(F.conv2d(images, self.stem, padding=1))
        x = arch_input(stem[:, None].expand(-1, archs, -1, -1, -1), arch_dim=1)
        states = [x] * self.cell_inputs
        res_block = 0
        prepared: dict[int, tuple] = {}  # cell type -> its sub-batch and per-position plan
        for step in self.plan:
            if step[0] == "cell":
                _, cell_type, reduce = step
                inputs = states[-self.cell_inputs :]
                target = min(t.shape[-1] for t in inputs) // (2 if reduce else 1)
                inputs = [_pool_to(t, target) for t in inputs]
                if cell_type not in prepared:  # DARTS runs each cell type several times
                    prepared[cell_type] = self._prepare_cell(batch, weights, unpack, int(cell_type))
                out = self._run_cell(prepared[cell_type], inputs)
            elif step[0] == "resblock":
                out = self._resblock(states[-1], self.res_weights[res_block])
                res_block += 1
            elif step[0] == "maxpool":
                out = per_arch(lambda t: F.max_pool2d(t, 2), states[-1])
            else:
                raise ValueError(f"unknown plan step {step!r}")
            states.append(out)
        pooled = pooled_features(torch.relu(states[-1]))  # [I, S, 4C]
        return self.classifier(pooled).transpose(0, 1)  # [S, I, classes]

    @staticmethod
    def _resblock(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """NB201's residual reduction block at constant width (shared weights, per-arch BN)."""
        h = arch_batch_norm(per_arch(lambda t: F.conv2d(torch.relu(t), w[0], stride=2, padding=1), x))
        h = arch_batch_norm(per_arch(lambda t: F.conv2d(torch.relu(t), w[1], padding=1), h))
        return h + per_arch(lambda t: F.avg_pool2d(t, 2), x)

    def _prepare_cell(self, batch: DenseGraphBatch, weights, unpack, cell_type: int):
        """One cell type's sub-batch, and which archs run which op (with which weights) where."""
        positions = torch.arange(batch.op.shape[1], device=batch.op.device)
        member = (batch.cell == cell_type) & batch.mask & (positions > 0)[None]
        idx, sub_mask, sub_adj = pack_members(member, batch.adj)
        sub_op = torch.where(sub_mask, torch.gather(batch.op, 1, idx), torch.full_like(idx, -1))
        input_id = self._op_id("input")
        # which archs run which op at each position; the weights of each label gathered once
        groups_at: list[list[tuple[str, torch.Tensor]]] = []
        requests: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {}
        for j in range(idx.shape[1]):
            groups = []
            for label_id in torch.unique(sub_op[:, j]).tolist():
                if label_id < 0 or label_id == input_id:
                    continue
                label = self.vocab.labels[label_id]
                archs = torch.nonzero(sub_op[:, j] == label_id).squeeze(1)
                groups.append((label, archs))
                requests.setdefault(label, []).append((archs, idx[archs, j]))
            groups_at.append(groups)
        gathered = {label: iter(ws) for label, ws in gather_node_weights(weights, unpack, requests).items()}
        plan = [[(label, archs, next(gathered[label]) if label in gathered else {}) for label, archs in groups]
                for groups in groups_at]
        concat = self._concat_weights(sub_op, sub_adj) if self.vocab.output == "concat" else None
        return sub_op, sub_adj, plan, concat

    def _concat_weights(self, sub_op: torch.Tensor, sub_adj: torch.Tensor) -> torch.Tensor:
        """``[S, W, C]``: how much of node ``i``'s channel ``c`` the concatenating output takes.

        A piece read ``m`` times gets ``m`` consecutive shares of the width (NB101's split:
        ``C // k`` channels each, the first ``C % k`` one more, ``k`` = pieces with
        multiplicity), in node order; an input predecessor is added on every channel.
        """
        is_output = sub_op == self._op_id("output")
        out_pos = is_output.to(torch.int64).argmax(1)
        reads = torch.gather(sub_adj, 2, out_pos[:, None, None].expand(-1, sub_adj.shape[1], 1)).squeeze(2)
        is_input = sub_op == self._op_id("input")
        mult = torch.where(is_input, torch.zeros_like(reads), reads).round().to(torch.int64)  # [S, W]
        pieces = mult.sum(1, keepdim=True).clamp(min=1)
        base, extra = self.width // pieces, self.width % pieces

        def start(slot):  # first channel of slot ``slot`` of ``pieces``
            return slot * base + torch.minimum(slot, extra)

        first = torch.cumsum(mult, 1) - mult
        lo, hi = start(first), start(first + mult)
        channel = torch.arange(self.width, device=sub_op.device)
        take = ((channel >= lo[..., None]) & (channel < hi[..., None])).to(sub_adj.dtype)
        return take + (reads * is_input.to(reads.dtype))[..., None]

    def _run_cell(self, prepared, inputs: list[torch.Tensor]) -> torch.Tensor:
        sub_op, sub_adj, plan, concat = prepared
        width = sub_op.shape[1]
        input_id, output_id = self._op_id("input"), self._op_id("output")
        input_rank = torch.cumsum((sub_op == input_id).long(), 1) - 1
        zero = torch.zeros_like(inputs[0])
        outs: list[torch.Tensor] = []
        result = zero
        for j in range(width):
            is_input = sub_op[:, j] == input_id
            if bool(is_input.any()):
                out = zero
                for k, t in enumerate(inputs):
                    sel = (is_input & (input_rank[:, j] == k)).to(t.dtype)
                    out = out + t * sel[None, :, None, None, None]
                outs.append(out)
                continue
            inp = zero
            for i in range(j):
                a = sub_adj[:, i, j]
                if bool(a.any()):
                    inp = inp + outs[i] * a[None, :, None, None, None]
            out = zero
            for label, archs, w in plan[j]:
                res = inp[:, archs] if label in ("output", "sum") else self.ops[label].fn(inp[:, archs], w)
                out = out.index_copy(1, archs, res) if len(archs) < out.shape[1] else res
            outs.append(out)
            is_out = (sub_op[:, j] == output_id).to(out.dtype)
            if concat is None and bool(is_out.any()):
                result = result + out * is_out[None, :, None, None, None]
        if concat is not None:
            for i, out in enumerate(outs):
                result = result + out * concat[None, :, i, :, None, None]
        return arch_batch_norm(result)


def _pool_to(x: torch.Tensor, size: int) -> torch.Tensor:
    factor = x.shape[-1] // max(size, 1)
    return x if factor <= 1 else per_arch(lambda t: F.avg_pool2d(t, factor), x)


def _nb201(vocab, in_channels, num_classes, width=8):
    plan = (("cell", 0, False), ("resblock",), ("cell", 0, False), ("resblock",), ("cell", 0, False))
    return CellStackExecutor(vocab, in_channels, num_classes, width, plan=plan)


def _nb101(vocab, in_channels, num_classes, width=8):
    plan = (("cell", 0, False), ("maxpool",), ("cell", 0, False), ("maxpool",), ("cell", 0, False))
    return CellStackExecutor(vocab, in_channels, num_classes, width, plan=plan)


#: DARTS's eight-cell network: cell type 1 (reduction) third and sixth.
DARTS_CELL_SEQUENCE = (0, 0, 1, 0, 0, 1, 0, 0)


def _darts(vocab, in_channels, num_classes, width=8):
    plan = tuple(("cell", c, c == 1) for c in DARTS_CELL_SEQUENCE)
    return CellStackExecutor(vocab, in_channels, num_classes, width, plan=plan, cell_inputs=2)


register_executor("nb201", _nb201)
register_executor("nb101", _nb101)
register_executor("darts", _darts)
