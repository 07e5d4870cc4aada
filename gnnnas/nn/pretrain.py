"""The self-supervised stage: train an encoder on unlabelled architectures with pretext tasks.

:func:`pretrain_encoder` trains an :class:`~gnnnas.nn.encoder.ArchEncoder` in place on the
tasks of :mod:`gnnnas.nn.pretext` and returns the per-epoch losses. It sees architectures
only, never accuracy labels: the Predictor then fine-tunes the encoder on the labelled ones
(FGP, arXiv 2510.18360, section 3: pre-train on all archs of the space, then fine-tune).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial

import numpy as np
import torch
from torch import nn

from gnnnas import distributed
from gnnnas.distributed import Step
from gnnnas.graph import ArchGraph
from gnnnas.nn.encoder import ArchEncoder
from gnnnas.nn.featurize import DenseGraphBatch, GraphFeaturizer
from gnnnas.nn.hypernet import HyperNetworkHead
from gnnnas.nn.pretext import REGRESSION_PRETEXTS, HyperPretext, PretextHeads, cost_targets, mask_ops

__all__ = ["pretrain_encoder"]


def _pretext_losses(encoder: ArchEncoder, heads: PretextHeads, part: DenseGraphBatch,
                    targets: dict[str, torch.Tensor], draw: tuple[int, torch.Tensor, torch.Tensor] | None,
                    masking: tuple[DenseGraphBatch, torch.Tensor] | None, data_parallel: bool) -> dict[str, torch.Tensor]:
    """Each task's loss on one batch: in one process the batch means; under ``data_parallel`` this
    rank's sums over its shard (the caller adds the ranks' sums and divides by the batch's counts).

    ``part``: the whole batch; ``targets``: ``{regression task: [B, k]}``; ``draw``: the
    hypernetwork task's ``(a archs from the batch's start, images, labels)``; ``masking``: the
    masked batch and its mask ``[B, N]``.
    """
    reduction = "sum" if data_parallel else "mean"
    rows = distributed.shard(torch.arange(len(part)), active=data_parallel)
    mine = rows.run[: rows.kept]
    losses, nodes = {}, None
    if targets:
        nodes, graph_embedding = encoder(part[rows.run])
        for task, values in targets.items():
            losses[task] = nn.functional.mse_loss(heads.regression[task](graph_embedding[: rows.kept]), values[mine],
                                                  reduction=reduction)
    if draw is not None:
        a, images, labels = draw
        drawn = distributed.shard(torch.arange(a), active=data_parallel)
        drawn_part = part[drawn.run]
        # one process: the drawn archs are the batch's first a, whose node embeddings are at hand
        drawn_nodes = nodes[:a] if nodes is not None and not data_parallel else encoder(drawn_part)[0]
        logits = heads.executor(drawn_part, heads.hyper(drawn_nodes), heads.hyper.unpack, images)[: drawn.kept]
        losses["hypernetwork"] = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                             labels.repeat(drawn.kept), reduction=reduction)
    if masking is not None:
        masked, chosen = masking
        masked_nodes, _ = encoder(masked[rows.run])
        here = chosen[mine]
        losses["masked"] = nn.functional.cross_entropy(heads.masked(masked_nodes[: rows.kept][here]),
                                                       part.op[mine][here], reduction=reduction)
    return losses


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
        FloatingPointError: the weighted loss of a batch is NaN or infinite, or the trained
            weights are (the encoder diverged: too high an ``lr`` or weight); the message gives
            each task's loss.
        ValueError: fewer than 2 archs, ``batch_size`` < 2, ``data_parallel`` without a ``seed``, a regression task without its targets (or with another
            number of rows), ``hypernetwork`` without ``hyper``, or no task has anything to learn (every target is constant and no
            operation node can be masked).
    """
    if len(archs) < 2:
        raise ValueError(f"pre-training needs at least 2 architectures, got {len(archs)}")
    if batch_size < 2:
        raise ValueError(f"batch_size must be >= 2 (a batch of one has no spread to learn from), got {batch_size}")
    if data_parallel and seed is None:
        raise ValueError("data-parallel pre-training needs a seed (every rank must draw the same batches)")
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
            targets = {task: values[idx].to(device) for task, values in regression.items()}
            draw = masking = None
            if hyper_task is not None:
                images, labels = hyper_task.proxy.sample_train(hyper_task.images_per_step, generator)
                draw = (min(hyper_task.archs_per_step, len(idx)), images.to(device), labels.to(device))
            if maskable:
                masked, chosen = mask_ops(part, num_labels, generator, hide=featurizer.node_feature_columns)
                if bool(chosen.any()):  # a batch of cells without operations has nothing to mask
                    masking = (masked, chosen)
            if not targets and draw is None and masking is None:  # nothing in this batch to learn from
                continue
            losses = stepped(partial(_pretext_losses, encoder, heads), part, targets, draw, masking, data_parallel)
            names = list(losses)
            task_losses = torch.stack([losses[name] for name in names])
            if data_parallel:  # the ranks' sums -> the batch means, the same on every rank
                counts = {task: values.numel() for task, values in targets.items()}
                counts |= {"hypernetwork": draw[0] * len(draw[2])} if draw is not None else {}
                counts |= {"masked": int(masking[1].sum())} if masking is not None else {}
                task_losses = distributed.sum_over_ranks(task_losses) / torch.tensor(
                    [counts[name] for name in names], dtype=task_losses.dtype, device=task_losses.device)
            loss = sum(tasks[name] * value for name, value in zip(names, task_losses))
            loss_value = float(loss.detach())  # the one host sync of the step, also for the epoch's sum
            if not math.isfinite(loss_value):  # every rank sees the same loss: all raise together
                parts = ", ".join(f"{name} {value:.4g}" for name, value in zip(names, task_losses.detach().tolist()))
                raise FloatingPointError(
                    f"pre-training diverged: the pretext loss is {loss_value:.4g} at epoch {epoch + 1} of {epochs} "
                    f"({parts}; weights {tasks}); no encoder was kept. Lower lr= (now {lr:g}) or the tasks' weights")
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            for name, value in zip(names, task_losses.detach().tolist()):
                sums[name] += value * len(idx)
            sums["loss"] += loss_value * len(idx)
            seen += len(idx)
        schedule.step()
        record = {"epoch": epoch + 1} | {k: v / max(seen, 1) for k, v in sums.items()
                                         if k == "loss" or k in regression or (k == "masked" and maskable)
                                         or (k == "hypernetwork" and hyper_task is not None)}
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
    # the last step follows the last loss checked: its update can still overflow the weights
    if (bad := next((n for n, p in encoder.named_parameters() if not bool(torch.isfinite(p).all())), None)) is not None:
        raise FloatingPointError(f"pre-training diverged: after epoch {epochs} the encoder weight {bad!r} holds NaN "
                                 f"or infinite values; no encoder was kept. Lower lr= (now {lr:g}) or the tasks' weights")
    encoder.eval()
    return history
