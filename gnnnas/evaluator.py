"""Zero-finetune evaluation (the ADWPNAS use of the hypernetwork).

A hypernetwork trained on architectures sampled from a space predicts the weights of ANY
architecture of that space; the score of an architecture is how well its generated network
classifies held-out proxy images, with no finetuning and no accuracy labels at all.

:class:`ZeroFinetuneEvaluator` trains the encoder + hypernetwork on the auxiliary task alone;
a :class:`~gnnnas.Predictor` fitted with ``hypernetwork=True`` scores the same way through
:meth:`~gnnnas.Predictor.proxy_scores`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator

from gnnnas.graph import ArchGraph
from gnnnas.nn.convs import check_conv
from gnnnas.progress import Progress, ProgressMode
from gnnnas.spaces.base import SearchSpace
from gnnnas.spaces.registry import get_space

__all__ = ["ZeroFinetuneEvaluator"]


class ZeroFinetuneEvaluator(BaseEstimator):
    """Scores architectures by the held-out proxy accuracy of their generated networks.

    Args:
        space: search space name or object.
        proxy_data: proxy images (see :func:`gnnnas.data.load_proxy`).
        width: channels of the generated networks.
        hidden_dim, num_layers: encoder size.
        conv: the encoder's graph convolution (``gnnnas.Predictor``'s ``conv``).
        pool_size: architectures sampled from the space to train on (when ``fit`` gets none).
        steps: optimiser steps; each draws ``archs_per_step`` architectures and ``images_per_step``
            training images.
        lr, weight_decay: AdamW with cosine decay.
        metric: ``"accuracy"`` or ``"loss"`` (negative held-out cross-entropy); higher is better.
        prune, contract_identities: graph reduction before encoding (same function, fewer nodes).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"`` (decided in ``fit``).
        seed: makes training reproducible on CPU.
        num_threads: torch CPU threads while training and scoring (``gnnnas.Predictor``'s rule:
            a count, -1 for every CPU, None for torch's setting; 1 by default, see
            :mod:`gnnnas.threads`).
    """

    def __init__(
        self,
        space: str | SearchSpace = "nb201",
        proxy_data: Any = "digits",
        width: int = 8,
        hidden_dim: int = 128,
        num_layers: int = 4,
        conv: str | Callable = "gcn",
        pool_size: int = 2000,
        steps: int = 1000,
        archs_per_step: int = 16,
        images_per_step: int = 32,
        lr: float = 3e-3,
        weight_decay: float = 1e-2,
        metric: str = "accuracy",
        prune: bool = True,
        contract_identities: bool = True,
        device: str = "auto",
        seed: int | None = 0,
        num_threads: int | None = 1,
    ) -> None:
        self.space = space
        self.proxy_data = proxy_data
        self.width = width
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.conv = conv
        self.pool_size = pool_size
        self.steps = steps
        self.archs_per_step = archs_per_step
        self.images_per_step = images_per_step
        self.lr = lr
        self.weight_decay = weight_decay
        self.metric = metric
        self.prune = prune
        self.contract_identities = contract_identities
        self.device = device
        self.num_threads = num_threads
        self.seed = seed

    def _space(self) -> SearchSpace:
        return get_space(self.space) if isinstance(self.space, str) else self.space

    def _graphs(self, archs: Sequence[Any], space: SearchSpace) -> list[ArchGraph]:
        return [space.check(a) if isinstance(a, ArchGraph) else space.parse(a) for a in archs]

    def fit(self, archs: Sequence[Any] | None = None, progress: ProgressMode = False) -> ZeroFinetuneEvaluator:
        """Train the hypernetwork on ``archs`` (default: ``pool_size`` samples of the space).

        ``progress`` (:mod:`gnnnas.progress`; default quiet): report the training steps with the
        loss, elapsed and remaining time on stderr (one line per tenth of ``steps`` off a terminal).
        """
        from gnnnas.params import NUMERIC_PARAMS
        from gnnnas.predictor import resolve_device
        from gnnnas.threads import cpu_threads

        NUMERIC_PARAMS["num_threads"].check("num_threads", self.num_threads)
        check_conv(self.conv)
        with cpu_threads(self.num_threads, resolve_device(self.device)):
            return self._fit(archs, progress)

    def _fit(self, archs: Sequence[Any] | None, progress: ProgressMode) -> ZeroFinetuneEvaluator:
        from gnnnas.data.proxy import load_proxy
        from gnnnas.nn.executors import get_executor
        from gnnnas.nn.featurize import GraphFeaturizer
        from gnnnas.nn.hypertask import HyperTask
        from gnnnas.nn.model import RankingModel
        from gnnnas.predictor import resolve_device

        if self.metric not in ("accuracy", "loss"):
            raise ValueError(f"metric must be 'accuracy' or 'loss', got {self.metric!r}")
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps!r}")
        space = self._space()
        if archs is None:
            rng = np.random.default_rng(self.seed)
            graphs = [space.sample(rng) for _ in range(self.pool_size)]
        else:
            graphs = self._graphs(archs, space)
        if len(graphs) < 1:
            raise ValueError("need at least one architecture to train on")
        start = time.perf_counter()
        device = resolve_device(self.device)
        if self.seed is not None:
            torch.manual_seed(self.seed)
        self.space_ = space
        self.proxy_ = load_proxy(self.proxy_data, seed=0 if self.seed is None else int(self.seed))
        feat_dim = 0 if graphs[0].node_features is None else graphs[0].node_features.shape[1]
        self.featurizer_ = GraphFeaturizer(
            space.vocab, node_feature_dim=feat_dim, prune=self.prune, contract_identities=self.contract_identities
        ).fit(graphs)
        executor = get_executor(space.name, space.vocab, self.proxy_.in_channels, self.proxy_.num_classes, self.width)
        model = RankingModel(
            self.featurizer_.num_features,
            hidden_dim=self.hidden_dim,
            num_layers=self.num_layers,
            conv=self.conv,
            cell_sequence=graphs[0].cell_sequence,
            executor=executor,
        ).to(device)
        task = HyperTask(self.featurizer_.transform(graphs), self.proxy_, self.archs_per_step, self.images_per_step, self.seed)
        optimiser = torch.optim.AdamW(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=self.steps)
        self.loss_curve_ = []
        model.train()
        with Progress(self.steps, "pre-train hypernetwork", mode=progress, unit="step", line_every=0.1) as report:
            for _ in range(self.steps):
                loss = task.loss(model, device)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                schedule.step()
                self.loss_curve_.append(float(loss.detach()))
                report.advance(status=f"loss {self.loss_curve_[-1]:.4f}")
        model.eval()
        self.model_ = model.cpu()
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def score_archs(self, archs: Sequence[Any], progress: ProgressMode = False) -> np.ndarray:
        """One zero-finetune score per architecture (higher is better).

        ``progress`` (:mod:`gnnnas.progress`; default quiet): report the architectures scored,
        elapsed and remaining time on stderr (one line per tenth of them off a terminal).
        """
        from gnnnas.predictor import resolve_device
        from gnnnas.threads import cpu_threads

        with cpu_threads(self.num_threads, resolve_device(self.device)):
            return self._score_archs(archs, progress)

    def _score_archs(self, archs: Sequence[Any], progress: ProgressMode) -> np.ndarray:
        from gnnnas.nn.hypertask import proxy_scores
        from gnnnas.predictor import resolve_device

        if not hasattr(self, "model_"):
            raise ValueError("this ZeroFinetuneEvaluator is not fitted yet; call fit() first")
        graphs = self._graphs(archs, self.space_)
        if not graphs:
            return np.zeros(0)
        device = resolve_device(self.device)
        batch = self.featurizer_.transform(graphs)
        with Progress(len(graphs), "score", mode=progress, unit="arch", line_every=0.1) as report:
            scores = proxy_scores(self.model_.to(device), batch, self.proxy_, device, metric=self.metric,
                                  on_chunk=None if report.quiet else report.advance)
        self.model_.cpu()
        return scores
