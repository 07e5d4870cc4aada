import numpy as np
import pytest

from gnnnas.protocols import PROTOCOLS, get_protocol


def test_p201_split_follows_the_protocol():
    p = get_protocol("P201")
    assert p.train_sizes == (39, 78, 156, 469, 781, 1563) and p.test_on == "all"
    split = p.split(15_625, 78, seed=3)
    np.testing.assert_array_equal(split.train, np.random.RandomState(3).permutation(15_625)[:78])
    assert len(split.test) == 15_625  # tau over ALL archs


def test_rest_protocols_hold_out_training_archs():
    p = get_protocol("PDARTS")
    split = p.split(725, 100, seed=0)
    assert len(split.test) == 625 and not set(split.train) & set(split.test)


def test_names_and_errors():
    assert get_protocol("nb201") is PROTOCOLS["P201"]
    assert get_protocol("nasbench_graph").benchmark == "nasbench_graph"
    assert get_protocol("P201-LF").truth_metric == "cifar10"
    with pytest.raises(ValueError, match="unknown protocol 'P999'"):
        get_protocol("P999")
    with pytest.raises(ValueError, match="train size must be in"):
        get_protocol("PVIT").split(200, 200, seed=0)
    assert PROTOCOLS["PGRAPH-cora"].resolve_sizes(26_206) == (262, 1310)


def test_pc201_split_mirrors_the_published_one():
    """PC201: pool = official NB201 indices 0..7812, test = 7813..15624, run r draws with
    RandomState(r).permutation(7813)[:N] (TA-GATES / FlowerFormer / FGP)."""
    p = get_protocol("PC201")
    assert p.train_sizes == (78, 390, 781)
    for r in range(9):
        split = p.split(15625, 78, r)
        assert np.array_equal(split.train, np.random.RandomState(r).permutation(7813)[:78])
        assert np.array_equal(split.test, np.arange(7813, 15625))
        assert len(set(split.train)) == 78 and split.train.max() < 7813
    with pytest.raises(ValueError, match=r"train size must be in \[2, 7813\]"):
        p.split(15625, 7814, 0)
    with pytest.raises(ValueError, match="the training pool has 7813 rows"):
        p.split(7000, 78, 0)
