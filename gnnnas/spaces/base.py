"""The contract every search space fulfils: native encoding <-> :class:`~gnnnas.ArchGraph`."""

from __future__ import annotations

import abc
from collections.abc import Iterator
from typing import Any

import numpy as np

from gnnnas.graph import ArchGraph, OpVocabulary

__all__ = ["SearchSpace", "as_rng"]

def as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    """Accept a Generator, a seed or None (fresh entropy), like scikit-learn's random_state."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise ValueError(f"rng must be a numpy Generator, an int seed or None, got {type(rng).__name__}")


class SearchSpace(abc.ABC):
    """A family of architectures with a native encoding.

    Subclasses set ``name`` and ``vocab`` and implement :meth:`parse`, :meth:`format`,
    :meth:`sample` and :meth:`mutate`; finite spaces also implement :meth:`enumerate` and
    :attr:`size`. ``parse`` accepts the native encoding (or an ArchGraph of this space, which
    it returns unchanged) and fills the global node's macro features.
    """

    name: str = ""
    vocab: OpVocabulary

    #: Number of architectures, or ``None`` when the space is too large to count/enumerate.
    size: int | None = None
    #: Most nodes an ArchGraph of the space has, or ``None`` when not bounded (fixed-width
    #: encodings pad to it).
    max_nodes: int | None = None

    @abc.abstractmethod
    def parse(self, encoding: Any) -> ArchGraph:
        """Native encoding -> ArchGraph (raises ``ValueError`` naming what is wrong)."""

    @abc.abstractmethod
    def format(self, arch: ArchGraph) -> Any:
        """ArchGraph of this space -> native encoding (inverse of :meth:`parse`)."""

    @abc.abstractmethod
    def sample(self, rng: np.random.Generator | int | None = None) -> ArchGraph:
        """One architecture drawn from the space."""

    @abc.abstractmethod
    def mutate(self, arch: ArchGraph, rng: np.random.Generator | int | None = None) -> ArchGraph:
        """A different architecture of the space, one small change away from ``arch``."""

    def identity(self, arch: Any) -> str:
        """The key of one trained network of this space (an ArchGraph or a native encoding).

        Lookups in benchmark tables, the search's "never query twice", the protocols' splits and
        their de-duplication compare this key. Default: :meth:`ArchGraph.canonical_hash`, the
        identity of the computation graph (for NB101 the same partition as the official module
        hash). A space whose benchmark trained functionally equal architectures as separate
        entries overrides it with the benchmark's own key (NB201: the arch string).
        """
        return self.parse(arch).canonical_hash()

    def enumerate(self) -> Iterator[ArchGraph]:
        """Every architecture of the space (finite spaces only)."""
        raise TypeError(f"search space {self.name!r} is too large to enumerate (or does not implement enumerate())")

    def check(self, arch: ArchGraph) -> ArchGraph:
        """Return ``arch`` if it belongs to this space, else raise ``ValueError``."""
        if not isinstance(arch, ArchGraph):
            raise ValueError(f"expected an ArchGraph, got {type(arch).__name__}")
        if arch.space != self.name:
            raise ValueError(
                f"architecture belongs to space {arch.space!r}, not {self.name!r}"
            )
        return arch

    def parse_many(self, encodings) -> list[ArchGraph]:
        """Parse a sequence of encodings (ArchGraphs of this space pass through)."""
        return [self.parse(e) for e in encodings]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
