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
- ``zero_cost`` (the ``zero_cost`` pretext): ``grad_norm``, the Euclidean norm of the
  cross-entropy gradient of every generated weight of the architecture, and ``snip``, the sum of
  ``|weight * gradient|`` (SNIP, arXiv 1810.02340; both as defined in Abdelfattah et al.,
  "Zero-Cost Proxies for Lightweight NAS", arXiv 2101.08134), entered as ``log(1 + v)``. Only
  the architecture's own (cell) weights count; the shared stem and classifier are the same
  for every architecture.

Not implemented: synflow (needs the network without batch norm; the executors normalise every
op's output with the probe batch's statistics) and jacov (needs a per-architecture input
Jacobian; the executors share one image batch across architectures).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gnnnas.nn.featurize import DenseGraphBatch

__all__ = ["FLOW_NAMES", "ZERO_COST_NAMES", "probe_scores"]

FLOW_NAMES = ("output_log_std", "output_similarity")
ZERO_COST_NAMES = ("grad_norm", "snip")


def _unpacker(specs):
    def unpack(label: str, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        out, start = {}, 0
        for spec in specs[label]:
            out[spec.name] = flat[:, start : start + spec.numel].reshape(-1, *spec.shape)
            start += spec.numel
        return out

    return unpack


def probe_scores(executor, batch: DenseGraphBatch, images: torch.Tensor, labels: torch.Tensor, seed: int = 0,
                 archs_per_chunk: int = 128, on_chunk=None) -> dict[str, np.ndarray]:
    """:data:`FLOW_NAMES` and :data:`ZERO_COST_NAMES` scores of every architecture of ``batch``.

    Args:
        executor: a :class:`~gnnnas.nn.executors.NetworkExecutor` of the space, used as it is:
            build it under ``torch.manual_seed`` for reproducible shared parts (stem,
            classifier), as :func:`cached_probe_scores` does.
        batch: the featurised architectures (``GraphFeaturizer.transform``).
        images, labels: the probe batch ``[I, C, H, W]`` and its classes ``[I]`` (I >= 2).
        seed: fixes every generated (cell) weight: an architecture gets the same scores in any
            batch and chunk (its weights are drawn from ``seed``, its ops and their positions).
        archs_per_chunk: architectures run together.

    Returns:
        ``{name: [B] float64}``.
    """
    if len(images) < 2:
        raise ValueError(f"the probe batch needs at least 2 images, got {len(images)}")
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
    for a in range(0, len(batch), archs_per_chunk):
        sub = batch[a : a + archs_per_chunk]
        b = len(sub)
        weights = {label: table[None].expand(b, -1, -1).clone().requires_grad_(True) for label, table in tables.items()}
        logits = executor(sub, weights, unpack, images)  # [B, I, C]
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.repeat(b), reduction="none")
        ce.view(b, -1).mean(1).sum().backward()  # archs are independent: one backward for all
        grad_sq, snip = torch.zeros(b), torch.zeros(b)
        for w in weights.values():  # rows of nodes that do not use a label get no gradient
            g = w.grad
            if g is None:  # no architecture of this chunk has that op
                continue
            grad_sq += g.pow(2).sum((1, 2))
            snip += (w.detach() * g).abs().sum((1, 2))
        with torch.no_grad():
            flat = logits.detach()
            std = flat.std(dim=(1, 2)).clamp_min(1e-12)
            unit = F.normalize(flat, dim=-1)
            cos = unit @ unit.transpose(1, 2)  # [B, I, I]
            i = cos.shape[-1]
            similarity = (cos.sum((1, 2)) - cos.diagonal(dim1=1, dim2=2).sum(1)) / (i * (i - 1))
        out["output_log_std"][a : a + b] = std.log().numpy()
        out["output_similarity"][a : a + b] = similarity.numpy()
        out["grad_norm"][a : a + b] = np.log1p(grad_sq.sqrt().numpy())
        out["snip"][a : a + b] = np.log1p(snip.numpy())
        if on_chunk is not None:
            on_chunk(b)
    return out


#: Bump when the scores' definition changes: cached files of another version are not read.
PROBE_VERSION = 2


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
    rewritten atomically (an unreadable file is recomputed, with a warning; two processes
    filling one file at once may each drop the other's new rows, never corrupt it).
    ``progress``: :mod:`gnnnas.progress` mode for the architectures computed.

    Raises:
        ValueError: the space has no executor (e.g. NAS-Bench-Graph), or ``images`` is not in
            ``[2, number of training images]``.
    """
    import hashlib
    import warnings
    import zipfile

    from gnnnas.data.paths import resolve_cache_dir
    from gnnnas.files import atomic_write
    from gnnnas.nn.executors import get_executor
    from gnnnas.nn.featurize import GraphFeaturizer
    from gnnnas.progress import Progress

    if not 2 <= images <= len(proxy.train_y):
        raise ValueError(f"images must be in [2, {len(proxy.train_y)}] (the proxy's training images), got {images}")
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # the shared stem and classifier: the same in every process
            executor = get_executor(space.name, space.vocab, in_channels=proxy.in_channels,
                                    num_classes=proxy.num_classes, width=width)
    except ValueError as error:
        raise ValueError(f"the zero_cost and flow probes run each architecture's network: {error}") from None
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
    known: dict[str, np.ndarray] = {}
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as stored:
                table = np.stack([stored[n] for n in names], 1)
                known = dict(zip(stored["identity"].tolist(), table, strict=True))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
            warnings.warn(f"probe cache {str(path)!r} is unreadable ({error}); recomputing it", stacklevel=2)
            known = {}
    keys = [space.identity(a) for a in archs]
    missing = sorted({k: i for i, k in enumerate(keys) if k not in known}.values())
    if missing:
        with Progress(len(missing), "probe", mode=progress, unit="arch", line_every=0.1) as report:
            scores = probe_scores(executor, canonical.transform([archs[i] for i in missing]), probe_x, probe_y,
                                  seed=seed, on_chunk=None if report.quiet else report.advance)
        for j, i in enumerate(missing):
            known[keys[i]] = np.array([scores[n][j] for n in names])
        identities = list(known)
        table = np.stack([known[k] for k in identities])
        with atomic_write(path) as handle:
            np.savez(handle, identity=np.array(identities), **{n: table[:, c] for c, n in enumerate(names)})
    table = np.stack([known[k] for k in keys])
    return {n: table[:, c] for c, n in enumerate(names)}
