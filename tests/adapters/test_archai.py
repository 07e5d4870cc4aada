"""ArchaiPredictor: Archai's Predictor interface on ArrayEncoding rows of real NB201 archs.

Archai is in the ``archai`` / ``adapters`` extras (not ``test``: it is heavy), which CI installs,
so CI runs these tests against Archai's own ``Predictor`` and ``MeanVar``; without Archai
(outside CI) they run against the documented interface
(``fit(encoded_archs, y)``, ``predict(encoded_archs) -> MeanVar(mean, var)``, both
``[N, #targets]``) and the test of the real base class is skipped.
"""

from __future__ import annotations

import numpy as np
import pytest

import gnnnas
from gnnnas.adapters import ArchaiPredictor, ArrayEncoding, MeanVar
from gnnnas.adapters.archai import HAVE_ARCHAI


def test_real_archai_predictor_base():
    from conftest import need_module

    need_module("archai.discrete_search.api.predictor", 'pip install "gnnnas[archai]"')
    assert HAVE_ARCHAI


def test_base_class_and_meanvar():
    if HAVE_ARCHAI:
        from archai.discrete_search.api.predictor import MeanVar as ArchaiMeanVar
        from archai.discrete_search.api.predictor import Predictor as ArchaiBase

        assert issubclass(ArchaiPredictor, ArchaiBase) and MeanVar is ArchaiMeanVar
    assert MeanVar._fields == ("mean", "var")
    assert not getattr(ArchaiPredictor, "__abstractmethods__", None)


@pytest.fixture(scope="module")
def fitted(nb201, split, tiny):
    train, _ = split
    enc = ArrayEncoding("nb201")
    y = np.stack([nb201.y[train], -nb201.y[train]], axis=1)  # two targets: accuracy and its negative
    p = ArchaiPredictor("nb201", encoding=enc, n_members=2, **tiny)
    assert p.fit(enc.encode([nb201.archs[i] for i in train]), y) is None
    return p, enc


def test_fit_predict_real_nb201(nb201, split, fitted):
    _, test = split
    p, enc = fitted
    out = p.predict(enc.encode([nb201.archs[i] for i in test]))
    assert isinstance(out, MeanVar)
    assert out.mean.shape == out.var.shape == (len(test), 2)
    assert np.all(np.isfinite(out.mean)) and np.all(out.var >= 0) and np.any(out.var > 0)
    assert gnnnas.metrics.kendall_tau(nb201.y[test], out.mean[:, 0]) > 0.2
    assert gnnnas.metrics.kendall_tau(-nb201.y[test], out.mean[:, 1]) > 0.2
    # rows decoded from the array are the archs: native-encoded rows predict the same
    again = p.predict(enc.encode([nb201.encodings[i] for i in test[:10]]))
    np.testing.assert_allclose(again.mean, out.mean[:10])


def test_one_target_and_single_member(nb201, split, tiny):
    train, test = split
    enc = ArrayEncoding("nb201")
    p = ArchaiPredictor("nb201", n_members=1, **tiny)
    p.fit(enc.encode([nb201.archs[i] for i in train[:30]]), nb201.y[train[:30]])
    out = p.predict(enc.encode([nb201.archs[i] for i in test[:5]]))
    assert out.mean.shape == out.var.shape == (5, 1) and np.all(out.var == 0)


def test_bad_input(fitted):
    p, enc = fitted
    x = enc.encode([gnnnas.get_space("nb201").sample(i) for i in range(3)])
    with pytest.raises(ValueError, match="not fitted yet"):
        ArchaiPredictor("nb201").predict(x)
    with pytest.raises(ValueError, match="2-D array"):
        p.predict(x[0])
    with pytest.raises(ValueError, match=r"shape \[n, 74\]"):
        p.predict(x[:, :10])
    with pytest.raises(ValueError, match="y must be"):
        p.fit(x, np.zeros(4))
    with pytest.raises(ValueError, match="y must be finite"):
        p.fit(x, np.array([1.0, np.nan, 2.0]))
    with pytest.raises(ValueError, match="encoding must be an ArrayEncoding"):
        ArchaiPredictor("nb201", encoding="nb201")
