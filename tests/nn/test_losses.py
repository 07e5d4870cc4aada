import pytest
import torch

from gnnnas.nn.losses import (
    listnet_loss,
    pairwise_hinge_loss,
    pairwise_logistic_loss,
    parse_loss_spec,
    ranking_loss,
)


def test_pairwise_losses_prefer_the_right_order():
    y = torch.tensor([0.0, 1.0, 2.0])
    good = torch.tensor([0.0, 1.0, 2.0])
    bad = torch.tensor([2.0, 1.0, 0.0])
    for loss in (pairwise_logistic_loss, pairwise_hinge_loss, listnet_loss):
        assert loss(good, y) < loss(bad, y)
    assert pairwise_hinge_loss(good * 10, y) == 0.0
    # ties in the labels contribute no pairs
    assert pairwise_logistic_loss(torch.tensor([0.0, 5.0]), torch.tensor([1.0, 1.0])) == 0.0


def test_loss_specs():
    assert parse_loss_spec("mse+0.5*pairwise_hinge") == [("mse", 1.0), ("pairwise_hinge", 0.5)]
    y = torch.tensor([0.0, 1.0, 3.0])
    p = torch.tensor([0.5, 0.2, 1.0], requires_grad=True)
    combined = ranking_loss("mse+2*listnet")(p, y)
    expected = torch.nn.functional.mse_loss(p, y) + 2 * listnet_loss(p, y)
    torch.testing.assert_close(combined, expected)
    combined.backward()
    assert p.grad is not None
    with pytest.raises(ValueError, match="unknown ranking loss"):
        parse_loss_spec("mse+huber")
    with pytest.raises(ValueError, match="bad weight"):
        parse_loss_spec("x*mse")
