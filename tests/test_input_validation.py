"""Bad arguments are a ValueError naming the argument, never a crash deep in torch/numpy (issue 12)."""

import inspect
import math

import numpy as np
import pytest
import torch

import gnnnas
from gnnnas.params import BOOL_PARAMS as _BOOL_PARAMS
from gnnnas.params import NUMERIC_PARAMS as _NUMERIC_PARAMS
from gnnnas.predictor import Predictor, resolve_device

FAST = {"epochs": 1, "hidden_dim": 8, "num_layers": 1}


@pytest.fixture(scope="module")
def toy():
    space = gnnnas.get_space("nb201")
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(20)]
    return archs, np.linspace(0.0, 1.0, 20) + rng.normal(0, 0.01, 20)


@pytest.fixture(scope="module")
def fitted(toy):
    return Predictor(**FAST).fit(*toy)


# ---------------------------------------------------------------------- hyperparameters
def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _is_real(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v)


#: The rule for each numeric hyperparameter, written independently of the library's table.
ALLOWED = {
    **{name: lambda v: _is_int(v) and v >= 1 for name in (
        "hidden_dim", "num_layers", "batch_size", "n_members", "hyper_width", "hyper_archs", "hyper_images",
        "hyper_every")},
    "epochs": lambda v: v is None or (_is_int(v) and v >= 1),
    "early_stopping_patience": lambda v: v is None or (_is_int(v) and v >= 1),
    "unlabelled_archs": lambda v: _is_int(v) and v >= 0,
    "seed": lambda v: v is None or (_is_int(v) and 0 <= v <= 2**32 - 1),
    "num_threads": lambda v: v is None or (_is_int(v) and (v >= 1 or v == -1)),  # -1: every CPU
    "dropout": lambda v: _is_real(v) and 0 <= v < 1,
    "validation_fraction": lambda v: _is_real(v) and 0 <= v < 1,
    "lr": lambda v: _is_real(v) and v > 0,
    "task_preference": lambda v: _is_real(v) and v > 0,
    "weight_decay": lambda v: _is_real(v) and v >= 0,
    "hyper_loss_weight": lambda v: _is_real(v) and v >= 0,
    "proxy_rank_weight": lambda v: _is_real(v) and v >= 0,
    "pretrain_epochs": lambda v: _is_int(v) and v >= 1,
    "pretrain_archs": lambda v: _is_int(v) and v >= 2,  # a pool of one teaches nothing
    "pretrain_batch_size": lambda v: _is_int(v) and v >= 2,  # nor does a batch of one
    "encoder_lr_scale": lambda v: _is_real(v) and v >= 0,  # 0 freezes the pre-trained encoder
}
#: Probe values: the issue's cases, every boundary, and things that are not numbers at all.
PROBES = [
    -(2**70), -1, -1e-9, 0, 0.0, 1e-9, 0.5, 1, 1.0, 1.5, 2, 2.5, 3, 1e6, 2**32 - 1, 2**32, 2**70,
    np.int64(3), np.float32(0.25), np.int64(-1), math.nan, math.inf, -math.inf, True, False, None,
    "fast", "3", 1 + 0j, [1], np.bool_(True),
]


def test_every_numeric_and_bool_hyperparameter_is_validated():
    params = inspect.signature(Predictor.__init__).parameters
    numeric = {n for n, p in params.items()
               if isinstance(p.default, (int, float)) and not isinstance(p.default, bool)}
    numeric |= {"epochs", "early_stopping_patience", "seed"}  # None by default, or int | None
    assert set(_NUMERIC_PARAMS) == numeric == set(ALLOWED)
    assert set(_BOOL_PARAMS) == {n for n, p in params.items() if isinstance(p.default, bool)}


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_numeric_hyperparameters_follow_their_rule(name):
    base = {} if name == "validation_fraction" else {"validation_fraction": 0.2}  # patience needs it
    for value in PROBES:
        predictor = Predictor(**{**base, name: value})
        if ALLOWED[name](value):
            predictor._check_params()
        else:
            with pytest.raises(ValueError, match=f"^{name} must be "):
                predictor._check_params()


@pytest.mark.parametrize(
    "params",
    [
        {"seed": 1.5}, {"seed": -1}, {"seed": 2**70}, {"lr": -1}, {"lr": "fast"}, {"dropout": math.nan},
        {"weight_decay": -1e-3}, {"weight_decay": math.nan}, {"early_stopping_patience": 0, "validation_fraction": 0.2},
        {"hidden_dim": True}, {"epochs": 0},
    ],
)
def test_fit_names_the_bad_hyperparameter(toy, params):
    name = next(iter(params))
    with pytest.raises(ValueError, match=f"^{name} must be "):
        Predictor(**{**FAST, **params}).fit(*toy)


@pytest.mark.parametrize("name", _BOOL_PARAMS)
@pytest.mark.parametrize("value", ["yes", 1, None])
def test_bool_hyperparameters(name, value):
    with pytest.raises(ValueError, match=f"^{name} must be True or False"):
        Predictor(**{name: value})._check_params()


@pytest.mark.parametrize("space", [123, None, ["nb201"], gnnnas.get_space])
def test_space_must_be_a_name_or_a_space(toy, space):
    with pytest.raises(ValueError, match="^space must be"):
        Predictor(space=space, **FAST).fit(*toy)


def test_bad_loss_spec_is_rejected_by_fit(toy):
    with pytest.raises(ValueError, match="bad weight '-1'"):
        Predictor(loss="-1*mse", **FAST).fit(*toy)


# ---------------------------------------------------------------------- labels
@pytest.mark.parametrize(
    "make_y",
    [
        lambda y: y.reshape(10, 2),  # 20 labels for 20 archs, but 2-D
        lambda y: y[:, None],
        lambda y: y + 1j,
        lambda y: y.astype(str),
        lambda y: np.array([*y[:-1], None], dtype=object),
        lambda y: np.float64(1.0),
    ],
)
def test_labels_must_be_a_1d_real_array(toy, make_y):
    archs, y = toy
    with pytest.raises(ValueError, match="^y must be a 1-D array of real numbers"):
        Predictor(**FAST).fit(archs, make_y(y))


@pytest.mark.parametrize("scale", [1e-100, 1.0, 1e100, 1e150, 1e200, 1e300, 1e307])
def test_huge_labels_give_finite_predictions_or_a_clear_error(toy, scale):
    archs, y = toy
    labels = scale * (1.0 + y)
    try:
        predictor = Predictor(**FAST).fit(archs, labels)
    except ValueError as error:
        assert "too large to standardise" in str(error)
        assert scale > 1e150  # only where the standard deviation really overflows
        return
    assert np.all(np.isfinite(predictor.predict(archs)))


# ---------------------------------------------------------------------- predict and device
@pytest.mark.parametrize("batch_size", [0, -1, 2.5, "8", True, None, math.nan])
def test_predict_batch_size(fitted, toy, batch_size):
    with pytest.raises(ValueError, match="^batch_size must be a positive integer"):
        fitted.predict(toy[0], batch_size=batch_size)


def test_predict_batch_size_numpy_int_is_fine(fitted, toy):
    np.testing.assert_allclose(fitted.predict(toy[0], batch_size=np.int64(3)), fitted.predict(toy[0]), rtol=1e-6)


@pytest.mark.parametrize("device", ["cuda", "cuda:0", torch.device("cuda")])
def test_cuda_without_cuda(monkeypatch, toy, device):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device(device)
    with pytest.raises(ValueError, match="CUDA is not available"):
        Predictor(device=device, **FAST).fit(*toy)
    assert resolve_device("auto") == torch.device("cpu")


@pytest.mark.parametrize("device", [3, None, "gpu9000", ["cpu"]])
def test_bad_device(device):
    with pytest.raises(ValueError, match="bad device"):
        resolve_device(device)


# ---------------------------------------------------------------------- space encodings
NB101_MATRIX = [[0, 1, 0], [0, 0, 1], [0, 0, 0]]


@pytest.mark.parametrize("op", [["conv3x3-bn-relu"], {"op": 1}, True, False, np.bool_(True), None, 1.0, b"conv1x1-bn-relu"])
def test_nb101_ops_of_the_wrong_kind(op):
    with pytest.raises(ValueError, match="unknown NB101 op"):
        gnnnas.get_space("nb101").parse({"matrix": NB101_MATRIX, "ops": ["input", op, "output"]})


@pytest.mark.parametrize("label, name", [(0, "conv3x3-bn-relu"), (1, "conv1x1-bn-relu"), (np.int64(2), "maxpool3x3")])
def test_nb101_integer_labels_still_work(label, name):
    arch = gnnnas.get_space("nb101").parse({"matrix": NB101_MATRIX, "ops": ["input", label, "output"]})
    assert arch.ops[1] == name


@pytest.mark.parametrize("op", [["gin"], {"op": "gin"}, None, 1, True])
def test_nasbench_graph_ops_of_the_wrong_kind(op):
    with pytest.raises(ValueError, match="unknown NAS-Bench-Graph op"):
        gnnnas.get_space("nasbench_graph").parse(([0, 1, 2, 1], ["gcn", op, "fc", "cheb"]))


@pytest.fixture(scope="module")
def darts_genotype():
    space = gnnnas.get_space("darts")
    return space.to_genotype(space.sample(0))


@pytest.mark.parametrize("concat", [[None], 5, "2345", [2, 3, 4], {2: 1}, [[2, 3, 4, 5]], np.zeros((2, 2))])
@pytest.mark.parametrize("cell", ["normal", "reduce"])
def test_darts_concat_of_the_wrong_kind(darts_genotype, cell, concat):
    with pytest.raises(ValueError, match=f"{cell}_concat must be \\[2, 3, 4, 5\\]"):
        gnnnas.get_space("darts").parse({**darts_genotype, f"{cell}_concat": concat})


@pytest.mark.parametrize("concat", [None, [2, 3, 4, 5], range(2, 6), np.arange(2, 6), (2, 3, 4, 5)])
def test_darts_good_concat(darts_genotype, concat):
    space = gnnnas.get_space("darts")
    assert space.parse({**darts_genotype, "normal_concat": concat}) == space.parse(darts_genotype)
