"""NASLibPredictor against NASLib's predictor interface (NASLib is not on PyPI: not installed).

NASLib graph objects are mirrored by small stand-ins exposing what NASLib's search spaces
document: ``get_op_indices()`` / ``get_hash()`` (NB201), ``get_spec()`` (NB101),
``get_compact()`` (NB301 / DARTS).
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import gnnnas
from gnnnas.adapters import NASLibPredictor
from gnnnas.adapters.naslib import nb201_from_op_indices, nb201_to_op_indices


class NasBench201Graph:
    """Stand-in for naslib.search_spaces.NasBench201SearchSpace after set_op_indices."""

    def __init__(self, op_indices):
        self.op_indices = list(op_indices)

    def get_op_indices(self):
        return self.op_indices

    def get_hash(self):
        return tuple(self.op_indices)


class Spec101:
    def __init__(self, matrix, ops):
        self.spec = {"matrix": matrix, "ops": ops}

    def get_spec(self):
        return self.spec


class Compact301:
    def __init__(self, compact):
        self.compact = compact

    def get_compact(self):
        return self.compact


def test_op_index_mapping_matches_naslib():
    # NASLib's convert_str_to_op_indices: EDGE_LIST ((1,2),(1,3),(1,4),(2,3),(2,4),(3,4)),
    # OP_NAMES_NB201 = [skip_connect, none, nor_conv_3x3, nor_conv_1x1, avg_pool_3x3]
    text = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|none~2|"
    assert nb201_to_op_indices(text) == (4, 3, 3, 0, 0, 1)
    assert nb201_from_op_indices((4, 3, 3, 0, 0, 1)) == text
    best = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    assert nb201_to_op_indices(best) == (2, 2, 0, 2, 2, 2)


def test_interface_matches_naslib(tiny):
    p = NASLibPredictor("nasbench201", **tiny)
    fit = list(inspect.signature(p.fit).parameters)
    assert fit[:3] == ["xtrain", "ytrain", "train_info"]
    assert list(inspect.signature(p.query).parameters)[:2] == ["xtest", "info"]
    assert inspect.signature(p.query).parameters["info"].default is None
    assert p.pre_process() is None
    reqs = p.get_data_reqs()
    assert reqs["requires_partial_lc"] is False and reqs["requires_hyperparameters"] is False
    assert reqs["unlabeled"] is False and reqs["metric"] is None
    p.set_ss_type("nasbench101")
    assert (p.ss_type, p.space) == ("nasbench101", "nb101")
    p.set_hyperparams({"epochs": 5})
    assert p.get_hyperparams()["epochs"] == 5


def test_fit_query_real_nb201(nb201, split, tiny):
    train, test = split
    xtrain = [NasBench201Graph(nb201_to_op_indices(nb201.encodings[i])) for i in train]
    p = NASLibPredictor("nasbench201", **tiny)
    p.pre_process()
    assert p.fit(xtrain, nb201.y[train], train_info=None) is p
    xtest = [nb201_to_op_indices(nb201.encodings[i]) for i in test]  # NASLib hashes
    pred = p.query(xtest, info=None)
    assert pred.shape == (len(test),) and np.all(np.isfinite(pred))
    assert gnnnas.metrics.kendall_tau(nb201.y[test], pred) > 0.2
    # the same archs as NB201 strings, ArchGraphs or NASLib objects get the same predictions
    np.testing.assert_allclose(p.query([nb201.encodings[i] for i in test[:20]]), pred[:20])
    np.testing.assert_allclose(p.query([nb201.archs[i] for i in test[:20]]), pred[:20])
    np.testing.assert_allclose(p.query([NasBench201Graph(x) for x in xtest[:20]]), pred[:20])


def test_naslib_objects_of_nb101_and_darts(data_root, tiny):
    nb101 = gnnnas.load_benchmark("nb101_500", data_dir=data_root("nb101/nb101_500_valid_acc.json"))
    p = NASLibPredictor("nasbench101", **tiny)
    space = gnnnas.get_space("nb101")
    objects = [Spec101(*space.format(a)) for a in nb101.archs[:100]]
    assert p.to_archs(objects) == nb101.archs[:100]
    darts = gnnnas.load_benchmark("darts", data_dir=data_root("nb301/nb301_725_valid_acc.json"))
    p = NASLibPredictor("nasbench301", **tiny)
    objects = [Compact301(gnnnas.get_space("darts").format(a)) for a in darts.archs[:100]]
    assert p.to_archs(objects) == darts.archs[:100]


def test_bad_input(tiny):
    p = NASLibPredictor("nasbench201", **tiny)
    with pytest.raises(ValueError, match="not fitted yet"):
        p.query([(0, 0, 0, 0, 0, 0)])
    with pytest.raises(ValueError, match="6 integers in 0..4"):
        p.fit([NasBench201Graph([0, 1, 9, 0, 0, 0])], [1.0])
    with pytest.raises(ValueError, match="got 2 architectures but 1 accuracies"):
        p.fit([(0, 0, 0, 0, 0, 0), (2, 2, 2, 2, 2, 2)], [1.0])
    with pytest.raises(ValueError, match="unknown search space 'transbench'"):
        NASLibPredictor("transbench")
    with pytest.raises(ValueError, match="architecture 0 is not a valid nasbench201"):
        p.to_archs([object()])
