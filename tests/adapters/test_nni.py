"""PredictorEvaluator with the real NNI 3 (the ``nni`` extra, which CI installs): NNI samples of real NB201 archs
go through NNI's model space, trial API (mock runtime) and evaluator interface."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import need_module

import gnnnas

NNI_OPS = {"none": "none", "skip_connect": "skip_connect", "nor_conv_1x1": "conv_1x1",
           "nor_conv_3x3": "conv_3x3", "avg_pool_3x3": "avg_pool_3x3"}


def to_nni_sample(arch_string: str) -> dict[str, str]:
    """NB201 arch string -> NNI's NasBench201 sample {"i_j": op} (written here independently)."""
    nodes = [[item.split("~")[0] for item in node.strip("|").split("|")] for node in arch_string.split("+")]
    return {f"{i}_{j}": NNI_OPS[nodes[j - 1][i]] for j in (1, 2, 3) for i in range(j)}


@pytest.fixture(scope="session")  # session: set up before the nb201 data fixture, so a missing
def nni():                     # NNI is the skip reason, naming its extra, even without the data
    return need_module("nni", 'pip install "gnnnas[nni]"')


@pytest.fixture(scope="module")
def model(nb201, split, tiny):
    train, _ = split
    return gnnnas.Predictor("nb201", **tiny).fit([nb201.archs[i] for i in train], nb201.y[train])


def test_nni_samples_round_trip(nni, nb201, split):
    from gnnnas.adapters import nb201_from_nni

    _, test = split
    for i in test:
        assert nb201_from_nni(to_nni_sample(nb201.encodings[i])) == nb201.encodings[i]
    scoped = {f"cell/{k}": v for k, v in to_nni_sample(nb201.encodings[test[0]]).items()}
    assert nb201_from_nni(scoped) == nb201.encodings[test[0]]


def test_evaluator_through_nni_model_space(nni, nb201, split, model):
    # gnnnas's adapter first, as a user would: it imports NNI's evaluator module without PyTorch
    # Lightning (not installed here), after which NNI's own import below finds it loaded
    from gnnnas.adapters import PredictorEvaluator

    # isort: split
    from nni.mutable import Categorical, MutableDict
    from nni.nas.evaluator import Evaluator
    from nni.nas.space import RawFormatModelSpace

    _, test = split
    evaluator = PredictorEvaluator(model)
    assert isinstance(evaluator, Evaluator)
    ops = sorted(set(NNI_OPS.values()))
    space = MutableDict({f"{i}_{j}": Categorical(ops, label=f"{i}_{j}") for j in (1, 2, 3) for i in range(j)})
    model_space = RawFormatModelSpace.from_model(space, evaluator)
    scores = []
    for i in test[:10]:
        frozen = model_space.freeze(to_nni_sample(nb201.encodings[i]))
        with evaluator.mock_runtime(frozen):  # NNI's trial API, as in a real trial
            result = frozen.execute()
        assert frozen.metrics.final == pytest.approx(result)
        scores.append(result)
    np.testing.assert_allclose(scores, model.predict([nb201.encodings[i] for i in test[:10]]))
    drawn = space.random(random_state=np.random.RandomState(0))
    assert np.isfinite(evaluator.evaluate(drawn))


def test_evaluate_reports_and_rank_candidates(nni, nb201, split, model, monkeypatch):
    from gnnnas.adapters import PredictorEvaluator, rank_candidates

    _, test = split
    reported = []
    monkeypatch.setattr(nni, "report_final_result", reported.append)
    sample = to_nni_sample(nb201.encodings[test[0]])
    score = PredictorEvaluator(model).evaluate(sample)
    assert reported == [score]
    candidates = [to_nni_sample(nb201.encodings[i]) for i in test]
    ranked = rank_candidates(model, candidates)
    scores = [s for _, s in ranked]
    assert len(ranked) == len(test) and scores == sorted(scores, reverse=True)
    truth = {nb201.encodings[i]: nb201.y[i] for i in test}
    from gnnnas.adapters import nb201_from_nni

    true_in_rank_order = [truth[nb201_from_nni(c)] for c, _ in ranked]
    assert gnnnas.metrics.kendall_tau(true_in_rank_order, scores) > 0.2


def test_custom_to_arch_and_bad_input(nni, nb201, model):
    from gnnnas.adapters import PredictorEvaluator, nb201_from_nni

    evaluator = PredictorEvaluator(model, to_arch=lambda candidate: candidate["arch"], report=False)
    assert evaluator.score([{"arch": nb201.archs[0]}]) == pytest.approx(model.predict([nb201.archs[0]]))
    with pytest.raises(ValueError, match="missing"):
        nb201_from_nni({"0_1": "conv_3x3"})
    with pytest.raises(ValueError, match="unknown NB201 op 'conv_5x5'"):
        nb201_from_nni({**to_nni_sample(nb201.encodings[0]), "0_1": "conv_5x5"})
    with pytest.raises(ValueError, match="NNI sample dict"):
        nb201_from_nni("not a sample")
    with pytest.raises(ValueError, match="to_arch must be a callable"):
        PredictorEvaluator(model, to_arch="nb201")
    with pytest.raises(ValueError, match="to_arch returned None"):
        PredictorEvaluator(model, to_arch=lambda c: None).score([1])
