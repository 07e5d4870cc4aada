"""Real architectures at initialisation: each one's small network, random weights, one probe batch.

Every architecture runs as the network its executor builds (:mod:`gnnnas.nn.executors`, the
hypernetwork's networks at width ``width``) with He-normal random weights instead of generated
ones, on a fixed batch of proxy images. What comes out depends on how information flows
through the DAG, not on any accuracy label:

- ``flow`` (the ``flow`` pretext): ``output_log_std``, the log standard deviation of the
  logits over the probe images (signal propagation at initialisation: a chain of pooling and
  skips squashes it, convolutions keep it), and ``output_similarity``, the mean cosine
  similarity between the logits of different images (inputs the network cannot tell apart at
  initialisation collapse to one output: the expressivity that NASWOT, arXiv 2006.04647,
  measures with ReLU codes).
- ``zero_cost`` (the ``zero_cost`` pretext), as defined in Abdelfattah et al., "Zero-Cost
  Proxies for Lightweight NAS" (arXiv 2101.08134) and NASLib's ``predictors/utils/pruners``:
  ``grad_norm``, the Euclidean norm of the cross-entropy gradient of every generated weight of
  the architecture; ``snip`` (SNIP, arXiv 1810.02340), the sum of ``|weight * gradient|``;
  ``synflow`` (Tanaka et al. 2020, arXiv 2006.05467), the sum of ``weight * gradient`` of the
  summed logits when every weight is replaced by its absolute value, batch norm is off, the
  network runs in float64 and its input is one all-ones image; ``jacov`` (Mellor et al. 2020,
  arXiv 2006.04647v1), how decorrelated the input Jacobians of the probe images are:
  ``-sum(log(v + k) + 1 / (v + k))`` over the eigenvalues ``v`` of their correlation matrix,
  ``k = 1e-5``. ``grad_norm``, ``snip`` and ``synflow`` enter as ``log(1 + v)``, ``jacov`` as
  ``-log(-v)`` (it is at most minus the number of images): monotone, so rankings are NASLib's.
  Only the architecture's own part counts: its (cell) weights, and for ``jacov`` the Jacobian
  with respect to the input of that part (the shared stem's output, one copy per architecture);
  the shared stem and classifier are the same for every architecture.
"""

from __future__ import annotations

import copy
import math
import operator
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gnnnas.nn.executors.base import probing
from gnnnas.nn.featurize import DenseGraphBatch

__all__ = ["FLOW_NAMES", "ZERO_COST_NAMES", "probe_scores"]

FLOW_NAMES = ("output_log_std", "output_similarity")
ZERO_COST_NAMES = ("grad_norm", "snip", "synflow", "jacov")
JACOV_K = 1e-5
#: Architectures probed together. Small chunks are leaner and no slower on CPU: at 8 probing 256
#: archs peaks under 1 GiB in every built-in space, at 128 at 6.9 GiB on ViT and 12.1 GiB on DARTS
#: (benchmarks/results/probe_chunk.md, 256 archs in a fresh process, where 128 also ran 4x
#: slower there); over a long run 8 probes ViT 1.7x and NB201 3.7x faster than 128 did and
#: DARTS as fast (probe_cost.md against probe_cost_chunk128.md).
ARCHS_PER_CHUNK = 8


def _unpacker(specs):
    def unpack(label: str, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        out, start = {}, 0
        for spec in specs[label]:
            out[spec.name] = flat[:, start : start + spec.numel].reshape(-1, *spec.shape)
            start += spec.numel
        return out

    return unpack


def probe_scores(executor, batch: DenseGraphBatch, images: torch.Tensor, labels: torch.Tensor, seed: int = 0,
                 archs_per_chunk: int | None = None, on_chunk=None) -> dict[str, np.ndarray]:
    """:data:`FLOW_NAMES` and :data:`ZERO_COST_NAMES` scores of every architecture of ``batch``.

    Args:
        executor: a :class:`~gnnnas.nn.executors.NetworkExecutor` of the space, used as it is:
            build it under ``torch.manual_seed`` for reproducible shared parts (stem,
            classifier), as :func:`cached_probe_scores` does.
        batch: the featurised architectures (``GraphFeaturizer.transform``).
        images, labels: the probe batch ``[I, C, H, W]`` and its classes ``[I]`` (I >= 2).
        seed: fixes every generated (cell) weight: an architecture gets the same scores in any
            batch and chunk (its weights are drawn from ``seed``, its ops and their positions).
        archs_per_chunk: architectures run together (default :data:`ARCHS_PER_CHUNK`); the
            scores do not depend on it, the memory does.

    Returns:
        ``{name: [B] float64}``.
    """
    if len(images) < 2:
        raise ValueError(f"the probe batch needs at least 2 images, got {len(images)}")
    archs_per_chunk = ARCHS_PER_CHUNK if archs_per_chunk is None else operator.index(archs_per_chunk)
    if archs_per_chunk < 1:
        raise ValueError(f"archs_per_chunk must be >= 1, got {archs_per_chunk}")
    specs = {label: tuple(s) for label, s in executor.weight_specs().items() if s}
    unpack = _unpacker(specs)
    executor.eval()
    out = {name: np.zeros(len(batch)) for name in FLOW_NAMES + ZERO_COST_NAMES}
    # one fixed random row per (label, node position), each from its own generator: an arch's
    # weights do not depend on which other archs share its batch or chunk, nor on the padding
    n = batch.x.shape[1]
    tables = {}
    for k, (label, spec) in enumerate(sorted(specs.items())):
        scale = torch.cat([torch.full((s.numel,), math.sqrt(2.0 / s.fan_in)) for s in spec])
        rows = [torch.randn(len(scale), generator=torch.Generator().manual_seed(seed * 1_000_003 + k * 1009 + r))
                for r in range(n)]
        tables[label] = torch.stack(rows) * scale
    synflow_net = copy.deepcopy(executor).double()  # synflow: |every weight|, float64
    with torch.no_grad():
        for p in synflow_net.parameters():
            p.abs_()
    synflow_tables = {label: table.double().abs() for label, table in tables.items()}
    ones = torch.ones(1, *images.shape[1:], dtype=torch.float64)
    for a in range(0, len(batch), archs_per_chunk):
        sub = batch[a : a + archs_per_chunk]
        b = len(sub)
        weights = _chunk_weights(tables, b)
        inputs: list = []
        with probing(arch_inputs=inputs):
            logits = executor(sub, weights, unpack, images)  # [B, I, C]
        if len(inputs) != 1:
            raise ValueError(f"executor {type(executor).__name__} must mark the input of the architectures' own "
                             f"part once per forward pass with gnnnas.nn.executors.arch_input (the zero-cost "
                             f"probes take input Jacobians there); it marked {len(inputs)}")
        (leaf, arch_dim), = inputs
        (jacobian,) = torch.autograd.grad(logits.sum(), leaf, retain_graph=True, allow_unused=True)
        if jacobian is None:  # no architecture of the chunk reads its input (NB201: a none on every path)
            jacobian = torch.zeros_like(leaf)
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.repeat(b), reduction="none")
        ce.view(b, -1).mean(1).sum().backward()  # archs are independent: one backward for all
        grad_sq, snip = _gradient_sums(weights)
        with torch.no_grad():
            flat = logits.detach()
            std = flat.std(dim=(1, 2)).clamp_min(1e-12)
            unit = F.normalize(flat, dim=-1)
            cos = unit @ unit.transpose(1, 2)  # [B, I, I]
            i = cos.shape[-1]
            similarity = (cos.sum((1, 2)) - cos.diagonal(dim1=1, dim2=2).sum(1)) / (i * (i - 1))
            jacov = _jacov(jacobian.movedim(arch_dim, 0).reshape(b, len(images), -1))
        out["output_log_std"][a : a + b] = std.log().numpy()
        out["output_similarity"][a : a + b] = similarity.numpy()
        out["grad_norm"][a : a + b] = np.log1p(grad_sq.sqrt().numpy())
        out["snip"][a : a + b] = np.log1p(snip.numpy())
        out["jacov"][a : a + b] = -np.log(-jacov.numpy())
        out["synflow"][a : a + b] = np.log1p(_synflow(synflow_net, sub, synflow_tables, unpack, ones))
        if on_chunk is not None:
            on_chunk(b)
    return out


def _chunk_weights(tables: dict[str, torch.Tensor], b: int) -> dict[str, torch.Tensor]:
    """Every architecture of a chunk of ``b`` its own copy of the weight rows, as leaves."""
    return {label: table[None].expand(b, -1, -1).clone().requires_grad_(True) for label, table in tables.items()}


def _gradient_sums(weights: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per architecture: the sum of squared gradients and of ``|weight * gradient|``."""
    b = next(iter(weights.values())).shape[0]
    grad_sq, snip = torch.zeros(b, dtype=torch.float64), torch.zeros(b, dtype=torch.float64)
    for w in weights.values():  # rows of nodes that do not use a label get no gradient
        g = w.grad
        if g is None:  # no architecture of this chunk has that op
            continue
        grad_sq += g.double().pow(2).sum((1, 2))
        snip += (w.detach() * g).double().abs().sum((1, 2))
    return grad_sq, snip


def _jacov(jacobians: torch.Tensor) -> torch.Tensor:
    """jacov of ``[B, I, D]`` input Jacobians (one row per image): ``[B]`` float64, <= -I.

    As NASLib's ``jacov``: the correlation matrix of the images' Jacobians, its eigenvalues
    ``v``, ``-sum(log(v + k) + 1 / (v + k))``. A Jacobian that is constant over its entries
    (e.g. zero: the output ignores the input) correlates with nothing (eigenvalue 0).
    """
    j = jacobians.double()
    j = j - j.mean(-1, keepdim=True)
    j = j / j.norm(dim=-1, keepdim=True).clamp_min(1e-30)
    v = torch.linalg.eigvalsh(j @ j.transpose(1, 2)).clamp_min(0.0)
    return -(torch.log(v + JACOV_K) + 1.0 / (v + JACOV_K)).sum(-1)


def _synflow(net, sub: DenseGraphBatch, tables: dict[str, torch.Tensor], unpack, ones: torch.Tensor) -> np.ndarray:
    """synflow of every architecture of ``sub``: ``net`` with |weights| in float64 (``tables``
    already so), no batch norm, one all-ones image; the sum of ``|weight * gradient|`` of the
    summed logits over the architecture's own weights (as NASLib's ``measures/synflow.py``:
    LayerNorm, GELU and softmax, in ViT, make some products negative)."""
    weights = _chunk_weights(tables, len(sub))
    with probing(batch_norm=False):
        logits = net(sub, weights, unpack, ones)
    logits.sum().backward()
    _, score = _gradient_sums(weights)
    if not torch.isfinite(score).all():
        bad = int((~torch.isfinite(score)).sum())
        warnings.warn(f"synflow overflowed float64 for {bad} of {len(sub)} architectures; their score is the "
                      "largest float64", RuntimeWarning, stacklevel=3)
        score = torch.nan_to_num(score, nan=torch.finfo(torch.float64).max, posinf=torch.finfo(torch.float64).max)
    return score.numpy()


#: Bump when the scores' definition changes: cached files of another version are not read.
PROBE_VERSION = 4
#: Seconds :func:`cached_probe_scores` waits for another process's rewrite of its cache file.
CACHE_LOCK_TIMEOUT = 300.0


def _read_probe_cache(path: Path, names: tuple[str, ...], warn: bool = True) -> dict[str, np.ndarray]:
    """The rows of a probe cache file by identity; {} where it is absent, or unreadable (warned)."""
    import zipfile

    if not path.is_file():
        return {}
    try:
        with np.load(path, allow_pickle=False) as stored:
            table = np.stack([stored[n] for n in names], 1)
            return dict(zip(stored["identity"].tolist(), table, strict=True))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        if warn:
            warnings.warn(f"probe cache {str(path)!r} is unreadable ({error}); recomputing it", stacklevel=3)
        return {}


def _merge_into_probe_cache(path: Path, names: tuple[str, ...], rows: dict[str, np.ndarray]) -> None:
    """Add ``rows`` to the cache file under its lock, keeping what other processes wrote meanwhile."""
    from filelock import Timeout

    from gnnnas.files import atomic_write, file_lock

    lock_path = path.with_name(path.name + ".lock")
    try:
        lock = file_lock(lock_path, CACHE_LOCK_TIMEOUT)  # an unsafe lock path is an OSError: warned below
        path.parent.mkdir(parents=True, exist_ok=True)
        with lock:
            # rows other processes wrote since this call read it (an unreadable file was warned of then)
            known = _read_probe_cache(path, names, warn=False)
            known.update(rows)
            identities = list(known)
            table = np.stack([known[k] for k in identities])
            with atomic_write(path) as handle:
                np.savez(handle, identity=np.array(identities), **{n: table[:, c] for c, n in enumerate(names)})
    except Timeout:
        warnings.warn(f"probe cache {str(path)!r}: its lock stayed busy for {CACHE_LOCK_TIMEOUT:.0f} s; "
                      f"{len(rows)} computed rows were not cached", stacklevel=3)
    except (OSError, NotImplementedError) as error:  # NotImplementedError: no flock (some NFS / FUSE mounts)
        warnings.warn(f"probe cache {str(path)!r} cannot be written ({error or type(error).__name__}); "
                      f"{len(rows)} computed rows were not cached", stacklevel=3)


def cached_probe_scores(space, archs, featurizer, proxy, width: int = 8, images: int = 64, seed: int = 0,
                        cache_dir=None, progress=False) -> dict[str, np.ndarray]:
    """:func:`probe_scores` of ``archs``, computed once per architecture and kept on disk.

    Architectures run as their computation graphs (whatever ``featurizer``'s pruning; its node
    feature scaling is used). The probe batch is ``images`` training images of ``proxy`` drawn
    with ``seed``; the executor's shared parts are initialised from ``seed`` too. The cache is
    one ``.npz`` per (space, width, seed, probe images and labels - by their SHA-256) in
    ``cache_dir/probes/`` (default: :func:`gnnnas.data.paths.resolve_cache_dir`:
    ``$GNNNAS_CACHE``, else the data directory, else ``~/.cache/gnnnas``), rows keyed by
    :meth:`~gnnnas.SearchSpace.identity`; architectures not in it are computed and the file is
    rewritten atomically (an unreadable file is recomputed, with a warning). Processes that fill
    one file at once (benchmark seeds side by side share it) keep each other's rows: the rewrite
    holds a lock file beside it (``<file>.lock``, via ``filelock``, mode 0666 less the umask) and merges in the rows written
    since this call read the file. If the lock is not free within :data:`CACHE_LOCK_TIMEOUT`
    seconds, or the folder cannot be written, the scores are returned uncached, with a warning.
    ``progress``: :mod:`gnnnas.progress` mode for the architectures computed.

    Raises:
        ValueError: the space has no executor (e.g. NAS-Bench-Graph), or ``images`` is not in
            ``[2, number of training images]``.
    """
    import hashlib

    from gnnnas.data.paths import resolve_cache_dir
    from gnnnas.nn.executors import get_executor, missing_executor
    from gnnnas.nn.featurize import GraphFeaturizer
    from gnnnas.progress import Progress

    if not 2 <= images <= len(proxy.train_y):
        raise ValueError(f"images must be in [2, {len(proxy.train_y)}] (the proxy's training images), got {images}")
    if (reason := missing_executor(space.name)) is not None:
        raise ValueError(f"the zero_cost and flow probes run each architecture's network, and space "
                         f"{space.name!r} has no network executor ({reason})")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # the shared stem and classifier: the same in every process
        executor = get_executor(space.name, space.vocab, in_channels=proxy.in_channels,
                                num_classes=proxy.num_classes, width=width)
    # always the computation graphs: equal identities are equal networks, whatever the
    # predictor's own pruning switches (rows are keyed by identity)
    canonical = GraphFeaturizer(space.vocab, node_feature_dim=featurizer.node_feature_dim)
    canonical.node_mean_, canonical.node_std_ = featurizer.node_mean_, featurizer.node_std_
    generator = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(proxy.train_y), generator=generator)[:images]
    probe_x, probe_y = proxy.train_x[idx].contiguous(), proxy.train_y[idx].contiguous()
    digest = hashlib.sha256(probe_x.numpy().tobytes() + probe_y.numpy().tobytes()).hexdigest()[:12]
    names = FLOW_NAMES + ZERO_COST_NAMES
    folder = (Path(cache_dir) if cache_dir is not None else resolve_cache_dir()) / "probes"
    path = folder / f"{space.name}-w{width}-s{seed}-{digest}-v{PROBE_VERSION}.npz"
    known = _read_probe_cache(path, names)
    keys = [space.identity(a) for a in archs]
    missing = sorted({k: i for i, k in enumerate(keys) if k not in known}.values())
    if missing:
        with Progress(len(missing), "probe", mode=progress, unit="arch", line_every=0.1) as report:
            scores = probe_scores(executor, canonical.transform([archs[i] for i in missing]), probe_x, probe_y,
                                  seed=seed, on_chunk=None if report.quiet else report.advance)
        computed = {keys[i]: np.array([scores[n][j] for n in names]) for j, i in enumerate(missing)}
        known.update(computed)
        _merge_into_probe_cache(path, names, computed)
    table = np.stack([known[k] for k in keys])
    return {n: table[:, c] for c, n in enumerate(names)}
