"""What every executor provides, the registry, and the batched functional ops they share.

An executor builds each architecture's network at small width and runs it on a batch of proxy
images with the weights the hypernetwork generated for its operation nodes. Many architectures run
in one step: feature maps are laid out ``[images, archs, channels, H, W]``, and an operation that
a subset of the architectures has at some node runs as ONE grouped convolution over that subset
(``groups = archs``), each architecture with its own kernel.

Parts of the network that do not depend on the architecture (stem, fixed reduction blocks,
classifier) are ordinary parameters shared by all architectures. Batch norm uses the statistics
of the image batch per architecture and channel, with no affine part, in training and scoring
alike: generated networks have no running statistics to fall back on.
"""

from __future__ import annotations

import abc
import contextlib
import contextvars
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from gnnnas.graph import OpVocabulary
from gnnnas.nn.featurize import DenseGraphBatch
from gnnnas.nn.hypernet import WeightSpec

__all__ = [
    "NetworkExecutor",
    "arch_batch_norm",
    "arch_input",
    "gather_node_weights",
    "get_executor",
    "grouped_conv",
    "image_batch_norm",
    "list_executors",
    "per_arch",
    "probing",
    "register_executor",
]


class NetworkExecutor(nn.Module, abc.ABC):
    """Runs the generated network of every architecture of a batch on the same images.

    Args:
        vocab: op vocabulary of the space.
        in_channels, num_classes: of the proxy images.
        width: channels of every generated layer (small on purpose: weights must be predicted).
    """

    def __init__(self, vocab: OpVocabulary, in_channels: int, num_classes: int, width: int = 8) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        self.vocab = vocab
        self.in_channels = int(in_channels)
        self.num_classes = int(num_classes)
        self.width = int(width)

    @abc.abstractmethod
    def weight_specs(self) -> dict[str, tuple[WeightSpec, ...]]:
        """Op label -> the weight tensors the hypernetwork emits for a node with that op."""

    @abc.abstractmethod
    def forward(
        self,
        batch: DenseGraphBatch,
        weights: dict[str, torch.Tensor],
        unpack: Callable[[str, torch.Tensor], dict[str, torch.Tensor]],
        images: torch.Tensor,
    ) -> torch.Tensor:
        """Logits ``[archs, images, classes]``.

        ``weights[label]`` is ``[archs, nodes, P]`` (flat, for every node position of ``batch``);
        ``unpack(label, rows)`` turns ``[S, P]`` rows into named tensors.

        For the zero-cost probes (:mod:`gnnnas.nn.probe`) an executor passes the input of the
        architectures' own part through :func:`arch_input` once per call (e.g. the shared stem's
        output expanded to one copy per architecture), builds batch norms with
        :func:`arch_batch_norm` / :func:`image_batch_norm`, and runs in the dtype of ``images``.
        """

    # -------------------------------------------------------------- shared pieces
    def _op_id(self, label: str) -> int:
        return self.vocab.index(label)


_EXECUTORS: dict[str, Callable[..., NetworkExecutor]] = {}


def register_executor(space: str, factory: Callable[..., NetworkExecutor], overwrite: bool = False) -> None:
    """Make ``factory(vocab=..., in_channels=..., num_classes=..., width=...)`` the executor of ``space``."""
    if space in _EXECUTORS and not overwrite:
        raise ValueError(f"an executor for space {space!r} is already registered (pass overwrite=True)")
    _EXECUTORS[space] = factory


def list_executors() -> list[str]:
    """Spaces whose architectures can be run with generated weights."""
    _load_builtin()
    return sorted(_EXECUTORS)


def missing_executor(space: str) -> str | None:
    """Why ``space`` has no executor (its architectures cannot be run: no hypernetwork task, no
    ``zero_cost`` / ``flow`` pretext, no zero-finetune evaluator), or None if it has one."""
    _load_builtin()
    if space in _EXECUTORS:
        return None
    return _NO_EXECUTOR.get(space, "none is registered for it; see gnnnas.nn.executors.register_executor")


def get_executor(space: str, vocab: OpVocabulary, in_channels: int, num_classes: int, width: int = 8) -> NetworkExecutor:
    """The executor of ``space``; a clear error for spaces that have none."""
    if (reason := missing_executor(space)) is not None:
        raise ValueError(f"space {space!r} cannot run the hypernetwork task: {reason}")
    return _EXECUTORS[space](vocab=vocab, in_channels=in_channels, num_classes=num_classes, width=width)


_NO_EXECUTOR = {
    "nasbench_graph": (
        "its architectures are graph neural networks for node classification: running them needs "
        "graph data (Cora...), not proxy images; not supported"
    ),
}


def _load_builtin() -> None:
    # imported here: the built-in executors register themselves on import
    from gnnnas.nn.executors import cells  # noqa: F401

    try:
        from gnnnas.nn.executors import chain  # noqa: F401
    except ImportError:  # pragma: no cover - optional module during development
        pass
    try:
        from gnnnas.nn.executors import vit  # noqa: F401
    except ImportError:  # pragma: no cover
        pass


# ---------------------------------------------------------------------- functional ops
def grouped_conv(
    x: torch.Tensor,
    weight: torch.Tensor,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    depthwise: bool = False,
) -> torch.Tensor:
    """Each architecture's own conv: ``x [I, S, C, H, W]``, ``weight [S, C_out, C_in/g, k, k]``."""
    images, archs, channels, height, width = x.shape
    groups = archs * channels if depthwise else archs
    out = F.conv2d(
        x.reshape(images, archs * channels, height, width),
        weight.reshape(-1, *weight.shape[2:]),
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
    )
    return out.view(images, archs, -1, *out.shape[-2:])


# ---------------------------------------------------------------------- zero-cost probes
_PROBE: contextvars.ContextVar[dict | None] = contextvars.ContextVar("gnnnas_executor_probe", default=None)


@contextlib.contextmanager
def probing(batch_norm: bool = True, arch_inputs: list | None = None) -> Iterator[None]:
    """Run executors as the zero-cost proxies need them (:mod:`gnnnas.nn.probe`), in this block.

    Args:
        batch_norm: False turns every batch norm into the identity (synflow's networks have
            none: Tanaka et al. 2020, arXiv 2006.05467).
        arch_inputs: a list that collects, per forward pass, ``(leaf, arch_dim)``: the input of
            the architectures' own part (the shared stem's output, one copy per architecture
            along ``arch_dim``) as a leaf tensor that requires grad, for per-architecture input
            Jacobians (jacov: Mellor et al. 2020, arXiv 2006.04647v1).
    """
    token = _PROBE.set({"batch_norm": batch_norm, "arch_inputs": arch_inputs})
    try:
        yield
    finally:
        _PROBE.reset(token)


def arch_input(x: torch.Tensor, arch_dim: int) -> torch.Tensor:
    """Mark where an executor's per-architecture part starts: ``x`` holds one slice per
    architecture along ``arch_dim``. Unchanged outside :func:`probing`."""
    probe = _PROBE.get()
    if probe is None or probe["arch_inputs"] is None:
        return x
    leaf = x.detach().clone().requires_grad_(True)  # clone: each architecture its own copy
    probe["arch_inputs"].append((leaf, arch_dim))
    return leaf


def _batch_norm_off() -> bool:
    probe = _PROBE.get()
    return probe is not None and not probe["batch_norm"]


def image_batch_norm(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Batch norm of ``[I, C, H, W]`` over the images (the shared stem's), no affine part."""
    if _batch_norm_off():
        return x
    return F.batch_norm(x, None, None, training=True, eps=eps)


def arch_batch_norm(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Batch norm with statistics per architecture and channel, no affine part."""
    if _batch_norm_off():
        return x
    images, archs, channels, height, width = x.shape
    out = F.batch_norm(x.reshape(images, archs * channels, height, width), None, None, training=True, eps=eps)
    return out.view_as(x)


#: The classifier reads a GRID x GRID average-pooled map, not a global average: where digits sit
#: in the image matters, and narrow generated networks learn far faster with it (measured: a
#: width-4 two-conv net on digits reaches cross-entropy 1.10 after 250 steps vs 1.99 with global
#: pooling).
CLASSIFIER_GRID = 2


def pooled_features(x: torch.Tensor) -> torch.Tensor:
    """``[I, S, C, H, W]`` -> ``[I, S, C * GRID * GRID]`` for the shared classifier."""
    images, archs = x.shape[:2]
    out = F.adaptive_avg_pool2d(x.reshape(images * archs, *x.shape[2:]), CLASSIFIER_GRID)
    return out.reshape(images, archs, -1)


def per_arch(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Apply an architecture-independent image op (pooling, a shared conv) to ``[I, S, C, H, W]``."""
    images, archs = x.shape[:2]
    out = fn(x.reshape(images * archs, *x.shape[2:]))
    return out.view(images, archs, *out.shape[1:])


def gather_node_weights(
    weights: dict[str, torch.Tensor],
    unpack: Callable[[str, torch.Tensor], dict[str, torch.Tensor]],
    requests: dict[str, list[tuple[torch.Tensor, torch.Tensor]]],
) -> dict[str, list[dict[str, torch.Tensor]]]:
    """The named weights of groups of nodes, with ONE gather per label.

    ``requests[label]`` lists groups ``(arch indices [k], node positions [k])``; the answer lists,
    per label and in the same order, ``{name: [k, *shape]}``. Labels without generated weights
    (not in ``weights``) are left out.
    """
    out: dict[str, list[dict[str, torch.Tensor]]] = {}
    for label, groups in requests.items():
        if label not in weights or not groups:
            continue
        table = weights[label]
        nodes = table.shape[1]
        flat = torch.cat([archs * nodes + pos for archs, pos in groups])
        named = unpack(label, table.reshape(-1, table.shape[-1]).index_select(0, flat))
        counts = [len(archs) for archs, _ in groups]
        parts = {name: torch.split(t, counts) for name, t in named.items()}
        out[label] = [{name: p[i] for name, p in parts.items()} for i in range(len(groups))]
    return out
