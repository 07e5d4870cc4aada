"""A user-defined space registers and works without editing the package."""

import numpy as np
import pytest

import gnnnas
from gnnnas import ArchGraph, OpVocabulary
from gnnnas.spaces.registry import _REGISTRY

VOCAB = OpVocabulary(ops=("conv3", "conv5", "skip"), identity={"skip"}, parametric={"conv3", "conv5"})


class Chain3(gnnnas.SearchSpace):
    vocab = VOCAB
    size = 27

    def parse(self, encoding):
        if isinstance(encoding, ArchGraph):
            return self.check(encoding)
        ops = ["input", *encoding, "output"]
        return ArchGraph(
            ops=ops,
            edges=[(i, i + 1) for i in range(len(ops) - 1)],
            vocab=VOCAB,
            space=self.name,
            macro={"layers": len(encoding)},
        )

    def format(self, arch):
        return tuple(self.check(arch).ops[1:-1])

    def sample(self, rng=None):
        rng = gnnnas.spaces.as_rng(rng)
        return self.parse(tuple(rng.choice(VOCAB.ops, size=3)))

    def mutate(self, arch, rng=None):
        rng = gnnnas.spaces.as_rng(rng)
        ops = list(self.format(arch))
        i = int(rng.integers(3))
        ops[i] = rng.choice([o for o in VOCAB.ops if o != ops[i]])
        return self.parse(tuple(ops))


@pytest.fixture
def registered():
    gnnnas.register_space("test_chain3")(Chain3)
    yield gnnnas.get_space("test_chain3")
    _REGISTRY.pop("test_chain3", None)


def test_user_space_round_trip(registered):
    space = registered
    assert "test_chain3" in gnnnas.list_spaces()
    assert space.name == "test_chain3"
    arch = space.parse(("conv3", "skip", "conv5"))
    assert space.format(arch) == ("conv3", "skip", "conv5")
    assert arch.to_pyg().num_nodes == arch.num_nodes + 1
    child = space.mutate(arch, np.random.default_rng(0))
    assert sum(a != b for a, b in zip(space.format(arch), space.format(child))) == 1
    # identity ops vanish from the computed function
    assert arch.canonical_hash() == space.parse(("conv3", "conv5", "skip")).canonical_hash()
    with pytest.raises(TypeError, match="too large to enumerate"):
        next(space.enumerate())


def test_registry_errors(registered):
    with pytest.raises(ValueError, match="already registered"):
        gnnnas.register_space("test_chain3")(type("Other", (Chain3,), {}))
    with pytest.raises(ValueError, match="non-empty string"):
        gnnnas.register_space("")
    gnnnas.register_space("test_chain3", overwrite=True)(Chain3)
    with pytest.raises(ValueError, match="belongs to space 'nb201'"):
        registered.format(gnnnas.get_space("nb201").sample(0))


def test_as_rng():
    assert isinstance(gnnnas.spaces.as_rng(3), np.random.Generator)
    with pytest.raises(ValueError, match="rng must be"):
        gnnnas.spaces.as_rng("seed")
