"""Executor for the macro (layer-chain) space: a stem, the chain of blocks, a classifier.

Skeleton (reduced, faithfully in kind, to keep hundreds of generated networks per step
affordable on a CPU; documented simplifications):

- stem: 3x3 convolution, batch norm, ReLU6 (shared parameters, as MobileNetV2 / ProxylessNAS);
- the chain of blocks in graph order, every block at the constant width ``width`` (the space's
  per-stage widths 16 / 32 / 64 are left out: a block only changes the resolution);
- ReLU, 2x2 average pooling (``base.CLASSIFIER_GRID``), a shared linear classifier.

Blocks, by op label:

- ``mbconv_k{K}_e{E}`` (any K and E, so user vocabularies work): 1x1 expansion ``C -> E*C``
  (left out when ``E == 1``, as the space counts it), BN, ReLU6, depthwise ``KxK`` with the
  node's stride (padding ``K // 2``), BN, ReLU6, 1x1 projection ``E*C -> C``, BN, plus the input
  when the stride is 1 (the width never changes here, so every stride-1 block is residual);
- ``conv_k{K}``: one ``KxK`` convolution with the node's stride, BN, ReLU;
- identity ops (``vocab.identity``; only present when the featurizer did not contract them):
  pass-through.

Strides come from the raw ``stride`` node feature (column ``stride_column`` of
``batch.features``), never from the position: contracted identities shift positions, so archs
reach their stride-2 blocks at different positions. The chain therefore runs **stage by
stage**: a block's stage is the number of strided blocks at or before it, each stage's blocks
are gathered into a sub-batch (stable sort, as in the cell executor) so that within a stage
every arch works at the same resolution, and at each sub-position only the archs having a block
there run (grouped by label and stride, one grouped convolution per kernel); the others keep
their feature map. All archs of a batch must downsample the same number of times (true of any
one macro space). Proxy images as small as 8x8 work with three downsamplings (2x2 -> 1x1).
"""

from __future__ import annotations

import re

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
    pooled_features,
    register_executor,
)
from gnnnas.nn.featurize import DenseGraphBatch, pack_members
from gnnnas.nn.hypernet import WeightSpec

__all__ = ["ChainExecutor", "parse_block"]

_MBCONV = re.compile(r"^mbconv_k(\d+)_e(\d+)$")
_CONV = re.compile(r"^conv_k(\d+)$")


def parse_block(label: str) -> tuple[str, int, int] | None:
    """``("mbconv", K, E)`` / ``("conv", K, 1)`` for a block label, None for anything else."""
    match = _MBCONV.match(label)
    if match:
        k, e = int(match.group(1)), int(match.group(2))
        if k < 1 or e < 1:
            raise ValueError(f"block {label!r}: kernel and expansion must be >= 1")
        return "mbconv", k, e
    match = _CONV.match(label)
    if match:
        k = int(match.group(1))
        if k < 1:
            raise ValueError(f"block {label!r}: kernel must be >= 1")
        return "conv", k, 1
    return None


class ChainExecutor(NetworkExecutor):
    """Stem -> the arch's chain of blocks (stage by stage) -> ReLU, pooling, linear classifier.

    Args:
        vocab, in_channels, num_classes, width: see :class:`NetworkExecutor`.
        stride_column: column of the raw ``stride`` node feature in ``batch.features``
            (the macro space's features are ``stride, in_channels, out_channels``).
    """

    def __init__(
        self,
        vocab: OpVocabulary,
        in_channels: int,
        num_classes: int,
        width: int = 8,
        stride_column: int = 0,
    ) -> None:
        super().__init__(vocab, in_channels, num_classes, width)
        self.blocks: dict[str, tuple[str, int, int]] = {}
        missing = []
        for op in vocab.ops:
            if op in vocab.identity:
                continue
            block = parse_block(op)
            if block is None:
                missing.append(op)
            else:
                self.blocks[op] = block
        if missing:
            raise ValueError(
                f"no chain implementation for ops {missing} (known: mbconv_k{{K}}_e{{E}}, conv_k{{K}}, identity)"
            )
        self.stride_column = int(stride_column)
        c = self.width
        self.stem = nn.Parameter(
            torch.randn(c, self.in_channels, 3, 3) * (2.0 / (9 * self.in_channels)) ** 0.5
        )
        self.classifier = nn.Linear(c * CLASSIFIER_GRID**2, self.num_classes)

    def weight_specs(self) -> dict[str, tuple[WeightSpec, ...]]:
        c = self.width
        specs: dict[str, tuple[WeightSpec, ...]] = {}
        for op, (kind, k, e) in self.blocks.items():
            if kind == "conv":
                specs[op] = (WeightSpec("weight", (c, c, k, k)),)
                continue
            mid = e * c
            expand = (WeightSpec("expand", (mid, c, 1, 1)),) if e != 1 else ()
            specs[op] = (*expand, WeightSpec("dw", (mid, 1, k, k)), WeightSpec("project", (c, mid, 1, 1)))
        return specs

    # -------------------------------------------------------------- forward
    def forward(self, batch, weights, unpack, images):
        if batch.features is None:
            raise ValueError("the chain executor reads strides from batch.features; the batch has none")
        archs = len(batch)
        stem = image_batch_norm(F.conv2d(images, self.stem, padding=1))
        x = arch_input(F.relu6(stem)[:, None].expand(-1, archs, -1, -1, -1), arch_dim=1)  # [I, S, C, H, W]

        n = batch.op.shape[1]
        device = batch.op.device
        positions = torch.arange(n, device=device)
        block_ids = torch.tensor(
            [self._op_id(op) for op in self.vocab.ops], device=device, dtype=batch.op.dtype
        )
        is_block = batch.mask & (positions > 0)[None] & torch.isin(batch.op, block_ids)
        stride = batch.features[..., self.stride_column].round().long().clamp(min=1)
        stride = torch.where(is_block, stride, torch.ones_like(stride))
        stage = torch.cumsum((stride > 1).long(), dim=1)
        stages = stage[:, -1]
        if bool((stages != stages[0]).any()):
            raise ValueError(
                f"all archs of a batch must downsample the same number of times, got {sorted(set(stages.tolist()))}"
            )
        # plan every (sub-position, label, stride) group first, so that each label's node weights
        # are gathered ONCE (one gather's backward is one scatter into the [B, N, P] table; a
        # gather per group would zero-fill that whole table once per group)
        plan: list[list[tuple[str, int, torch.Tensor]]] = []
        requests: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {}
        for s in range(int(stages[0]) + 1):
            member = is_block & (stage == s)
            if bool(member.any()):
                plan.extend(self._plan_stage(batch, member, stride, requests))
        node_weights = {
            label: iter(ws) for label, ws in gather_node_weights(weights, unpack, requests).items()
        }
        for groups in plan:
            results = []
            for label, s, sel in groups:
                w = next(node_weights[label]) if label in node_weights else {}
                results.append((sel, self._block(label, x if len(sel) == archs else x[:, sel], w, s)))
            if len(results) == 1 and len(results[0][0]) == archs:
                x = results[0][1]
            elif results:
                # strided sub-positions hold every arch (checked): fill a map of the new size
                res_shape = results[0][1].shape
                out = x if res_shape[-2:] == x.shape[-2:] else x.new_zeros(x.shape[0], archs, *res_shape[2:])
                for sel, res in results:
                    out = out.index_copy(1, sel, res)
                x = out
        pooled = pooled_features(torch.relu(x))  # [I, S, 4C]
        return self.classifier(pooled).transpose(0, 1)  # [S, I, classes]

    def _plan_stage(self, batch: DenseGraphBatch, member, stride, requests):
        """One stage's blocks (``member [B, N]``) as sub-positions of ``(label, stride, archs)``
        groups; appends each group's ``(archs, node positions)`` to ``requests[label]``."""
        idx, sub_mask, _ = pack_members(member)
        count = idx.shape[1]
        sub_op = torch.where(sub_mask, torch.gather(batch.op, 1, idx), torch.full_like(idx, -1))
        sub_stride = torch.gather(stride, 1, idx)
        plan = []
        for j in range(count):
            present = sub_op[:, j] >= 0
            strided = present & (sub_stride[:, j] > 1)
            if bool(strided.any()):
                values = sub_stride[strided, j].unique()
                if len(values) > 1 or not bool(strided.all()):
                    raise ValueError("archs of a batch must downsample at the same sub-position of a stage")
            groups = []
            for label_id, s in torch.unique(torch.stack([sub_op[:, j], sub_stride[:, j]], 1), dim=0).tolist():
                if label_id < 0:
                    continue
                label = self.vocab.labels[label_id]
                if label in self.vocab.identity:
                    if s > 1:
                        raise ValueError(f"identity op {label!r} cannot downsample (stride {s})")
                    continue  # pass-through: the arch keeps its feature map
                sel = torch.nonzero((sub_op[:, j] == label_id) & (sub_stride[:, j] == s)).squeeze(1)
                requests.setdefault(label, []).append((sel, idx[sel, j]))
                groups.append((label, int(s), sel))
            plan.append(groups)
        return plan

    def _block(self, label: str, x: torch.Tensor, w: dict[str, torch.Tensor], stride: int) -> torch.Tensor:
        kind, k, e = self.blocks[label]
        if kind == "conv":
            return torch.relu(arch_batch_norm(grouped_conv(x, w["weight"], stride=stride, padding=k // 2)))
        h = x
        if e != 1:
            h = F.relu6(arch_batch_norm(grouped_conv(h, w["expand"])))
        h = F.relu6(arch_batch_norm(grouped_conv(h, w["dw"], stride=stride, padding=k // 2, depthwise=True)))
        h = arch_batch_norm(grouped_conv(h, w["project"]))
        return h + x if stride == 1 else h


def _macro(vocab, in_channels, num_classes, width=8):
    return ChainExecutor(vocab, in_channels, num_classes, width)


register_executor("macro", _macro)
