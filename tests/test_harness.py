import json

import numpy as np
from conftest import toy_bench

import gnnnas
from gnnnas import baselines, harness
from gnnnas.protocols import Protocol


def test_run_summarise_and_write(tmp_path):
    bench = toy_bench()
    protocol = Protocol("PTOY", "toy", None, (30, 60), test_on="rest", description="toy")
    models = [
        harness.ModelSpec("rf", baselines.random_forest, "random forest"),
        harness.ModelSpec("np", lambda s, seed: baselines.np_gcn(s, seed, epochs=2, hidden_dim=8), "gcn"),
    ]
    seen = []
    records = harness.run_protocol(protocol, models, seeds=range(2), bench=bench, on_record=seen.append)
    assert len(records) == len(seen) == 2 * 2 * 2
    rf = [r for r in records if r.model == "rf" and r.train_size == 60]
    assert all(r.test_size == 60 for r in rf)
    assert all(r.kendall_tau > 0.4 for r in rf)  # the label is a simple function of the graph
    # which start each predictor's encoder took is recorded beside its number; baselines have none
    assert {r.encoder_start for r in records if r.model == "np"} == {"random"}
    assert {r.encoder_start for r in rf} == {None}
    # and how many of its members were restored to an earlier epoch (none of these healthy fits)
    assert {r.restored for r in records if r.model == "np"} == {0} and {r.restored for r in rf} == {None}
    summary = harness.summarise(records)
    assert len(summary) == 4
    s = next(x for x in summary if x["model"] == "rf" and x["train_size"] == 30)
    assert s["seeds"] == [0, 1]
    assert np.isclose(s["kendall_tau_mean"], np.mean([r.kendall_tau for r in records if r.model == "rf" and r.train_size == 30]))
    json_path, md_path = harness.write_results(tmp_path / "ptoy", protocol, records, models)
    payload = json.loads(json_path.read_text())
    assert len(payload["records"]) == 8 and payload["protocol"]["name"] == "PTOY"
    assert {r["encoder_start"] for r in payload["records"]} == {None, "random"}
    assert "| np | 30 | 2 |" in md_path.read_text() and "| random | 0 |" in md_path.read_text()
    mixed = [harness.Record(**{**vars(r), "encoder_start": start})
             for r, start in zip([r for r in records if r.model == "np" and r.train_size == 30],
                                 ["random", "shipped:nb201"], strict=True)]
    assert harness.summarise(mixed)[0]["encoder_start"] == "random/shipped:nb201"  # a mixed group shows as such
    assert harness.summarise([harness.Record(**{**vars(r), "restored": k}) for r, k in zip(mixed, [1, 2])])[0][
        "restored"] == 3  # restored members add up over seeds
    old_and_new = [harness.Record(**{**vars(r), "restored": k}) for r, k in zip(mixed, [None, 2])]
    assert harness.summarise(old_and_new)[0]["restored"] == ">= 2"  # a run that did not record it is not a 0
    assert "environment" in payload and payload["environment"]["gnnnas"] == gnnnas.__version__
    table = md_path.read_text()
    assert "| rf |" in table and "PTOY" in table


def test_default_models_names():
    names = [m.name for m in harness.default_models()]
    assert names[0] == "gnnnas" and "random-forest" in names and "np-gcn" in names
    import pytest

    with pytest.raises(ValueError, match="unknown models"):
        harness.default_models(["nope"])


def test_only_the_default_model_and_its_shipped_twins_start_from_the_shipped_encoder():
    """Ablations and variants change the encoder's shape, so the shipped NB201 encoder no longer
    fits them: every one starts from random weights, like its reference `gnnnas-scratch`, so that
    a comparison measures the ablation, not the start. The twins: the shipped encoder required,
    and the default fine-tuned with a lower encoder lr."""
    from gnnnas.predictor import Predictor

    starts = {m.name: m.factory("nb201", 0).pretrained for m in harness.default_models()
              if isinstance(m.factory("nb201", 0), Predictor)}
    assert starts.pop("gnnnas") == "auto" and starts.pop("gnnnas-pretrained") == "default"
    assert starts.pop("gnnnas-enclr0.1") == "auto"
    assert "gnnnas-scratch" in starts and "np-gcn" in starts and "gnnnas-no-global" in starts
    assert all(start is None for start in starts.values()), starts
