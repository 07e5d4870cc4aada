"""The hypernetwork's auxiliary task: generated networks classify proxy images.

One step draws architectures from a pool (the labelled ones, plus unlabelled ones sampled from
the space: the task needs no accuracy labels) and a batch of training images; the loss is the
cross-entropy of every generated network, averaged. Scoring runs the generated networks on the
held-out images, with no finetuning.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from gnnnas.data.proxy import ProxyImages
from gnnnas.nn.featurize import DenseGraphBatch

__all__ = ["HyperTask", "per_arch_loss", "proxy_scores"]


class HyperTask:
    """Samples (architectures, images) for the auxiliary loss.

    Args:
        pool: featurised architectures the task draws from.
        proxy: proxy images (train split used here).
        archs_per_step, images_per_step: sizes of one step's draw.
        seed: of the draws.
    """

    def __init__(self, pool: DenseGraphBatch, proxy: ProxyImages, archs_per_step: int = 16,
                 images_per_step: int = 32, seed: int | None = 0) -> None:
        if archs_per_step < 1 or images_per_step < 2:
            raise ValueError("need archs_per_step >= 1 and images_per_step >= 2")
        self.pool = pool
        self.proxy = proxy
        self.archs_per_step = min(int(archs_per_step), len(pool))
        self.images_per_step = min(int(images_per_step), len(proxy.train_y))
        self.rng = np.random.default_rng(seed)
        self.generator = torch.Generator().manual_seed(int(self.rng.integers(2**31)))

    def loss(self, model, device: torch.device) -> torch.Tensor:
        """Mean cross-entropy of the generated networks of one random draw."""
        return self.draw_loss(model, device)[0]

    def draw_loss(self, model, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, DenseGraphBatch]:
        """``(mean cross-entropy, per-arch cross-entropy [A], the A archs drawn)`` of one draw."""
        archs, images, labels = self.draw(device)
        per_arch = per_arch_loss(model, archs, images, labels)
        return per_arch.mean(), per_arch, archs

    def draw(self, device: torch.device) -> tuple[DenseGraphBatch, torch.Tensor, torch.Tensor]:
        """One step's ``(A archs, images [I, C, H, W], labels [I])`` on ``device``; the next draw
        of this task's seeded generators (so the same on every rank of a data-parallel fit)."""
        idx = torch.from_numpy(self.rng.choice(len(self.pool), self.archs_per_step, replace=False))
        images, labels = self.proxy.sample_train(self.images_per_step, self.generator)
        return self.pool[idx].to(device), images.to(device), labels.to(device)


def per_arch_loss(model, archs: DenseGraphBatch, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy ``[A]`` of each architecture's generated network on ``images``."""
    logits = model.proxy_logits(archs, images)
    target = labels.repeat(logits.shape[0])
    per_image = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target, reduction="none")
    return per_image.view(logits.shape[0], -1).mean(1)


@torch.no_grad()
def proxy_scores(model, batch: DenseGraphBatch, proxy: ProxyImages, device: torch.device,
                 metric: str = "accuracy", archs_per_chunk: int = 64, images_per_chunk: int = 256,
                 on_chunk: Callable[[int], Any] | None = None) -> np.ndarray:
    """Held-out proxy accuracy (or negative cross-entropy) of every architecture's generated network.

    Batch-norm statistics come from each image chunk; chunks of 256 held-out images keep them
    stable. Higher is better for both metrics. ``on_chunk(n)`` is called after each chunk of
    ``n`` architectures is scored (for progress reports).
    """
    if metric not in ("accuracy", "loss"):
        raise ValueError(f"metric must be 'accuracy' or 'loss', got {metric!r}")
    model.eval()
    x, y = proxy.test_x, proxy.test_y
    n_img = len(y)
    out = np.zeros(len(batch))
    for a in range(0, len(batch), archs_per_chunk):
        sub = batch[a : a + archs_per_chunk].to(device)
        total = torch.zeros(len(sub), device=device)
        for i in range(0, n_img, images_per_chunk):
            images, labels = x[i : i + images_per_chunk].to(device), y[i : i + images_per_chunk].to(device)
            if len(labels) < 2:
                continue
            logits = model.proxy_logits(sub, images)
            if metric == "accuracy":
                total += (logits.argmax(-1) == labels[None]).sum(1).to(total.dtype)
            else:
                ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.repeat(len(sub)), reduction="none")
                total -= ce.view(len(sub), -1).sum(1)
        out[a : a + len(sub)] = (total / n_img).cpu().numpy()
        if on_chunk is not None:
            on_chunk(len(sub))
    return out
