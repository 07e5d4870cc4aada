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


@pytest.mark.parametrize("weight", ["-1", "nan", "inf", "-inf", "0", "0.0", "-0", "1e999", "-1e-3", "NaN", "x", "*"])
@pytest.mark.parametrize("template", ["{}*mse", "pairwise_logistic+{}*listnet"])
def test_weights_must_be_finite_and_positive(template, weight):
    """A negative weight trains a reversed ranker, NaN/inf give NaN scores, zero is a mistake."""
    spec = template.format(weight)
    with pytest.raises(ValueError, match="bad weight"):
        parse_loss_spec(spec)
    with pytest.raises(ValueError, match="bad weight"):
        ranking_loss(spec)


@pytest.mark.parametrize("weight", [1e-300, 1e-5, 0.5, 1.0, 3.0, 1e20, 1.7e308])
def test_any_finite_positive_weight_is_accepted(weight):
    # repr() writes 1e+20 with a "+": it is part of the number, not a new term
    assert parse_loss_spec(f"mse+{weight!r}*pairwise_hinge") == [("mse", 1.0), ("pairwise_hinge", weight)]


@pytest.mark.parametrize("spec", ["", "  ", None, 1.0, ["mse"]])
def test_spec_must_be_a_non_empty_string(spec):
    with pytest.raises(ValueError, match="loss spec must be a non-empty string"):
        parse_loss_spec(spec)
