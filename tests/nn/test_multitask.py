import math

import pytest
import torch

from gnnnas.nn.multitask import TaskWeighting


def test_dynamic_matches_formula():
    w = TaskWeighting("dynamic", 2, preference=1.5)
    with torch.no_grad():
        w.log_param.copy_(torch.tensor([0.5, 2.0]))
    losses = [torch.tensor(0.8), torch.tensor(2.3)]
    expected = sum(l ** 0.5 / (2 * u**2) * l + math.log(1 + u**2) for l, u in zip((0.8, 2.3), (0.5, 2.0)))
    assert w(losses).item() == pytest.approx(expected, rel=1e-6)


def test_dynamic_q1_is_uncertainty_style_and_weights_track_losses():
    w = TaskWeighting("dynamic", 2, preference=1.0)
    assert torch.allclose(w.task_weights(), torch.ones(2))
    w2 = TaskWeighting("dynamic", 2, preference=2.0)
    weights = w2.task_weights(torch.tensor([1.0, 3.0]))
    assert weights[1] / weights[0] == pytest.approx(3.0)


def test_uncertainty_and_fixed():
    u = TaskWeighting("uncertainty", 2)
    assert u([torch.tensor(1.0), torch.tensor(2.0)]).item() == pytest.approx(3.0)
    f = TaskWeighting("fixed", 2, weights=[1.0, 0.25])
    assert float(f([torch.tensor(1.0), torch.tensor(2.0)])) == pytest.approx(1.5)
    assert not f.log_param.requires_grad


def test_learnable_weights_stay_finite_under_training():
    w = TaskWeighting("dynamic", 2)
    opt = torch.optim.Adam(w.parameters(), lr=0.1)
    for step in range(300):
        losses = [torch.tensor(1e-4), torch.tensor(50.0)]
        opt.zero_grad()
        w(losses).backward()
        opt.step()
    assert torch.isfinite(w.log_param).all()
    assert torch.isfinite(w.task_weights()).all()
    # the larger loss ends up down-weighted relative to its magnitude
    assert w.task_weights()[1] < w.task_weights()[0]


@pytest.mark.parametrize("kwargs", [{"mode": "magic"}, {"preference": 0.0}, {"weights": [1.0]}, {"weights": [1.0, -1.0]}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        TaskWeighting(**{"mode": "fixed" if "weights" in kwargs else "dynamic", **kwargs})
