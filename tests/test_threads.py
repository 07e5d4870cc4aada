"""Predictor.num_threads: torch's intra-op threads during fit/predict, restored afterwards."""

import numpy as np
import pytest
import torch

import gnnnas
from gnnnas.threads import available_cpus, cpu_threads


def _archs(n=12):
    space = gnnnas.get_space("nb201")
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(n)]
    return space, archs, rng.normal(size=n)


@pytest.fixture
def seen_threads(monkeypatch):
    """The torch thread count at every module call: (list of counts, the count before, another count)."""
    seen = []
    real = torch.nn.Module.__call__

    def spy(self, *args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(self, *args, **kwargs)

    before = torch.get_num_threads()
    monkeypatch.setattr(torch.nn.Module, "__call__", spy)
    return seen, before, 2 if before == 1 else 1


def test_fit_and_predict_run_with_the_asked_threads_and_restore_torch(seen_threads):
    seen, before, other = seen_threads
    space, archs, y = _archs()
    model = gnnnas.Predictor(space=space, epochs=1, hidden_dim=8, num_layers=1, num_threads=other, device="cpu")
    model.fit(archs, y).predict(archs)
    assert seen and set(seen) == {other}
    assert torch.get_num_threads() == before
    seen.clear()
    model.set_params(num_threads=None).predict(archs)
    assert set(seen) == {before}  # None leaves torch's setting alone


def test_threads_restored_after_an_error():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError), cpu_threads(before + 1, torch.device("cpu")):
        assert torch.get_num_threads() == before + 1
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before


def test_same_predictions_whatever_the_thread_count():
    space, archs, y = _archs(16)
    one = gnnnas.Predictor(space=space, epochs=3, hidden_dim=16, num_threads=1, device="cpu").fit(archs, y)
    two = gnnnas.Predictor(space=space, epochs=3, hidden_dim=16, num_threads=2, device="cpu").fit(archs, y)
    np.testing.assert_allclose(one.predict(archs), two.predict(archs), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("bad", [0, -2, 1.5, "2", True])
def test_bad_num_threads_is_named(bad):
    space, archs, y = _archs()
    with pytest.raises(ValueError, match="num_threads"):
        gnnnas.Predictor(space=space, epochs=1, num_threads=bad).fit(archs, y)


def test_minus_one_means_every_cpu_of_the_process(monkeypatch):
    monkeypatch.setattr("gnnnas.threads.available_cpus", lambda: 3)
    before = torch.get_num_threads()
    with cpu_threads(-1, torch.device("cpu")):
        assert torch.get_num_threads() == 3
    assert torch.get_num_threads() == before


def test_available_cpus_follows_the_affinity_mask_then_cpu_count(monkeypatch):
    import os

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3}, raising=False)
    assert available_cpus() == 2  # the CPUs this process may use, not the machine's
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)  # macOS, Windows
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert available_cpus() == 6
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert available_cpus() == 1


def test_benchmark_records_say_how_many_threads(tmp_path):
    from gnnnas import harness
    from gnnnas.protocols import get_protocol

    protocol = get_protocol("P201")
    bench = gnnnas.load_benchmark("nb201")
    models = harness.default_models(["gnnnas", "random-forest"], epochs=1, num_threads=2)
    records = harness.run_protocol(protocol, models, seeds=[0], train_sizes=[20], bench=bench)
    assert {r.model: r.threads for r in records} == {"gnnnas": 2, "random-forest": 1}
    json_path, md_path = harness.write_results(tmp_path / "p201", protocol, records, models)
    import json

    summary = json.loads(json_path.read_text())["summary"]
    assert {s["model"]: s["threads"] for s in summary} == {"gnnnas": 2, "random-forest": 1}
    assert "| CPU threads |" in md_path.read_text()


def test_zero_finetune_evaluator_runs_with_its_threads(seen_threads):
    from gnnnas.evaluator import ZeroFinetuneEvaluator

    seen, before, other = seen_threads
    evaluator = ZeroFinetuneEvaluator(space="nb201", steps=1, pool_size=4, num_threads=other, device="cpu").fit()
    evaluator.score_archs(_archs(3)[1])
    assert seen and set(seen) == {other}
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="num_threads"):
        ZeroFinetuneEvaluator(space="nb201", steps=1, pool_size=4, num_threads=0).fit()


_FIT_SCRIPT = """
import sys, numpy as np, torch, gnnnas
torch.set_num_threads(int(sys.argv[1]))  # the process's own setting, as OMP_NUM_THREADS would make it
out = []
for name in ("nb201", "darts"):
    space = gnnnas.get_space(name)
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(32)]
    predictor = gnnnas.Predictor(space=name, seed=0, epochs=3, device="cpu").fit(archs, rng.normal(size=32))
    out.append(predictor.predict(archs))
np.save(sys.argv[2], np.concatenate(out))
"""


def test_seeded_fit_is_bit_identical_with_one_or_two_process_threads(tmp_path):
    """Fresh processes with 1 and 2 torch threads (and OMP_NUM_THREADS to match) fit the same seed
    to the same predictions, bit for bit: fit and predict run with the predictor's num_threads.
    DARTS at the default width is where it matters: with 2 threads torch's weight-gradient
    reductions over its large graphs sum in another order (measured: predictions differ by up
    to 0.007 after 20 epochs when the predictor does not pin its threads)."""
    import os
    import subprocess
    import sys

    script = tmp_path / "fit.py"
    script.write_text(_FIT_SCRIPT)
    results = []
    for threads in (1, 2):
        out = tmp_path / f"threads{threads}.npy"
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        subprocess.run([sys.executable, str(script), str(threads), str(out)], check=True, env=env, timeout=600)
        results.append(np.load(out))
    assert results[0].shape == (64,) and np.isfinite(results[0]).all()
    np.testing.assert_array_equal(results[0], results[1])
