"""``gnnnas.Predictor``: a GNN accuracy predictor with scikit-learn's estimator contract."""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from scipy import stats
from sklearn.base import BaseEstimator

from gnnnas.graph import ArchGraph
from gnnnas.nn.featurize import DenseGraphBatch, GraphFeaturizer
from gnnnas.nn.losses import parse_loss_spec, ranking_loss
from gnnnas.nn.model import RankingModel
from gnnnas.spaces.base import SearchSpace
from gnnnas.spaces.registry import get_space

__all__ = ["Predictor", "CheckpointError", "resolve_device"]

CHECKPOINT_FORMAT = 1
_LABEL_TRANSFORMS = ("rank", "standard")


class CheckpointError(ValueError):
    """A checkpoint file is corrupt, of another space, or from an incompatible version."""


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA when present, else CPU (decided when called, never at import)."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except RuntimeError as error:
        raise ValueError(f"bad device {device!r}: {error}") from None


class Predictor(BaseEstimator):
    """Predicts a score per architecture whose order follows the (unseen) accuracy.

    Every hyperparameter is an ``__init__`` argument; learned state ends in ``_``.

    Args:
        space: search space name (or a :class:`~gnnnas.SearchSpace`); native encodings of this
            space are accepted wherever archs are.
        hidden_dim, num_layers, dropout, aggr: encoder size (``aggr``: ``"mean"`` GCN-style or
            ``"sum"`` GIN-style neighbourhood aggregation).
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
            over-relies on params/FLOPs. See benchmarks/results for the ablation.
        prune: train and predict on graphs with dead operations removed.
        contract_identities: also remove skip connections (wire around them).
        loss: ranking loss spec, e.g. ``"pairwise_logistic"``, ``"mse+0.5*pairwise_hinge"``,
            ``"listnet"``.
        label_transform: ``"rank"`` (training labels -> standardised ranks; robust to the long
            low-accuracy tail) or ``"standard"`` (z-score).
        epochs: training epochs; ``None`` picks a budget of about 4,000 optimiser steps
            (between 100 and 500 epochs: 500 at 78 labels, 100 at 1,563).
        batch_size, lr, weight_decay: AdamW with cosine decay.
        n_members: ensemble size (members differ by seed); predictions are averaged.
        validation_fraction: hold out this fraction of the labels for early stopping.
        early_stopping_patience: stop a member after this many evaluations (every 10 epochs)
            without validation Kendall tau improvement; ``None`` trains all epochs.
        device: ``"auto"`` (CUDA if present, else CPU; decided in ``fit``), ``"cpu"``, ``"cuda"``.
        seed: makes fitting reproducible (identical predictions on CPU).
        verbose: show a tqdm progress bar (only when writing to a terminal).
    """

    def __init__(
        self,
        space: str | SearchSpace = "nb201",
        hidden_dim: int = 128,
        num_layers: int = 4,
        dropout: float = 0.1,
        aggr: str = "mean",
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
        validation_fraction: float = 0.0,
        early_stopping_patience: int | None = None,
        device: str = "auto",
        seed: int | None = 0,
        verbose: bool = False,
    ) -> None:
        self.space = space
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.dropout = dropout
        self.aggr = aggr
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
        self.validation_fraction = validation_fraction
        self.early_stopping_patience = early_stopping_patience
        self.device = device
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
        if self.label_transform not in _LABEL_TRANSFORMS:
            raise ValueError(f"label_transform must be one of {_LABEL_TRANSFORMS}, got {self.label_transform!r}")
        parse_loss_spec(self.loss)
        for name in ("hidden_dim", "num_layers", "epochs", "batch_size", "n_members"):
            value = getattr(self, name)
            if name == "epochs" and value is None:
                continue
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError(f"validation_fraction must be in [0, 1), got {self.validation_fraction!r}")
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
    def fit(self, archs: Sequence[Any], y: Sequence[float]) -> Predictor:
        """Train on labelled architectures; returns ``self``."""
        self._check_params()
        space = self._space()
        graphs = self._as_archs(archs, space)
        y = np.asarray(y, dtype=np.float64).ravel()
        if len(graphs) != len(y):
            raise ValueError(f"got {len(graphs)} archs but {len(y)} labels")
        if len(y) < 2:
            raise ValueError(f"need at least 2 labelled archs, got {len(y)}")
        if not np.all(np.isfinite(y)):
            raise ValueError(f"labels must be finite; {int(np.sum(~np.isfinite(y)))} are NaN or infinite")
        if np.all(y == y[0]):
            raise ValueError("all labels are equal: there is nothing to rank")

        device = resolve_device(self.device)
        start = time.perf_counter()
        self.space_ = space
        macro_names = sorted(set().union(*(g.macro.keys() for g in graphs))) if self.macro_features else []
        feat_dim = 0 if graphs[0].node_features is None else graphs[0].node_features.shape[1]
        self.featurizer_ = GraphFeaturizer(
            space.vocab,
            node_feature_dim=feat_dim,
            macro_names=macro_names,
            prune=self.prune,
            contract_identities=self.contract_identities,
        ).fit(graphs)
        batch = self.featurizer_.transform(graphs)
        self.y_mean_ = float(y.mean())
        self.y_std_ = float(y.std()) or 1.0
        target = torch.from_numpy(self._transform_labels(y))
        self.cell_sequence_ = graphs[0].cell_sequence
        self.models_ = []
        self.history_ = []
        for member in range(self.n_members):
            seed = None if self.seed is None else int(self.seed) * 1000 + member
            model, history = self._fit_member(batch, target, seed, device)
            self.models_.append(model)
            self.history_.append(history)
        self.device_ = device
        self.n_train_ = len(y)
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def _new_model(self) -> RankingModel:
        return RankingModel(
            in_dim=self.featurizer_.num_features,
            hidden_dim=self.hidden_dim,
            num_layers=self.num_layers,
            dropout=self.dropout,
            aggr=self.aggr,
            use_global_node=self.use_global_node,
            cell_context=self.cell_context,
            cell_sequence=self.cell_sequence_,
            readout=self.readout,
            global_mode=self.global_mode,
        )

    def _fit_member(self, batch: DenseGraphBatch, target: torch.Tensor, seed: int | None, device):
        rng = np.random.default_rng(seed)
        if seed is not None:
            torch.manual_seed(seed)
        n = len(target)
        index = rng.permutation(n)
        n_val = int(round(self.validation_fraction * n))
        val_idx, train_idx = index[:n_val], index[n_val:]
        if len(train_idx) < 2:
            raise ValueError("validation_fraction leaves fewer than 2 training labels")
        model = self._new_model().to(device)
        train_batch = batch[torch.from_numpy(train_idx)].to(device)
        train_y = target[torch.from_numpy(train_idx)].to(device)
        val_batch = batch[torch.from_numpy(val_idx)].to(device) if n_val >= 2 else None
        val_y = target[torch.from_numpy(val_idx)].numpy() if n_val >= 2 else None
        bs = min(self.batch_size, len(train_idx))
        epochs = self.epochs if self.epochs is not None else auto_epochs(len(train_idx), bs)
        optimiser = torch.optim.AdamW(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=epochs)
        loss_fn = ranking_loss(self.loss)
        history: list[dict[str, float]] = []
        best_tau, best_state, stale = -math.inf, None, 0
        progress = _progress(epochs, self.verbose)
        for epoch in range(epochs):
            model.train()
            order = torch.from_numpy(rng.permutation(len(train_idx))).to(device)
            total = 0.0
            for k in range(0, len(order), bs):
                idx = order[k : k + bs]
                if len(idx) < 2:
                    continue
                scores = model(train_batch[idx])
                loss = loss_fn(scores, train_y[idx])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                total += float(loss.detach()) * len(idx)
            schedule.step()
            record = {"epoch": epoch + 1, "loss": total / len(order)}
            if val_batch is not None and ((epoch + 1) % 10 == 0 or epoch + 1 == epochs):
                model.eval()
                with torch.no_grad():
                    pred = model(val_batch).cpu().numpy()
                tau = float(stats.kendalltau(pred, val_y).statistic)
                record["val_tau"] = tau
                if tau > best_tau:
                    best_tau, stale = tau, 0
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                else:
                    stale += 1
                if self.early_stopping_patience is not None and stale >= self.early_stopping_patience:
                    history.append(record)
                    break
            history.append(record)
            if progress is not None:
                progress.update(1)
                progress.set_postfix(loss=f"{record['loss']:.4f}")
        if progress is not None:
            progress.close()
        if best_state is not None:
            model.load_state_dict(best_state)
        model.eval()
        return model.cpu() if device.type != "cpu" else model, history

    # ------------------------------------------------------------------ predict
    def _check_fitted(self) -> None:
        if not hasattr(self, "models_"):
            raise ValueError("this Predictor is not fitted yet; call fit(archs, y) first")

    def predict(self, archs: Sequence[Any], batch_size: int = 8192) -> np.ndarray:
        """One score per architecture (higher = better), scaled like the training labels."""
        self._check_fitted()
        graphs = self._as_archs(archs, self.space_)
        if not graphs:
            return np.zeros(0)
        scores = self._raw_scores(graphs, batch_size)
        return scores.mean(0) * self.y_std_ + self.y_mean_

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
        with torch.inference_mode():
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


def auto_epochs(n_train: int, batch_size: int, steps: int = 4000, lo: int = 100, hi: int = 500) -> int:
    """Epochs for a budget of about ``steps`` optimiser steps, clipped to ``[lo, hi]``."""
    steps_per_epoch = max(1, math.ceil(n_train / batch_size))
    return int(min(hi, max(lo, steps // steps_per_epoch)))


def _progress(total: int, verbose: bool):
    if not verbose or not sys.stderr.isatty():
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="fit", leave=False)
