"""The hypernetwork task inside Predictor, and the zero-finetune evaluator (CPU, no benchmark data)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import gnnnas
from gnnnas.data.proxy import load_proxy
from gnnnas.evaluator import ZeroFinetuneEvaluator

SPACE = gnnnas.get_space("nb201")
ALL_CONV = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


def _toy_labels(archs):
    """A label with real structure: more 3x3 convs on the cell's paths is better."""
    rng = np.random.default_rng(0)
    return np.array([a.ops.count("nor_conv_3x3") + 0.5 * a.ops.count("nor_conv_1x1") for a in archs]) + rng.normal(0, 0.1, len(archs))


def _small(**kw):
    base = {"space": "nb201", "hidden_dim": 32, "num_layers": 2, "hypernetwork": True, "hyper_width": 8,
            "unlabelled_archs": 40, "hyper_archs": 8, "hyper_images": 16, "hyper_every": 1, "seed": 0,
            "device": "cpu"}
    return gnnnas.Predictor(**{**base, **kw})


@pytest.fixture(scope="module")
def archs():
    return [SPACE.sample(i) for i in range(32)]


def test_hyper_gradients_reach_the_encoder(archs):
    pred = _small(epochs=1).fit(archs, _toy_labels(archs))
    model = pred.models_[0].train()
    proxy = load_proxy("digits")
    batch = pred.featurizer_.transform(archs[:4])
    logits = model.proxy_logits(batch, proxy.train_x[:8])
    model.zero_grad()
    F.cross_entropy(logits.reshape(-1, 10), proxy.train_y[:8].repeat(4)).backward()
    assert model.encoder.input.weight.grad.abs().sum() > 0
    assert model.encoder.layers[0].lin.weight.grad.abs().sum() > 0
    assert model.head.mlp[0].weight.grad is None or model.head.mlp[0].weight.grad.abs().sum() == 0


def test_joint_training_lowers_hyper_loss_and_keeps_weights_finite(archs):
    pred = _small(epochs=25, batch_size=8).fit(archs, _toy_labels(archs))  # 100 steps
    hist = pred.history_[0]
    first = np.mean([h["hyper_loss"] for h in hist[:5]])
    last = np.mean([h["hyper_loss"] for h in hist[-5:]])
    assert last < first - 0.05, (first, last)
    assert all(np.isfinite(h["task_weights"]).all() for h in hist)
    assert np.isfinite(pred.predict(archs)).all()


@pytest.mark.parametrize("weighting", ["uncertainty", "fixed"])
def test_other_weightings_train(archs, weighting):
    pred = _small(epochs=3, task_weighting=weighting).fit(archs, _toy_labels(archs))
    assert np.isfinite(pred.history_[0][-1]["task_weights"]).all()


def test_same_seed_same_predictions_and_checkpoint_round_trip(archs, tmp_path):
    y = _toy_labels(archs)
    a = _small(epochs=4).fit(archs, y)
    b = _small(epochs=4).fit(archs, y)
    np.testing.assert_array_equal(a.predict(archs), b.predict(archs))
    a.save(tmp_path / "m.gnnnas")
    c = gnnnas.Predictor.load(tmp_path / "m.gnnnas")
    np.testing.assert_allclose(c.predict(archs), a.predict(archs), rtol=1e-6)
    np.testing.assert_allclose(c.proxy_scores(archs[:3]), a.proxy_scores(archs[:3]), rtol=1e-6)


def test_unlabelled_pool_can_be_given(archs):
    pred = _small(epochs=2).fit(archs[:10], _toy_labels(archs[:10]), unlabelled=archs[10:])
    assert len(pred.history_[0]) == 2


def test_proxy_scores_errors(archs):
    plain = gnnnas.Predictor(space="nb201", hidden_dim=16, num_layers=1, epochs=2).fit(archs, _toy_labels(archs))
    with pytest.raises(ValueError, match="without the hypernetwork"):
        plain.proxy_scores(archs[:2])
    hyper = _small(epochs=1).fit(archs, _toy_labels(archs))
    x = torch.randn(40, 3, 8, 8)
    y = torch.arange(40) % 4
    with pytest.raises(ValueError, match="channels"):
        hyper.proxy_scores(archs[:2], proxy_data=(x, y))
    with pytest.raises(ValueError, match="metric"):
        hyper.proxy_scores(archs[:2], metric="f1")


def test_space_without_executor_is_refused():
    space = gnnnas.get_space("nasbench_graph")
    archs = [space.sample(i) for i in range(4)]
    with pytest.raises(ValueError, match="cannot run the hypernetwork task"):
        gnnnas.Predictor(space="nasbench_graph", hypernetwork=True, epochs=1).fit(archs, [1.0, 2.0, 3.0, 4.0])


def test_evaluator_ranks_a_clearly_better_architecture_higher():
    ev = ZeroFinetuneEvaluator(space="nb201", width=8, hidden_dim=32, num_layers=2, pool_size=100,
                               steps=100, archs_per_step=8, images_per_step=32, seed=0, device="cpu").fit()
    assert ev.loss_curve_[-1] < ev.loss_curve_[0]
    conv, none = ev.score_archs([ALL_CONV, ALL_NONE])
    assert none < 0.2  # an all-none cell passes nothing: chance level on 10 classes
    assert conv > none + 0.08, (conv, none)
    with pytest.raises(ValueError, match="not fitted"):
        ZeroFinetuneEvaluator().score_archs([ALL_CONV])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"task_weighting": "magic"}, "task_weighting"),
        ({"task_preference": 0.0}, "task_preference"),
        ({"unlabelled_archs": -1}, "unlabelled_archs"),
        ({"hyper_archs": 0}, "hyper_archs"),
        ({"hyper_width": 0}, "hyper_width"),
    ],
)
def test_bad_hypernetwork_parameters(archs, kwargs, match):
    with pytest.raises(ValueError, match=match):
        _small(epochs=1, **kwargs).fit(archs, _toy_labels(archs))


@pytest.mark.parametrize(("kwargs", "match"), [({"metric": "f1"}, "metric"), ({"steps": 0}, "steps")])
def test_bad_evaluator_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ZeroFinetuneEvaluator(space="nb201", pool_size=4, **kwargs).fit()
