import numpy as np
import pytest

import gnnnas
from gnnnas import baselines


def test_onehot_encoding_layout():
    space = gnnnas.get_space("nb201")
    a = space.parse("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    x = baselines.onehot_encoding([a])
    labels = len(space.vocab.labels) + 1
    assert x.shape == (1, 8 * labels + 8 * 7 // 2)
    assert x[0, : 8 * labels].reshape(8, labels).sum(1).tolist() == [1.0] * 8
    with_macro = baselines.onehot_encoding([a], include_macro=True)
    assert with_macro.shape[1] == x.shape[1] + len(a.macro)
    with pytest.raises(ValueError, match="more than num_nodes"):
        baselines.onehot_encoding([a], num_nodes=4)


def test_random_forest_learns_a_simple_rule():
    space = gnnnas.get_space("nb201")
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(300)]
    y = np.array([a.ops.count("nor_conv_3x3") for a in archs], dtype=float)
    model = baselines.random_forest("nb201", seed=0).fit(archs[:200], y[:200])
    tau = gnnnas.metrics.kendall_tau(y[200:], model.predict(archs[200:]))
    assert tau > 0.7
    gb = baselines.gradient_boosting("nb201", seed=0).fit(archs[:200], y[:200])
    assert gnnnas.metrics.kendall_tau(y[200:], gb.predict(archs[200:])) > 0.7


def test_np_gcn_is_the_plain_predictor():
    p = baselines.np_gcn("nb201", seed=1)
    assert not p.use_global_node and not p.prune and p.loss == "mse"


def test_baselines_pad_to_the_space_maximum():
    # trained on small NB101 cells only, a baseline still scores a 7-vertex cell
    space = gnnnas.get_space("nb101")
    rng = np.random.default_rng(0)
    small = [a for a in (space.sample(rng) for _ in range(300)) if a.num_nodes <= 5][:20]
    chain = np.eye(7, k=1, dtype=int)
    big = space.parse((chain, ["input"] + ["conv3x3-bn-relu"] * 5 + ["output"]))
    model = baselines.random_forest("nb101", 0).fit(small, np.arange(len(small), dtype=float))
    assert np.isfinite(model.predict([big])).all()
