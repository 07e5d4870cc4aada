"""``gnnnas.Predictor``: a GNN accuracy predictor with scikit-learn's estimator contract."""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from scipy import stats
from sklearn.base import BaseEstimator

from gnnnas import distributed
from gnnnas.graph import ArchGraph
from gnnnas.nn.convs import check_conv
from gnnnas.nn.featurize import DenseGraphBatch, GraphFeaturizer
from gnnnas.nn.losses import parse_loss_spec, ranking_loss
from gnnnas.nn.model import RankingModel
from gnnnas.nn.multitask import TASK_WEIGHTINGS, TaskWeighting
from gnnnas.nn.pretext import parse_pretrain
from gnnnas.params import BOOL_PARAMS, NUMERIC_PARAMS, POSITIVE_INT
from gnnnas.spaces.base import SearchSpace
from gnnnas.spaces.registry import get_space
from gnnnas.threads import available_cpus, cpu_threads  # noqa: F401  (available_cpus: re-exported)

__all__ = ["CheckpointError", "Predictor", "gave_back_most", "resolve_device"]

_LABEL_TRANSFORMS = ("rank", "standard")




class CheckpointError(ValueError):
    """A checkpoint file is corrupt, of another space, or from an incompatible version."""


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA when present, else CPU (decided when called, never at import).

    Raises:
        ValueError: ``device`` is not a device name or ``torch.device`` ("bad device"), or it is
            a CUDA device and CUDA is not available.
    """
    if not isinstance(device, (str, torch.device)):
        raise ValueError(f"bad device {device!r}: device must be 'auto', 'cpu', 'cuda' or a torch.device")  # noqa: TRY004
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as error:
        raise ValueError(f"bad device {device!r}: {error}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r}: CUDA is not available on this machine; use device='cpu' or 'auto'")
    return resolved


class Predictor(BaseEstimator):
    """Predicts a score per architecture whose order follows the (unseen) accuracy.

    Every hyperparameter is an ``__init__`` argument; learned state ends in ``_``.
    ``predict(archs, return_std=True)`` also returns the spread of the ensemble members, an
    uncertainty estimate for search (see ``n_members`` and ``bootstrap``).

    Args:
        space: search space name (or a :class:`~gnnnas.SearchSpace`); native encodings of this
            space are accepted wherever archs are.
        hidden_dim, num_layers, dropout: encoder size.
        conv: the encoder's graph convolution (:mod:`gnnnas.nn.convs`): ``"gcn"`` (the
            two-direction GCN with the global node, default); ``"gine"``, ``"gatv2"``,
            ``"transformer"``, ``"resgated"`` (one torch-geometric layer, edge kinds as edge
            features); ``"gin"``, ``"graphconv"``, ``"sage"`` (one layer per edge kind); a PyG
            conv class such as ``torch_geometric.nn.GCNConv``, or a callable
            ``(in_dim, out_dim) -> MessagePassing``. Checkpoints store a name: register your
            own layer with :func:`gnnnas.nn.register_conv` before saving. Measured per protocol
            in ``benchmarks/results/convs.md``.
        use_global_node: let the global macro-structure node take part (ablation switch).
        cell_context: HyperNAS cell-to-cell context for multi-cell spaces (DARTS).
        readout: ``"+"``-joined ``global``, ``mean``, ``sum`` (default all three: the sum keeps the
            graph size - depth on ViT - that the mean loses; measured +.06 tau on PVIT at 50
            labels, +.006 on P201 at 78).
        global_mode: how the global node talks to the DAG: ``"branch"`` (both ways, its own
            weights), ``"edges"`` (an ordinary node linked to all others) or ``"readout"`` (it
            gathers the DAG nodes every layer but sends nothing back).
        macro_features: feed the space's macro features (params, FLOPs, depth...) to the global
            node; when False (default) the global node starts from its type embedding alone.
            Measured: on P201 at 78 labels the macro features cost about .02 tau (.755 vs .778,
            5 seeds) and on PVIT at 50 labels .02 (.675 vs .695): with few labels the model
            over-relies on params/FLOPs. See benchmarks/results for the ablation. The macro
            features describe the whole network, dead weights included (NB201 counts the
            params of ops that feed nothing), so with them two architectures of one
            ``canonical_hash`` can score differently.
        prune: train and predict on graphs with dead operations removed.
        contract_identities: also remove skip connections (wire around them).
        loss: ranking loss spec, e.g. ``"pairwise_logistic"``, ``"mse+0.5*pairwise_hinge"``,
            ``"listnet"``.
        label_transform: ``"rank"`` (training labels -> standardised ranks; robust to the long
            low-accuracy tail) or ``"standard"`` (z-score).
        epochs: training epochs; ``None`` picks a budget of about 4,000 optimiser steps
            (between 100 and 500 epochs: 500 at 78 labels, 100 at 1,563).
        batch_size, lr, weight_decay: AdamW with cosine decay.
        n_members: ensemble size (members differ by seed); predictions are averaged and their
            standard deviation across members is ``predict(..., return_std=True)``'s uncertainty.
            Costs ``n_members`` times the fit time of one model.
        bootstrap: each member trains on a bootstrap resample (drawn with replacement, seeded by
            the member's seed) of its training labels instead of all of them, so members disagree
            more where the labels say little (a bagged ensemble: better-spread uncertainty). The
            validation split, if any, is held out before resampling. The cost is that of the
            ensemble itself: ``k`` members take ``k`` times the fit time of one.
        validation_fraction: hold out this fraction of the labels for early stopping.
        early_stopping_patience: stop a member after this many evaluations (every 10 epochs)
            without validation Kendall tau improvement; ``None`` trains all epochs.
        hypernetwork: train the hypernetwork head jointly (HyperNAS's auxiliary task): every
            operation node's embedding emits that op's weights, the generated small network
            classifies proxy images, and its cross-entropy trains the shared encoder too.
            Off by default: on P201 it measured no significant tau gain over ranking only (5
            seeds at 39-469 labels, other weightings at 78; benchmarks/results/hyper_ablation.md). Needed
            for :meth:`proxy_scores`.
        proxy_data: proxy images of that task: ``"digits"`` (scikit-learn, no download),
            ``"fashion_mnist"``, ``(x, y)`` arrays, a torch Dataset or a
            :class:`~gnnnas.data.ProxyImages` (see :func:`gnnnas.data.load_proxy`).
        hyper_width: channels of the generated networks.
        unlabelled_archs: architectures sampled from the space (seeded) and added to the labelled
            ones as the auxiliary task's pool; they need no accuracy labels. ``0``: labelled only.
        hyper_archs, hyper_images: architectures and images per auxiliary step.
        hyper_every: run the auxiliary task every this many ranking steps (it costs far more
            than a ranking step).
        task_weighting: ``"dynamic"`` (HyperNAS adaptive loss with learnable ``u_t`` and
            preference ``task_preference``), ``"uncertainty"`` (Kendall et al.) or ``"fixed"``
            (``ranking + hyper_loss_weight * hyper``).
        task_preference: ``q`` of the dynamic loss.
        hyper_loss_weight: weight of the auxiliary loss when ``task_weighting="fixed"``.
        proxy_rank_weight: when > 0, the ranking head also learns, on each auxiliary draw
            (unlabelled archs included), to order archs like their generated networks' proxy
            loss (pairwise logistic, this weight): a label-free ranking signal.
        pretrain: run a self-supervised stage before the supervised fit: the encoder first learns
            label-free pretext tasks (:mod:`gnnnas.nn.pretext`: ``"costs"``, ``"zero_cost"``,
            ``"flow"``, ``"masked"``, ``"hypernetwork"`` (generated networks classify
            ``proxy_data``, ``hyper_archs`` x ``hyper_images`` per step, width ``hyper_width``),
            joined with ``+`` and optional weights, e.g.
            ``"costs+0.5*masked"``; ``zero_cost`` and ``flow`` run every architecture's small
            network at initialisation once and cache the numbers on disk) on unlabelled
            architectures of the space - every one of a finite space of at most
            ``pretrain_archs`` (NB201's 15,625), else ``pretrain_archs`` seeded samples, or
            ``fit``'s ``unlabelled`` - then every member starts from it and fine-tunes on the
            labels. Never reads a label. The pre-trained encoder is kept in
            ``pretrained_encoder_`` (:meth:`save_encoder`) and memoised in the process, so
            fits that differ only in their labels pre-train once. ``None``: no pre-training.
        pretrained: where the encoder's weights start. ``"auto"`` (default): from the encoder
            gnnnas ships for the space (``gnnnas/pretrained/``, today NB201's: the ``costs``
            pretext on all 15,625 cells) when there is one, ``pretrain`` is ``None`` and the
            file's encoder shape (:data:`gnnnas.nn.checkpoint.ENCODER_PARAMS`), op vocabulary,
            cell stacking and node-feature width equal this predictor's and its graphs';
            otherwise from a random initialisation. Chosen because it measured better on
            CIFAR-10 labels: P201 .729 / .800 / .840 / .900 vs .721 / .787 / .838 / .896 from
            scratch at 39 / 78 / 156 / 469 labels (5 seeds), and on CIFAR-100 and
            ImageNet16-120 labels (P201-C100 .717 / .780 / .826 / .889 vs .681 / .761 / .820 /
            .883, P201-IN16 .700 / .765 / .824 / .891 vs .644 / .754 / .816 / .885;
            ``benchmarks/results/pretrain.md``); in NB201 CIFAR-100 search it needed more
            queries (docs/search.md). No other space ships one: no pretext measured better
            than random weights on NB101 or the ViT space, nor on DARTS (PDARTS ``costs``
            -.001 / +.008 / +.003 at 100 / 200 / 400 labels, ``masked`` 0 of 8 pairs up).
            ``None``: always a random
            initialisation (the predictor as measured before the switch). ``"default"``: the
            shipped encoder, and a ``ValueError`` where there is none or it does not fit. A file
            path (:meth:`save_encoder`, ``gnnnas pretrain``): that encoder; its space and
            encoder shape must match this predictor's. After ``fit``, ``encoder_start_`` says
            which start the fitted members took - ``"random"``, ``"shipped:<space>"``,
            ``"pretrain:<tasks>"`` (the tasks spelt canonically, ``"costs+0.5*masked"``) or
            ``"file:<absolute path>"`` - and is kept in checkpoints (``None`` where a file
            saved before it existed cannot tell); ``pretrained_encoder_`` holds the encoder
            of the last ``fit`` or :meth:`pretrain_only` (``None``: random; not kept in
            checkpoints).
        pretrain_archs: architectures of the pre-training pool (see ``pretrain``).
        encoder_lr_scale: multiplies ``lr`` for the encoder's weights during the supervised fit
            when they start from a pre-trained encoder (``pretrain``, or a ``pretrained``
            start); the heads, new at every fit, keep ``lr``. ``1`` (default): one ``lr`` for
            all, as measured in ``benchmarks/results/pretrain.md``; ``0``: the pre-trained
            encoder stays frozen. No effect on a random start. Discriminative fine-tuning
            (Howard & Ruder, ULMFiT, arXiv 1801.06146): a smaller step keeps more of what the
            pretext taught when the labels are few. Measured at 0.1
            (``benchmarks/results/pretrain.md``): after ``costs`` on the ViT space +.079 / +.018
            at 20 / 50 labels and -.052 at 100 against the full lr (5 seeds); from the shipped
            NB201 encoder -.011 to -.023 at 78-469 labels (P201, 5 seeds) and -.011 on PC201 (9
            runs), hence the default 1. At ``0`` the encoder's weights do not move, but their
            gradients are still computed. A value other than 1 on a random start warns
            (``UserWarning``) and changes nothing.
        pretrain_epochs, pretrain_batch_size: the pre-training schedule (AdamW, ``lr``,
            ``weight_decay``, cosine decay).
        device: ``"auto"`` (CUDA if present, else CPU; decided in ``fit``), ``"cpu"``, ``"cuda"``.
        data_parallel: inside an initialised torch.distributed process group of several ranks,
            ``fit`` is a collective: every rank calls it with the same data and seed, and it
            trains with DistributedDataParallel, each rank on its shard of every global batch
            (:mod:`gnnnas.distributed`; ``torchrun ... -m gnnnas train`` sets it); the
            hypernetwork task's drawn archs and the pre-training stage are sharded the same way.
            No effect in one process.
        num_threads: torch intra-op threads while fitting and predicting on CPU (set for the
            call, then restored); ``None`` leaves torch's setting. 1 by default: batches of a
            few dozen small graphs gain nothing from more threads, and on a machine shared with
            other jobs the extra threads spin-wait. Measured on a busy 2-core machine (P201, 78
            labels, 90 steps): 5.9-11.1 s with 1 thread, 67-77 s with torch's default of 2;
            predicting 15,625 cells took about the same either way
            (``benchmarks/results/threads.md``). Not thread-safe: torch's setting is global.
            Reproducibility: the count is set inside ``fit`` and ``predict``, so a seeded fit
            gives bit-identical predictions whatever the process's own setting
            (``OMP_NUM_THREADS``, ``torch.set_num_threads``; tested with 1 and 2 in fresh
            processes). Between two values of ``num_threads`` (or with ``None``) they may differ
            in the last digits: torch's parallel reductions (weight gradients summed over a
            batch's nodes, large on DARTS graphs) split their sums by thread; measured, DARTS
            predictions moved by up to 0.007 after 20 epochs, NB201 ones not at all.
        seed: makes fitting reproducible: identical predictions on CPU for the same
            ``num_threads`` (see there), torch version and data.
        verbose: report the epochs of each fit on stderr (:mod:`gnnnas.progress`): a tqdm bar on
            a terminal, one line per tenth of the epochs otherwise (logs, CI).
    """

    def __init__(
        self,
        space: str | SearchSpace = "nb201",
        hidden_dim: int = 128,
        num_layers: int = 4,
        dropout: float = 0.1,
        conv: str | Callable = "gcn",
        use_global_node: bool = True,
        cell_context: bool = True,
        readout: str = "global+mean+sum",
        global_mode: str = "branch",
        macro_features: bool = False,
        prune: bool = True,
        contract_identities: bool = True,
        loss: str = "pairwise_logistic",
        label_transform: str = "rank",
        epochs: int | None = None,
        batch_size: int = 32,
        lr: float = 3e-3,
        weight_decay: float = 1e-2,
        n_members: int = 1,
        bootstrap: bool = False,
        validation_fraction: float = 0.0,
        early_stopping_patience: int | None = None,
        hypernetwork: bool = False,
        proxy_data: Any = "digits",
        hyper_width: int = 8,
        unlabelled_archs: int = 1000,
        hyper_archs: int = 16,
        hyper_images: int = 32,
        hyper_every: int = 2,
        task_weighting: str = "dynamic",
        task_preference: float = 1.5,
        hyper_loss_weight: float = 1.0,
        proxy_rank_weight: float = 0.0,
        pretrain: str | None = None,
        pretrained: str | os.PathLike | None = "auto",
        pretrain_archs: int = 20000,
        pretrain_epochs: int = 10,
        pretrain_batch_size: int = 256,
        encoder_lr_scale: float = 1.0,
        device: str = "auto",
        data_parallel: bool = False,
        num_threads: int | None = 1,
        seed: int | None = 0,
        verbose: bool = False,
    ) -> None:
        self.space = space
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.dropout = dropout
        self.conv = conv
        self.use_global_node = use_global_node
        self.cell_context = cell_context
        self.readout = readout
        self.global_mode = global_mode
        self.macro_features = macro_features
        self.prune = prune
        self.contract_identities = contract_identities
        self.loss = loss
        self.label_transform = label_transform
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.n_members = n_members
        self.bootstrap = bootstrap
        self.validation_fraction = validation_fraction
        self.early_stopping_patience = early_stopping_patience
        self.hypernetwork = hypernetwork
        self.proxy_data = proxy_data
        self.hyper_width = hyper_width
        self.unlabelled_archs = unlabelled_archs
        self.hyper_archs = hyper_archs
        self.hyper_images = hyper_images
        self.hyper_every = hyper_every
        self.task_weighting = task_weighting
        self.task_preference = task_preference
        self.hyper_loss_weight = hyper_loss_weight
        self.proxy_rank_weight = proxy_rank_weight
        self.pretrain = pretrain
        self.pretrained = pretrained
        self.pretrain_archs = pretrain_archs
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_batch_size = pretrain_batch_size
        self.encoder_lr_scale = encoder_lr_scale
        self.device = device
        self.data_parallel = data_parallel
        self.num_threads = num_threads
        self.seed = seed
        self.verbose = verbose

    # ------------------------------------------------------------------ input handling
    def _space(self) -> SearchSpace:
        return get_space(self.space) if isinstance(self.space, str) else self.space

    def _as_archs(self, archs: Sequence[Any], space: SearchSpace) -> list[ArchGraph]:
        if isinstance(archs, (str, bytes)) or not hasattr(archs, "__len__"):
            raise ValueError("archs must be a sequence of ArchGraphs or native encodings")
        out = []
        for i, arch in enumerate(archs):
            if isinstance(arch, ArchGraph):
                if arch.space != space.name:
                    raise ValueError(
                        f"arch {i} belongs to space {arch.space!r}, but this predictor is for {space.name!r}"
                    )
                out.append(arch)
            else:
                try:
                    out.append(space.parse(arch))
                except ValueError as error:
                    raise ValueError(f"arch {i} is not a valid {space.name} encoding: {error}") from None
        return out

    def _check_params(self) -> None:
        """``ValueError`` naming the first hyperparameter of a wrong type or out of range."""
        if not isinstance(self.space, (str, SearchSpace)):
            raise ValueError(f"space must be a space name such as 'nb201' or a SearchSpace, got {self.space!r}")  # noqa: TRY004
        for name, allowed in NUMERIC_PARAMS.items():
            allowed.check(name, getattr(self, name))
        for name in BOOL_PARAMS:
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")  # noqa: TRY004
        if self.label_transform not in _LABEL_TRANSFORMS:
            raise ValueError(f"label_transform must be one of {_LABEL_TRANSFORMS}, got {self.label_transform!r}")
        check_conv(self.conv)
        parse_loss_spec(self.loss)
        if self.task_weighting not in TASK_WEIGHTINGS:
            raise ValueError(f"task_weighting must be one of {TASK_WEIGHTINGS}, got {self.task_weighting!r}")
        if self.pretrain is not None:
            parse_pretrain(self.pretrain)
        if (self.pretrained is not None and not isinstance(self.pretrained, (str, os.PathLike))
                or isinstance(self.pretrained, str) and not self.pretrained.strip()):
            raise ValueError(f"pretrained must be 'auto', 'default', None or a file path, got {self.pretrained!r}")
        if self.pretrain is not None and self.pretrained not in (None, "auto"):
            raise ValueError("pass pretrain (run the self-supervised stage) or pretrained (start from a file), not both")
        if self.early_stopping_patience is not None and self.validation_fraction == 0:
            raise ValueError("early_stopping_patience needs validation_fraction > 0")

    def _transform_labels(self, y: np.ndarray) -> np.ndarray:
        if self.label_transform == "rank":
            z = stats.rankdata(y) / len(y)
        else:
            z = y.astype(np.float64)
        std = z.std()
        return ((z - z.mean()) / (std if std > 0 else 1.0)).astype(np.float32)

    # ------------------------------------------------------------------ fit
    def fit(self, archs: Sequence[Any], y: Sequence[float], unlabelled: Sequence[Any] | None = None) -> Predictor:
        """Train on labelled architectures; returns ``self``.

        ``unlabelled``: architectures for the label-free tasks: the hypernetwork task's pool
        (instead of ``unlabelled_archs`` samples drawn from the space) and the pre-training pool
        (instead of the space's archs, see ``pretrain``); ignored without either.

        Data-parallel (``data_parallel=True`` inside a torch.distributed process group of
        several ranks): every rank calls ``fit`` with the same data; all end with the same weights.

        Raises:
            ValueError: a hyperparameter is of the wrong type or out of range (the message names
                it), a data-parallel fit with ``seed=None`` or whose ranks hold different data or
                hyperparameters,
                ``device`` is CUDA where CUDA is not available, an arch is not of this
                space, or ``y`` is not a 1-D array of real numbers, one per arch, finite, not
                all equal and small enough to standardise (mean and std must not overflow).
            RuntimeError: in a data-parallel fit, another rank's input failed these checks (every
                rank stops, none waits in a collective for the failed one).
            FloatingPointError: the ``pretrain`` stage diverged (a NaN or infinite pretext loss:
                lower ``lr`` or the tasks' weights); no encoder is kept or memoised.
            CheckpointError: the ``pretrained`` file is damaged, of another format, or holds NaN
                or infinite weights.

        Warns:
            RuntimeWarning: a member ended scoring every training architecture alike (its
                ranking head's ReLU units all inactive, so no gradient could revive it) and was
                restored to its lowest-loss epoch; the message says whether that epoch ranks.
                Or a member learned (its training loss, averaged over windows of
                ``max(3, epochs // 20)`` epochs, fell at least 20% below that of scoring every
                architecture alike) and then ended more than halfway back to it
                (:func:`gave_back_most`): it is restored to the end of its lowest window.
                The ranking loss alone is judged (not the hypernetwork's terms), against the
                loss of scoring each batch alike; ``loss="listnet"``, whose lowest loss stays
                within 20% of that, is in practice not judged. Neither guard runs when the fit
                kept a best-validation epoch (``validation_fraction > 0``). ``restored_`` lists
                per member ``None`` or ``{"reason": "collapsed" | "gave_back", "epoch": the
                restored epoch}`` (not kept in checkpoints, like ``history_``).
        """
        parallel = bool(self.data_parallel) and distributed.world()[1] > 1
        with distributed.fail_together(parallel):  # one rank's bad input stops every rank
            space, graphs, y, device = self._check_fit_input(archs, y)
            if parallel:
                device = self._parallel_device(device)
                if unlabelled is not None:  # parsed once: the hypernetwork task and pre-training reuse it
                    unlabelled = self._as_archs(unlabelled, space)
                digest = distributed.data_digest((g.canonical_hash() for g in graphs + list(unlabelled or [])), y)
        if parallel:
            self._check_same_params()
            distributed.check_same_data(digest, "archs, labels and unlabelled archs" if unlabelled is not None
                                        else "archs and labels")
        with cpu_threads(self.num_threads, device):
            # recorded in benchmark results: what the fit really ran with (None on a GPU)
            self.threads_used_ = torch.get_num_threads() if device.type == "cpu" else None
            return self._fit(graphs, y, space, device, unlabelled, parallel)

    def _check_fit_input(self, archs: Sequence[Any], y: Sequence[float]):
        """``(space, graphs, labels as float64, device)`` of a fit, or ``ValueError`` naming the problem."""
        self._check_params()
        space = self._space()
        graphs = self._as_archs(archs, space)
        y = np.asarray(y)
        if y.ndim != 1 or y.dtype.kind not in "biuf":
            raise ValueError(f"y must be a 1-D array of real numbers (one label per arch), got {y.dtype} array "
                             f"of shape {y.shape}")
        y = y.astype(np.float64)
        if len(graphs) != len(y):
            raise ValueError(f"got {len(graphs)} archs but {len(y)} labels")
        if len(y) < 2:
            raise ValueError(f"need at least 2 labelled archs, got {len(y)}")
        if not np.all(np.isfinite(y)):
            raise ValueError(f"labels must be finite; {int(np.sum(~np.isfinite(y)))} are NaN or infinite")
        if np.all(y == y[0]):
            raise ValueError("all labels are equal: there is nothing to rank")
        with np.errstate(over="ignore", invalid="ignore"):
            if not (np.isfinite(y.mean()) and np.isfinite(y.std())):
                raise ValueError("labels too large to standardise: their mean or std overflows float64; rescale y")
        return space, graphs, y, resolve_device(self.device)

    def _check_same_params(self) -> None:
        """Every rank of a data-parallel run must hold the same hyperparameters (seed, epochs,
        batch size...): ranks that differ would run different collectives, or silently another fit."""
        params = {k: v for k, v in self.get_params().items() if k != "verbose"}  # progress: rank 0 only
        distributed.check_same_data(distributed.params_digest(params),
                                    "hyperparameters (seed, epochs, batch size, ...)")

    def _parallel_device(self, device: torch.device) -> torch.device:
        """This rank's device in a data-parallel run; refuses what would make the ranks diverge."""
        if self.seed is None:
            raise ValueError("a data-parallel fit needs a seed= (every rank must draw the same batches)")
        return distributed.rank_device(device)

    def _fit(self, graphs: list[ArchGraph], y: np.ndarray, space: SearchSpace, device: torch.device,
             unlabelled: Sequence[Any] | None, parallel: bool = False) -> Predictor:
        start = time.perf_counter()
        self.space_ = space
        self.cell_sequence_ = graphs[0].cell_sequence
        self.featurizer_, encoder, encoder_start = self._start_encoder(graphs, space, device, unlabelled, parallel)
        encoder_state = None if encoder is None else encoder.state
        if encoder_state is None and self.encoder_lr_scale != 1.0:
            warnings.warn(f"encoder_lr_scale={self.encoder_lr_scale} has no effect: the encoder starts from random "
                          "weights (it scales the fine-tuning lr of a pre-trained encoder: pretrain= or pretrained=)",
                          UserWarning, stacklevel=3)
        batch = self.featurizer_.transform(graphs)
        hyper_pool = None
        self.proxy_ = None
        if self.hypernetwork:
            from gnnnas.data.proxy import load_proxy

            self.proxy_ = load_proxy(self.proxy_data, seed=0 if self.seed is None else int(self.seed))
            if unlabelled is None:
                rng = np.random.default_rng(None if self.seed is None else int(self.seed) + 7919)
                extra = [space.sample(rng) for _ in range(self.unlabelled_archs)]
            else:
                extra = self._as_archs(unlabelled, space)
            hyper_pool = self.featurizer_.transform(graphs + extra)
        self.y_mean_ = float(y.mean())
        self.y_std_ = float(y.std()) or 1.0
        target = torch.from_numpy(self._transform_labels(y))
        self.proxy_shape_ = (self.proxy_.in_channels, self.proxy_.num_classes) if self.proxy_ is not None else None
        self.models_ = []
        self.history_ = []
        self.restored_ = []
        for member in range(self.n_members):
            seed = None if self.seed is None else int(self.seed) * 1000 + member
            model, history, restored = self._fit_member(batch, target, seed, device, hyper_pool, encoder_state,
                                                        parallel)
            self.models_.append(model)
            self.history_.append(history)
            self.restored_.append(restored)
        self.device_ = device
        self.n_train_ = len(y)
        self.pretrained_encoder_, self.encoder_start_ = encoder, encoder_start
        self.fit_seconds_ = time.perf_counter() - start
        return self

    # ------------------------------------------------------------------ pre-training
    def _new_featurizer(self, graphs: Sequence[ArchGraph], space: SearchSpace) -> GraphFeaturizer:
        macro_names = sorted(set().union(*(g.macro.keys() for g in graphs))) if self.macro_features else []
        return GraphFeaturizer(space.vocab, node_feature_dim=_node_feature_width(graphs), macro_names=macro_names, prune=self.prune,
                               contract_identities=self.contract_identities)

    def _encoder_params(self, space: SearchSpace) -> dict:
        from gnnnas.nn.checkpoint import ENCODER_PARAMS
        from gnnnas.nn.convs import conv_name

        params = {name: getattr(self, name) for name in ENCODER_PARAMS}
        params["space"] = space.name
        params["conv"] = conv_name(self.conv) or repr(self.conv)
        return params

    def _start_encoder(self, graphs: list[ArchGraph], space: SearchSpace, device: torch.device,
                       unlabelled: Sequence[Any] | None, parallel: bool = False) -> tuple[GraphFeaturizer, Any, str]:
        """``(featurizer, encoder, start)``: the fitted featurizer, the pre-trained encoder every
        member starts from (a :class:`~gnnnas.nn.checkpoint.PretrainedEncoder`; ``None``: random
        initialisation) - from the ``pretrain`` stage, ``pretrained``, or neither - and its name
        (``encoder_start_``, see ``pretrained``)."""
        from gnnnas.nn.checkpoint import featurizer_from_state

        if self.pretrain is not None:
            encoder = self._pretrain(space, device, unlabelled, parallel)
            start = f"pretrain:{encoder.pretrain['spec']}"  # the tasks spelt canonically (format_pretrain)
        elif self.pretrained is None:
            encoder = None
        elif isinstance(self.pretrained, str) and self.pretrained in ("auto", "default"):
            encoder = (self._shipped_if_fits(space, graphs) if self.pretrained == "auto"
                       else self._load_pretrained(space, graphs))
            start = f"shipped:{space.name}"
        else:
            encoder = self._load_pretrained(space, graphs)
            start = f"file:{os.path.abspath(self.pretrained)}"
        if encoder is None:
            return self._new_featurizer(graphs, space).fit(graphs), None, "random"
        if self._cells_differ(encoder):
            raise ValueError(f"the pre-trained encoder stacks cells as {encoder.cell_sequence}, these architectures "
                             f"as {self.cell_sequence_}: it was trained on other networks of the space")
        return featurizer_from_state(space.vocab, encoder.featurizer), encoder, start

    def _shipped_if_fits(self, space: SearchSpace, graphs: Sequence[ArchGraph]):
        """``pretrained="auto"``: the encoder shipped for ``space`` if there is one and it fits
        this predictor and these graphs (shape, op vocabulary, cell stacking, node features),
        else ``None``."""
        from gnnnas.nn.checkpoint import load_encoder
        from gnnnas.pretraining import shipped_encoder, shipped_spaces

        if space.name not in shipped_spaces():
            return None
        encoder = load_encoder(shipped_encoder(space.name))
        if (self._encoder_mismatch(encoder, space) is not None or _vocab_differs(encoder, space)
                or self._cells_differ(encoder) or self._node_feature_mismatch(encoder, graphs) is not None):
            return None
        return encoder

    def _cells_differ(self, encoder) -> bool:
        """Whether a pre-trained encoder stacks cells other than this predictor's architectures."""
        return tuple(encoder.cell_sequence or ()) != tuple(self.cell_sequence_ or ())

    @staticmethod
    def _node_feature_mismatch(encoder, graphs: Sequence[ArchGraph]) -> str | None:
        """How a pre-trained encoder's node-feature width differs from these graphs' (``None``: equal)."""
        theirs, ours = int(encoder.featurizer["node_feature_dim"]), _node_feature_width(graphs)
        return None if theirs == ours else f"{theirs} node features per node, these graphs have {ours}"

    def _encoder_mismatch(self, encoder, space: SearchSpace) -> str | None:
        """The encoder parameters in which a pre-trained encoder differs from this predictor."""
        ours = self._encoder_params(space)
        differ = {k: (encoder.params.get(k), v) for k, v in ours.items() if encoder.params.get(k) != v}
        return ", ".join(f"{k}={a!r} in the file, {b!r} here" for k, (a, b) in differ.items()) or None

    def _load_pretrained(self, space: SearchSpace, graphs: Sequence[ArchGraph]):
        """The encoder ``pretrained`` names (a file or ``"default"``), checked against this
        predictor, the space and these graphs (ValueError naming the difference)."""
        from gnnnas.nn.checkpoint import load_encoder

        path = self.pretrained
        if isinstance(path, str) and path == "default":
            from gnnnas.pretraining import shipped_encoder

            path = shipped_encoder(space.name)
        try:
            encoder = load_encoder(path)
        except FileNotFoundError as error:  # e.g. pretrained="None" (a string) or "Default"
            raise FileNotFoundError(f"{error}; pretrained= takes 'auto', 'default', None (random weights) or "
                                    "the path of a file written by save_encoder / gnnnas pretrain") from None
        if (detail := self._encoder_mismatch(encoder, space)) is not None:
            hint = (" (pretrained='default' is the shipped encoder of the default shape: leave these "
                    "parameters at their defaults, or pre-train one with pretrain=...)") if self.pretrained == "default" else ""
            raise ValueError(f"pretrained encoder {str(path)!r} does not fit this predictor: {detail}{hint}")
        if _vocab_differs(encoder, space):
            raise ValueError(f"pretrained encoder {str(path)!r} was trained on ops {encoder.vocab}, "
                             f"space {space.name!r} has {list(space.vocab.ops)}")
        from gnnnas.nn.checkpoint import featurizer_from_state

        try:  # the weights must be the encoder the config describes
            self._new_encoder(featurizer_from_state(space.vocab, encoder.featurizer).num_features,
                              encoder.cell_sequence).load_state_dict(encoder.state)
        except (RuntimeError, ValueError, KeyError) as error:
            raise CheckpointError(f"pretrained encoder {str(path)!r}: its weights do not fit its config: {error}") \
                from None
        if (width := self._node_feature_mismatch(encoder, graphs)) is not None:
            raise ValueError(f"pretrained encoder {str(self.pretrained)!r} was trained on {width}: "
                             "it cannot read these node features")
        return encoder

    def _new_encoder(self, in_dim: int, cell_sequence):
        from gnnnas.nn.encoder import ArchEncoder

        return ArchEncoder(
            in_dim, hidden_dim=self.hidden_dim, num_layers=self.num_layers, dropout=self.dropout, conv=self.conv,
            use_global_node=self.use_global_node, cell_context=self.cell_context, cell_sequence=cell_sequence,
            readout=self.readout, global_mode=self.global_mode,
        )

    def _pretrain(self, space: SearchSpace, device: torch.device, unlabelled: Sequence[Any] | None,
                  parallel: bool = False):
        from gnnnas.pretraining import pretrain_stage

        return pretrain_stage(self, space, device, unlabelled, parallel)

    def save_encoder(self, path: str | os.PathLike) -> None:
        """Write the pre-trained encoder the last ``fit`` (or :meth:`pretrain_only`) started from
        - its ``pretrain`` stage, the ``pretrained`` file, or under ``"auto"`` the shipped one -
        to ``path`` (safetensors + config, atomically), for ``Predictor(pretrained=path)``.

        Raises:
            ValueError: the last fit started from random weights, or there was none.
        """
        from gnnnas.nn.checkpoint import save_encoder

        if getattr(self, "pretrained_encoder_", None) is None:
            raise ValueError("no pre-trained encoder: the last fit started from random weights, or there was none; "
                             "fit (or pretrain_only) with pretrain=... first")
        save_encoder(path, self.pretrained_encoder_)

    def pretrain_only(self, unlabelled: Sequence[Any] | None = None) -> Predictor:
        """Run only the self-supervised stage (``pretrain``), no labels needed; returns ``self``
        with ``pretrained_encoder_`` set (see :meth:`save_encoder`).

        Data-parallel (``data_parallel=True`` inside a torch.distributed process group of several
        ranks): every rank calls it alike; each runs its shard of every batch and all end with the
        same encoder.

        Raises:
            ValueError: ``pretrain`` is None, a hyperparameter is invalid, a pretext needs a
                network executor the space lacks, or a data-parallel run has ``seed=None`` or
                ranks whose pools differ.
            RuntimeError: in a data-parallel run, another rank failed these checks.
            FloatingPointError: pre-training diverged (a NaN or infinite pretext loss).
        """
        parallel = bool(self.data_parallel) and distributed.world()[1] > 1
        with distributed.fail_together(parallel):
            self._check_params()
            if self.pretrain is None:
                raise ValueError("pretrain_only needs pretrain=..., e.g. Predictor(pretrain='costs+masked')")
            space = self._space()
            device = resolve_device(self.device)
            if parallel:
                device = self._parallel_device(device)
        if parallel:
            self._check_same_params()
        with cpu_threads(self.num_threads, device):
            self.pretrained_encoder_ = self._pretrain(space, device, unlabelled, parallel)
        return self

    def _new_model(self) -> RankingModel:
        executor = None
        if self.hypernetwork:
            from gnnnas.nn.executors import get_executor

            executor = get_executor(
                self.space_.name,
                self.space_.vocab,
                in_channels=self.proxy_shape_[0],
                num_classes=self.proxy_shape_[1],
                width=self.hyper_width,
            )
        return RankingModel(
            executor=executor,
            in_dim=self.featurizer_.num_features,
            hidden_dim=self.hidden_dim,
            num_layers=self.num_layers,
            dropout=self.dropout,
            conv=self.conv,
            use_global_node=self.use_global_node,
            cell_context=self.cell_context,
            cell_sequence=self.cell_sequence_,
            readout=self.readout,
            global_mode=self.global_mode,
        )

    def _fit_member(self, batch: DenseGraphBatch, target: torch.Tensor, seed: int | None, device,
                    hyper_pool: DenseGraphBatch | None = None, encoder_state: dict | None = None,
                    parallel: bool = False):
        rng = np.random.default_rng(seed)
        if seed is not None:
            torch.manual_seed(seed)
        n = len(target)
        index = rng.permutation(n)
        n_val = int(round(self.validation_fraction * n))
        val_idx, train_idx = index[:n_val], index[n_val:]
        if len(train_idx) < 2:
            raise ValueError("validation_fraction leaves fewer than 2 training labels")
        if self.bootstrap:
            # bagging: a resample of the training labels, with replacement, from the member's seed
            train_idx = train_idx[rng.integers(0, len(train_idx), size=len(train_idx))]
        model = self._new_model()
        if encoder_state is not None:
            model.encoder.load_state_dict(encoder_state)
        model = model.to(device)
        # DDP sees one forward per step: the ranking scores and the hypernetwork task's networks
        stepped = distributed.wrap(distributed.Step(model=model), device) if parallel else None
        train_batch = batch[torch.from_numpy(train_idx)].to(device)
        train_y = target[torch.from_numpy(train_idx)].to(device)
        val_batch = batch[torch.from_numpy(val_idx)].to(device) if n_val >= 2 else None
        val_y = target[torch.from_numpy(val_idx)].numpy() if n_val >= 2 else None
        bs = min(self.batch_size, len(train_idx))
        epochs = self.epochs if self.epochs is not None else auto_epochs(len(train_idx), bs)
        weighting = None
        hyper_task = None
        if encoder_state is not None and self.encoder_lr_scale != 1.0:
            # discriminative fine-tuning: the pre-trained encoder moves at its own, smaller step
            encoder_params = list(model.encoder.parameters())
            in_encoder = {id(q) for q in encoder_params}
            params = [{"params": encoder_params, "lr": self.lr * self.encoder_lr_scale},
                      {"params": [q for q in model.parameters() if id(q) not in in_encoder]}]
        else:
            params = [{"params": model.parameters()}]
        if hyper_pool is not None:
            from gnnnas.nn.hypertask import HyperTask

            hyper_task = HyperTask(hyper_pool, self.proxy_, self.hyper_archs, self.hyper_images, seed=seed)
            weighting = TaskWeighting(self.task_weighting, 2, self.task_preference, [1.0, self.hyper_loss_weight]).to(device)
            params.append({"params": weighting.parameters(), "weight_decay": 0.0})
        optimiser = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=epochs)
        loss_fn = ranking_loss(self.loss)
        step = 0
        history: list[dict[str, float]] = []
        best_tau, best_state, stale = -math.inf, None, 0
        watch = _FitWatch(epochs)  # where a failed fit is restored to
        progress = _progress(epochs, self.verbose)
        for epoch in range(epochs):
            model.train()
            order = torch.from_numpy(rng.permutation(len(train_idx))).to(device)
            total, hyper_total, hyper_steps = 0.0, 0.0, 0
            # the ranking loss alone and that of scoring each batch alike, summed in float64 on the
            # device and read once per epoch (no extra host sync per step)
            rank_total = torch.zeros((), dtype=torch.float64, device=device)
            chance_total = torch.zeros((), dtype=torch.float64, device=device)
            for k in range(0, len(order), bs):
                idx = order[k : k + bs]
                if len(idx) < 2:
                    continue
                hyper_step = hyper_task is not None and step % self.hyper_every == 0
                if parallel:
                    scores, hyper_parts = self._parallel_step(stepped, model, train_batch, idx,
                                                              hyper_task.draw(device) if hyper_step else None)
                else:
                    scores = model(train_batch[idx])
                loss = loss_fn(scores, train_y[idx])
                with torch.no_grad():
                    rank_total += loss.double() * len(idx)
                    chance_total += loss_fn(torch.zeros_like(scores), train_y[idx]).double() * len(idx)
                if hyper_step:
                    if parallel:
                        per_arch, drawn_scores = hyper_parts
                        hyper_loss = per_arch.mean()
                    else:
                        hyper_loss, per_arch, drawn = hyper_task.draw_loss(model, device)
                        drawn_scores = model(drawn) if self.proxy_rank_weight > 0 else None
                    if self.proxy_rank_weight > 0:
                        proxy_rank = ranking_loss("pairwise_logistic")(drawn_scores, -per_arch.detach())
                        loss = loss + self.proxy_rank_weight * proxy_rank
                    hyper_total += float(hyper_loss.detach())
                    hyper_steps += 1
                    objective = weighting([loss, hyper_loss])
                else:
                    objective = loss
                optimiser.zero_grad()
                objective.backward()
                optimiser.step()
                step += 1
                total += float(loss.detach()) * len(idx)
            schedule.step()
            record = {"epoch": epoch + 1, "loss": total / len(order)}
            watch.update(model, epoch + 1, float(rank_total) / len(order), float(chance_total) / len(order))
            if hyper_steps:
                record["hyper_loss"] = hyper_total / hyper_steps
                record["task_weights"] = weighting.task_weights().tolist()
            if val_batch is not None and ((epoch + 1) % 10 == 0 or epoch + 1 == epochs):
                model.eval()
                with torch.no_grad():
                    pred = model(val_batch).cpu().numpy()
                tau = float(stats.kendalltau(pred, val_y).statistic)
                record["val_tau"] = tau
                if tau > best_tau:
                    best_tau, stale = tau, 0
                    best_state = _snapshot(model)
                else:
                    stale += 1
                if distributed.all_ranks_agree(self.early_stopping_patience is not None
                                               and stale >= self.early_stopping_patience):
                    history.append(record)
                    break
            history.append(record)
            progress.advance(status=f"loss {record['loss']:.4f}")
        progress.close()
        if best_state is not None:
            model.load_state_dict(best_state)
        model.eval()
        # without a best-validation epoch, a fit that failed is judged by its training loss
        restored = watch.restore_if_failed(model, train_batch, seed, parallel) if best_state is None else None
        return model.cpu() if device.type != "cpu" else model, history, restored

    def _parallel_step(self, stepped, model: RankingModel, train_batch: DenseGraphBatch, idx: torch.Tensor, draw):
        """One data-parallel forward: this rank's shard of the batch's scores and, on a
        hypernetwork step, of the drawn archs' proxy losses (and scores); all gathered from every
        rank with autograd. ``draw``: the hypernetwork task's ``(archs, images, labels)`` or None.

        Returns ``(scores [B], None or (per-arch loss [A], their scores [A] or None))``.
        """
        from gnnnas.nn.hypertask import per_arch_loss

        batch_part = distributed.shard(idx)
        drawn_part = distributed.shard(torch.arange(len(draw[0]))) if draw is not None else None

        def compute():
            local = model(train_batch[batch_part.run])[: batch_part.kept]
            if draw is None:
                return local, None, None
            archs, images, labels = draw
            drawn = archs[drawn_part.run]
            per_arch = per_arch_loss(model, drawn, images, labels)[: drawn_part.kept]
            drawn_scores = model(drawn)[: drawn_part.kept] if self.proxy_rank_weight > 0 else None
            return local, per_arch, drawn_scores

        local, per_arch, drawn_scores = stepped(compute)
        scores = distributed.gather_rows(local, batch_part.sizes)
        if draw is None:
            return scores, None
        per_arch = distributed.gather_rows(per_arch, drawn_part.sizes)
        if drawn_scores is not None:
            drawn_scores = distributed.gather_rows(drawn_scores, drawn_part.sizes)
        return scores, (per_arch, drawn_scores)

    # ------------------------------------------------------------------ predict
    def _check_fitted(self) -> None:
        if not hasattr(self, "models_"):
            raise ValueError("this Predictor is not fitted yet; call fit(archs, y) first")

    def predict(
        self, archs: Sequence[Any], batch_size: int = 8192, return_std: bool = False
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """One score per architecture (higher = better), scaled like the training labels.

        ``return_std=True`` returns ``(mean, std)``: ``std`` is the standard deviation of the
        ensemble members' scores (population std, same scale as ``mean``), zeros with one member.

        Raises:
            ValueError: the predictor is not fitted, ``batch_size`` is not a positive integer,
                an arch is not of this space, or ``device`` is CUDA where CUDA is not available.
        """
        self._check_fitted()
        POSITIVE_INT.check("batch_size", batch_size)
        graphs = self._as_archs(archs, self.space_)
        if not graphs:
            return (np.zeros(0), np.zeros(0)) if return_std else np.zeros(0)
        scores = self._raw_scores(graphs, batch_size)
        mean = scores.mean(0) * self.y_std_ + self.y_mean_
        if not return_std:
            return mean
        return mean, scores.std(0) * self.y_std_

    def _raw_scores(self, graphs: list[ArchGraph], batch_size: int) -> np.ndarray:
        """``[n_members, n]`` standardised scores; identical graphs are evaluated once."""
        batch = self.featurizer_.transform(graphs)
        keys = np.ascontiguousarray(
            np.concatenate([batch.x.reshape(len(graphs), -1).numpy(), batch.adj.reshape(len(graphs), -1).numpy()], 1)
        )
        rows = keys.view(np.dtype((np.void, keys.dtype.itemsize * keys.shape[1]))).ravel()
        _, first, inverse = np.unique(rows, return_index=True, return_inverse=True)
        unique = batch[torch.from_numpy(first)]
        device = resolve_device(self.device)
        out = np.empty((len(self.models_), len(first)), dtype=np.float64)
        with torch.inference_mode(), cpu_threads(self.num_threads, device):
            for m, model in enumerate(self.models_):
                model.to(device).eval()
                parts = [
                    model(unique[i : i + batch_size].to(device)).cpu().numpy()
                    for i in range(0, len(first), batch_size)
                ]
                out[m] = np.concatenate(parts)
                if device.type != "cpu":
                    model.cpu()
        return out[:, inverse.ravel()]

    def proxy_scores(self, archs: Sequence[Any], metric: str = "accuracy", proxy_data: Any = None,
                     progress: bool | str | None = False) -> np.ndarray:
        """Zero-finetune scores: each architecture's generated network on held-out proxy images.

        ``metric``: ``"accuracy"`` or ``"loss"`` (negative cross-entropy); higher is better. The
        networks use the hypernetwork's weights as they are (no finetuning); members are averaged.
        ``proxy_data``: other images of the same shape (default: the training proxy's held-out split).
        ``progress`` (:mod:`gnnnas.progress`; default quiet): report the architectures scored,
        over every ensemble member, with elapsed and remaining time on stderr.
        """
        self._check_fitted()
        if not getattr(self, "proxy_shape_", None):
            raise ValueError("this Predictor was fitted without the hypernetwork; fit with hypernetwork=True")
        from gnnnas.data.proxy import load_proxy
        from gnnnas.nn.hypertask import proxy_scores

        proxy = load_proxy(proxy_data if proxy_data is not None else self.proxy_data,
                           seed=0 if self.seed is None else int(self.seed))
        if (proxy.in_channels, proxy.num_classes) != tuple(self.proxy_shape_):
            raise ValueError(
                f"proxy images have {proxy.in_channels} channels and {proxy.num_classes} classes; "
                f"the hypernetwork was trained for {tuple(self.proxy_shape_)}"
            )
        graphs = self._as_archs(archs, self.space_)
        if not graphs:
            return np.zeros(0)
        batch = self.featurizer_.transform(graphs)
        device = resolve_device(self.device)
        from gnnnas.progress import Progress

        scores = []
        with cpu_threads(self.num_threads, device), \
                Progress(len(graphs) * len(self.models_), "score", mode=progress, unit="arch", line_every=0.1) as report:
            for model in self.models_:
                scores.append(proxy_scores(model.to(device), batch, proxy, device, metric=metric,
                                           on_chunk=None if report.quiet else report.advance))
                model.cpu()
        return np.mean(scores, axis=0)

    def score(self, archs: Sequence[Any], y: Sequence[float]) -> float:
        """Kendall tau between predictions and ``y``."""
        from gnnnas.metrics import kendall_tau

        return kendall_tau(y, self.predict(archs))

    # ------------------------------------------------------------------ checkpoints
    def save(self, path: str | os.PathLike) -> None:
        """Write weights (safetensors) and config (JSON metadata) to one file, atomically."""
        from gnnnas.nn.checkpoint import save_checkpoint

        self._check_fitted()
        save_checkpoint(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike, space: str | None = None) -> Predictor:
        """Rebuild a fitted Predictor from :meth:`save`'s file (no pickle involved).

        ``space``: when given, a checkpoint of another space raises :class:`CheckpointError`.
        """
        from gnnnas.nn.checkpoint import load_checkpoint

        return load_checkpoint(cls, path, space=space)


def _node_feature_width(graphs: Sequence[ArchGraph]) -> int:
    """Per-node feature columns of these graphs (0: none); the featurizer reads this many."""
    return 0 if graphs[0].node_features is None else graphs[0].node_features.shape[1]


def _vocab_differs(encoder, space: SearchSpace) -> bool:
    """Whether a pre-trained encoder was trained on other operations than ``space`` has."""
    return list(space.vocab.ops) != list(encoder.vocab)


def _snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A copy of ``model``'s weights that later steps leave alone (for ``load_state_dict``)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _collapsed(model: RankingModel, batch: DenseGraphBatch) -> bool:
    """Whether ``model`` (in eval mode) scores every architecture of ``batch`` alike: once every
    ReLU unit of the ranking head is inactive for every input, no gradient reaches it again and
    the fit stays constant (seen with ``conv="resgated"`` on PVIT, 100 labels, seed 0)."""
    with torch.no_grad():
        scores = model(batch)
    if len(scores) < 2:
        return False
    if not torch.isfinite(scores).all():
        return True
    return float(scores.max() - scores.min()) <= 1e-6 * (1.0 + float(scores.abs().max()))


class _FitWatch:
    """The epochs a failed fit is restored to, from its per-epoch ranking loss (the supervised
    loss alone, without the hypernetwork's terms) and the loss of scoring every architecture
    alike (its chance loss, per batch as the loss itself is taken):

    - a fit that collapsed to one score (:func:`_collapsed`) goes back to its lowest-loss epoch;
    - a fit that gave back most of what it learned (:func:`gave_back_most`) goes back to the end
      of its lowest window of ``max(3, epochs // 20)`` epochs (single epochs are too noisy to
      judge: they flagged toy fits that never learned).
    """

    def __init__(self, epochs: int) -> None:
        self.window = max(3, epochs // 20)
        self.losses: list[float] = []
        self.chances: list[float] = []
        self.lowest: tuple[float, dict | None, int] = (math.inf, None, 0)  # (loss, weights, epoch)
        self.lowest_window: tuple[float, dict | None, int] = (math.inf, None, 0)

    def update(self, model: torch.nn.Module, epoch: int, loss: float, chance: float) -> None:
        """After epoch ``epoch`` (1-based) with mean ranking ``loss`` and ``chance`` loss."""
        self.losses.append(loss)
        self.chances.append(chance)
        state = None  # one copy of the weights serves both records when both improve
        if loss < self.lowest[0]:
            state = _snapshot(model)
            self.lowest = (loss, state, epoch)
        if len(self.losses) >= self.window:
            mean = float(np.mean(self.losses[-self.window:]))
            if mean < self.lowest_window[0]:
                self.lowest_window = (mean, state if state is not None else _snapshot(model), epoch)

    def restore_if_failed(self, model: RankingModel, batch: DenseGraphBatch, seed: int | None,
                          parallel: bool) -> dict[str, Any] | None:
        """Restore ``model`` (in eval mode) if its fit collapsed or gave back most of what it
        learned, with a RuntimeWarning; returns ``{"reason", "epoch"}`` or None. Data-parallel
        ranks take rank 0's decision (they see the same gathered losses)."""
        def agreed(flag: bool) -> bool:
            return distributed.all_ranks_agree(flag) if parallel else flag

        loss, state, epoch = self.lowest
        if state is not None and agreed(_collapsed(model, batch)):
            model.load_state_dict(state)
            outcome = ("they score alike too: try a lower lr or another seed" if _collapsed(model, batch)
                       else "they rank the training architectures")
            warnings.warn(f"member with seed {seed} collapsed to one score for every architecture (every unit of "
                          "the ranking head inactive, no gradient left); restored the weights of its lowest-loss "
                          f"epoch {epoch} (loss {loss:.4f}): {outcome}", RuntimeWarning, stacklevel=5)
            return {"reason": "collapsed", "epoch": epoch}
        if len(self.losses) < 2 * self.window:
            return None
        lowest, state, epoch = self.lowest_window
        final, chance = float(np.mean(self.losses[-self.window:])), float(np.mean(self.chances))
        if not agreed(gave_back_most(final, lowest, chance)):
            return None
        model.load_state_dict(state)
        warnings.warn(f"member with seed {seed} gave back most of what it learned: its training loss, averaged over "
                      f"{self.window} epochs, fell to {lowest:.4f} (epochs {epoch - self.window + 1}-{epoch}), then "
                      f"ended at {final:.4f} (scoring every architecture alike: {chance:.4f}); restored the weights "
                      f"of epoch {epoch}. A lower lr may avoid it", RuntimeWarning, stacklevel=5)
        return {"reason": "gave_back", "epoch": epoch}


def gave_back_most(final_loss: float, lowest_loss: float, chance_loss: float) -> bool:
    """Whether a fit that learned ended nearer its chance loss than its best.

    ``final_loss`` and ``lowest_loss`` are the training loss averaged over the last and over the
    lowest window of epochs; ``chance_loss`` that of scoring every architecture alike (ln 2 for
    the pairwise logistic loss). With a decaying learning rate a healthy fit ends at or near its
    lowest loss. This one learned (its lowest at least 20% below chance, so that fits still at
    chance, whose windows only differ by noise, are not judged) and then gave back more than half
    of that gain. Seen with the ``masked`` pretext's ViT encoder on PVIT, 100 labels, seed 0: loss
    .41 at epoch ~100, ln 2 from epoch ~175 to ~425, .63 at the end, tau .42.
    """
    gained = chance_loss - lowest_loss
    return chance_loss > 0 and gained >= 0.2 * chance_loss and final_loss - lowest_loss > 0.5 * gained


def auto_epochs(n_train: int, batch_size: int, steps: int = 4000, lo: int = 100, hi: int = 500) -> int:
    """Epochs for a budget of about ``steps`` optimiser steps, clipped to ``[lo, hi]``."""
    steps_per_epoch = max(1, math.ceil(n_train / batch_size))
    return int(min(hi, max(lo, steps // steps_per_epoch)))


def _progress(total: int, verbose: bool, what: str = "fit"):
    """Epochs of one fit on stderr when ``verbose`` (:mod:`gnnnas.progress` ``"auto"``: a bar on a
    terminal, one line per tenth of the epochs otherwise); nothing when not."""
    from gnnnas.progress import Progress

    return Progress(total, what, mode="auto" if verbose else "quiet", stream=sys.stderr, unit="epoch",
                    line_every=0.1)
