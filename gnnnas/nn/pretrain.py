"""The self-supervised stage: train an encoder on unlabelled architectures with pretext tasks.

:func:`pretrain_encoder` trains an :class:`~gnnnas.nn.encoder.ArchEncoder` in place on the
tasks of :mod:`gnnnas.nn.pretext` and returns the per-epoch losses. It sees architectures
only, never accuracy labels: the Predictor then fine-tunes the encoder on the labelled ones
(FGP, arXiv 2510.18360, section 3: pre-train on all archs of the space, then fine-tune).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from gnnnas import distributed
from gnnnas.distributed import Step
from gnnnas.graph import ArchGraph
from gnnnas.nn.encoder import ArchEncoder
from gnnnas.nn.featurize import GraphFeaturizer
from gnnnas.nn.hypernet import HyperNetworkHead
from gnnnas.nn.pretext import REGRESSION_PRETEXTS, HyperPretext, PretextHeads, cost_targets, mask_ops

__all__ = ["pretrain_encoder"]


def _rank_part(n: int, data_parallel: bool) -> tuple[torch.Tensor, float]:
    """Positions ``0..n-1`` of a batch this rank runs, and 1.0; a rank whose shard is empty (fewer
    items than ranks) runs item 0 with weight 0.0, so that it still takes part in DDP's step."""
    positions = torch.arange(n)
    if not data_parallel:
        return positions, 1.0
    mine, _ = distributed.shard(positions)
    return (mine, 1.0) if len(mine) else (positions[:1], 0.0)


def pretrain_encoder(
    encoder: ArchEncoder,
    featurizer: GraphFeaturizer,
    archs: Sequence[ArchGraph],
    tasks: dict[str, float],
    targets: dict[str, np.ndarray] | None = None,
    *,
    hyper: HyperPretext | None = None,
    epochs: int = 10,
    batch_size: int = 256,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    seed: int | None = None,
    device: torch.device | str = "cpu",
    on_epoch: Callable[[dict], None] | None = None,
    data_parallel: bool = False,
) -> list[dict[str, float]]:
    """Train ``encoder`` (in place) on the pretext ``tasks`` over ``archs``.

    Args:
        encoder: the encoder to train; its ``in_dim`` must be ``featurizer.num_features``.
        featurizer: a fitted featurizer of the archs' space.
        archs: unlabelled architectures (at least 2).
        tasks: ``{task: weight}`` from :func:`gnnnas.nn.pretext.parse_pretrain`.
        targets: ``{task: [len(archs), k] array}`` of the regression tasks (``zero_cost``,
            ``flow``: from :func:`gnnnas.nn.probe.cached_probe_scores`); ``costs`` is computed
            here when not given. Each column is standardised; constant columns are dropped.
        epochs, batch_size, lr, weight_decay: AdamW with cosine decay over ``epochs`` passes.
        hyper: the ``hypernetwork`` task's executor and proxy images (needed when that task is in
            ``tasks``): the encoder's node embeddings emit every operation's weights through a
            :class:`~gnnnas.nn.hypernet.HyperNetworkHead`, the generated networks of
            ``hyper.archs_per_step`` archs of each batch classify ``hyper.images_per_step``
            proxy images, and their mean cross-entropy is the task loss (HyperNAS's auxiliary
            task, here on unlabelled archs before any label is seen).
        seed: seeds the shuffling, the masks, the image draws and the heads' initialisation.
        on_epoch: called with each epoch's record (progress reports).
        data_parallel: inside a torch.distributed process group, every rank calls this with the
            same archs, targets and seed; each runs its shard of every batch in
            DistributedDataParallel and the step is that of one process on the whole batch (up to
            float rounding; :mod:`gnnnas.distributed`).

    Returns:
        One record per epoch: ``{"epoch", "loss", "<task>": task loss}`` (regression tasks: mean
        squared error of the standardised targets; ``masked``: cross-entropy in nats).

    Raises:
        ValueError: fewer than 2 archs, ``batch_size`` < 2, a regression task without its targets (or with another
            number of rows), ``hypernetwork`` without ``hyper``, or no task has anything to learn (every target is constant and no
            operation node can be masked).
    """
    if len(archs) < 2:
        raise ValueError(f"pre-training needs at least 2 architectures, got {len(archs)}")
    if batch_size < 2:
        raise ValueError(f"batch_size must be >= 2 (a batch of one has no spread to learn from), got {batch_size}")
    device = torch.device(device)
    generator = torch.Generator().manual_seed(0 if seed is None else int(seed))
    rng = np.random.default_rng(seed)
    if seed is not None:
        torch.manual_seed(int(seed))
    batch = featurizer.transform(archs)
    given = dict(targets or {})
    if "costs" in tasks and "costs" not in given:
        given["costs"] = cost_targets(archs)[0]
    regression: dict[str, torch.Tensor] = {}
    for task in tasks:
        if task not in REGRESSION_PRETEXTS:
            continue
        if task not in given:
            raise ValueError(f"pretext task {task!r} needs its targets (targets={{{task!r}: array}})")
        raw = np.asarray(given[task], dtype=np.float64).reshape(len(given[task]), -1)
        if len(raw) != len(archs):
            raise ValueError(f"targets[{task!r}] has {len(raw)} rows for {len(archs)} architectures")
        std = raw.std(0)
        keep = std > 1e-8  # a target that never changes teaches nothing
        if keep.any():
            regression[task] = torch.from_numpy(((raw[:, keep] - raw[:, keep].mean(0)) / std[keep]).astype(np.float32))
    num_labels = featurizer.num_labels
    maskable = "masked" in tasks and bool(((batch.op >= 2) & (batch.op < num_labels - 2)).any())
    if "hypernetwork" in tasks and hyper is None:
        raise ValueError("pretext task 'hypernetwork' needs hyper=HyperPretext(executor, proxy images)")
    hyper_task = hyper if "hypernetwork" in tasks else None
    if not regression and not maskable and hyper_task is None:
        raise ValueError(f"pretext tasks {sorted(tasks)} have nothing to learn on these architectures "
                         "(constant targets, no operation node to mask)")
    heads = PretextHeads(encoder.out_dim, encoder.hidden_dim, {t: v.shape[1] for t, v in regression.items()},
                         num_labels if maskable else 0)
    if hyper_task is not None:
        heads.hyper = HyperNetworkHead(encoder.hidden_dim, hyper_task.executor.weight_specs(), encoder.hidden_dim)
        heads.executor = hyper_task.executor  # its shared stem and classifier train too
    encoder.to(device).train()
    heads.to(device).train()
    step = Step(encoder=encoder, heads=heads)
    stepped = distributed.wrap(step, device) if data_parallel else step
    params = list(encoder.parameters()) + list(heads.parameters())
    optimiser = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=epochs)
    bs = min(batch_size, len(archs))
    history = []
    for epoch in range(epochs):
        order = torch.from_numpy(rng.permutation(len(archs)))
        sums = {"loss": 0.0} | {t: 0.0 for t in tasks}
        seen = 0
        for k in range(0, len(order), bs):
            idx = order[k : k + bs]
            if len(idx) < 2:
                continue
            # the whole batch on every rank: its draws (images, masks) are the same on every rank
            part = batch[idx].to(device)
            images = labels = masked = chosen = None
            a = min(hyper_task.archs_per_step, len(idx)) if hyper_task is not None else 0
            if hyper_task is not None:
                images, labels = hyper_task.proxy.sample_train(hyper_task.images_per_step, generator)
                images, labels = images.to(device), labels.to(device)
            if maskable:
                masked, chosen = mask_ops(part, num_labels, generator, hide=featurizer.node_feature_columns)
            masking = maskable and bool(chosen.any())  # a batch of cells without operations has nothing to mask
            names = list(regression) + (["hypernetwork"] if hyper_task is not None else []) + (["masked"] if masking else [])
            if not names:  # nothing in this batch to learn from
                continue

            def compute(part=part, idx=idx, a=a, images=images, labels=labels, masked=masked, chosen=chosen,
                        masking=masking):
                """This rank's share of each task's loss (one process: the batch means)."""
                reduction = "sum" if data_parallel else "mean"
                mine, keep = _rank_part(len(idx), data_parallel)
                losses, nodes = [], None
                if regression:
                    nodes, graph_embedding = encoder(part[mine])
                    for task, values in regression.items():
                        losses.append(keep * nn.functional.mse_loss(heads.regression[task](graph_embedding),
                                                                    values[idx[mine]].to(device), reduction=reduction))
                if hyper_task is not None:
                    if data_parallel or nodes is None:
                        drawn, drawn_keep = _rank_part(a, data_parallel)
                        drawn_part = part[drawn]
                        drawn_nodes = encoder(drawn_part)[0]
                    else:  # one process: the first a archs of the batch, whose embeddings are at hand
                        drawn_part, drawn_nodes, drawn_keep = part[torch.arange(a)], nodes[:a], 1.0
                    logits = heads.executor(drawn_part, heads.hyper(drawn_nodes), heads.hyper.unpack, images)
                    losses.append(drawn_keep * nn.functional.cross_entropy(
                        logits.reshape(-1, logits.shape[-1]), labels.repeat(len(drawn_part)), reduction=reduction))
                if masking:
                    masked_nodes, _ = encoder(masked[mine])
                    here = chosen[mine]
                    losses.append(keep * nn.functional.cross_entropy(heads.masked(masked_nodes[here]),
                                                                     part.op[mine][here], reduction=reduction))
                return torch.stack(losses)

            task_losses = stepped(compute)
            if data_parallel:  # the ranks' sums -> the batch means, the same on every rank
                counts = [len(idx) * regression[t].shape[1] for t in regression]
                counts += [a * len(labels)] if hyper_task is not None else []
                counts += [int(chosen.sum())] if masking else []
                task_losses = distributed.sum_over_ranks(task_losses) / torch.tensor(
                    counts, dtype=task_losses.dtype, device=task_losses.device)
            loss = sum(tasks[name] * value for name, value in zip(names, task_losses))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            for name, value in zip(names, task_losses.detach().tolist()):
                sums[name] += value * len(idx)
            sums["loss"] += float(loss.detach()) * len(idx)
            seen += len(idx)
        schedule.step()
        record = {"epoch": epoch + 1} | {k: v / max(seen, 1) for k, v in sums.items()
                                         if k == "loss" or k in regression or (k == "masked" and maskable)
                                         or (k == "hypernetwork" and hyper_task is not None)}
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
    encoder.eval()
    return history
