"""gnnnas.scaleout: benchmark tasks as Ray tasks give the local backend's records."""

import numpy as np
import pytest

from gnnnas import harness
from gnnnas.protocols import get_protocol

pytestmark = pytest.mark.xdist_group("multiprocess")  # one local Ray at a time, beside the torchrun tests


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray", reason='the ray backend needs Ray: pip install "gnnnas[ray]"')
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield ray
    ray.shutdown()


def tiny_setup():
    protocol = get_protocol("PVIT")  # 200 archs: small tasks, the backend is what is tested
    bench = protocol.load()
    models = harness.default_models(["gnnnas", "random-forest"], epochs=2)
    return protocol, bench, models


def test_ray_backend_gives_the_local_records_in_the_local_order(ray_cluster):
    protocol, bench, models = tiny_setup()
    kw = {"seeds": [0, 1], "train_sizes": [20], "bench": bench}
    local = harness.run_protocol(protocol, models, **kw)
    streamed = []
    remote = harness.run_protocol(protocol, models, **kw, backend="ray", on_record=streamed.append)
    assert [(r.model, r.train_size, r.seed) for r in remote] == [(r.model, r.train_size, r.seed) for r in local]
    for a, b in zip(local, remote, strict=True):
        assert (a.kendall_tau, a.spearman, a.precision_at_5pct, a.test_size) == \
               (b.kendall_tau, b.spearman, b.precision_at_5pct, b.test_size)
    assert sorted((r.model, r.seed) for r in streamed) == sorted((r.model, r.seed) for r in local)
    # skip() leaves tasks out on Ray as locally (an interrupted sweep resumes)
    rest = harness.run_protocol(protocol, models, **kw, backend="ray", skip=lambda m, n, s: s == 0)
    assert [(r.model, r.seed) for r in rest] == [(r.model, r.seed) for r in local if r.seed == 1]


def test_a_failing_task_raises_its_own_error(ray_cluster):
    protocol, bench, _ = tiny_setup()

    def broken(space, seed):
        raise RuntimeError(f"model for seed {seed} cannot fit")

    with pytest.raises(RuntimeError, match="cannot fit"):
        harness.run_protocol(protocol, [harness.ModelSpec("broken", broken)], seeds=[0], train_sizes=[20],
                             bench=bench, backend="ray")


def test_unknown_backend_and_missing_ray(monkeypatch):
    protocol, bench, models = tiny_setup()
    with pytest.raises(ValueError, match="backend must be 'local' or 'ray', got 'dask'"):
        harness.run_protocol(protocol, models, seeds=[0], train_sizes=[20], bench=bench, backend="dask")
    import builtins

    real = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray":
            raise ImportError("No module named 'ray'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(ImportError, match=r'pip install "gnnnas\[ray\]"'):
        harness.run_protocol(protocol, models, seeds=[0], train_sizes=[20], bench=bench, backend="ray")
    assert np.isfinite(harness.run_protocol(protocol, models[1:], seeds=[0], train_sizes=[20], bench=bench)[0].kendall_tau)


def test_cli_bench_on_ray(ray_cluster, tmp_path, capsys):
    from gnnnas.cli import main

    out = tmp_path / "pvit.json"
    argv = ["bench", "--protocol", "PVIT", "--train-size", "20", "--seeds", "1", "--models", "random-forest",
            "--json", str(out), "-q"]
    assert main([*argv, "--backend", "ray"]) == 0
    remote = capsys.readouterr().out
    assert main(argv) == 0
    local = capsys.readouterr().out
    pick = lambda text: [line.split("(test")[0] for line in text.splitlines() if "tau=" in line]  # noqa: E731
    assert pick(remote) == pick(local) and len(pick(local)) == 1
    assert out.exists()


def test_cli_search_runs_on_ray_equal_local_runs(ray_cluster, tmp_path, capsys):
    """--runs 2: two seeded searches; on Ray each is a task, and the queries are the local ones."""
    import json

    from gnnnas.cli import main

    docs = {}
    for backend in ("local", "ray"):
        out = tmp_path / f"{backend}.json"
        argv = ["search", "--method", "rea", "--budget", "30", "--runs", "2", "--seed", "3", "--json", str(out),
                "--backend", backend, "-q"]
        assert main(argv) == 0
        assert "2 runs: maximum reached in" in capsys.readouterr().out
        docs[backend] = json.loads(out.read_text())
    assert [r["seed"] for r in docs["ray"]["runs_detail"]] == [3, 4]
    assert [r["archs"] for r in docs["ray"]["runs_detail"]] == [r["archs"] for r in docs["local"]["runs_detail"]]
    assert docs["ray"]["median_queries_to_max"] == docs["local"]["median_queries_to_max"]
