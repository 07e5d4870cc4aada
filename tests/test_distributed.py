"""Data-parallel fits (gnnnas.distributed): 2 CPU processes on gloo equal one process.

The fits run under torchrun (``python -m torch.distributed.run --standalone``, localhost only)
and compare with the same fit in one process on the same global batch.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import gnnnas
from gnnnas import distributed

pytestmark = pytest.mark.xdist_group("multiprocess")  # one worker runs the multi-process tests

WORKER = textwrap.dedent("""
    import json, sys, warnings
    import numpy as np, torch, gnnnas
    from scipy import stats
    from gnnnas import distributed

    space, out = sys.argv[1], sys.argv[2]

    class SGD(torch.optim.SGD):  # see test_data_parallel_fit_equals_one_process
        def __init__(self, params, lr, weight_decay):
            super().__init__(params, lr=lr, weight_decay=weight_decay)

    ADAMW = torch.optim.AdamW

    class Shrinking(ADAMW):  # shrinks the weights after epoch 40: the fit gives back what it learned
        def step(self, closure=None):
            out = super().step(closure)
            self.steps = getattr(self, "steps", 0) + 1
            if 120 < self.steps <= 132:  # 3 steps per epoch: epoch 41 to 44
                with torch.no_grad():
                    for group in self.param_groups:
                        for weight in group["params"]:
                            weight.mul_(0.85)
            return out

    torch.optim.AdamW = SGD
    started = distributed.init_from_env("cpu")
    rng = np.random.default_rng(0)
    sp = gnnnas.get_space(space)
    archs = [sp.sample(rng) for _ in range(40)]
    y = rng.normal(size=40) + np.array([a.num_parametric_ops for a in archs])
    # 30 labels train: batches of 13, 13, 4 (shards 7/6, 7/6, 2/2); validation every 10 epochs
    pred = gnnnas.Predictor(space=space, epochs=30, dropout=0.0, batch_size=13, lr=0.05, seed=3,
                            validation_fraction=0.25, early_stopping_patience=1, hidden_dim=16, num_layers=2,
                            data_parallel=True)
    pred.fit(archs, y)
    rank, size = distributed.world()
    states = {"fit": pred.models_[0].state_dict()}
    restore = None
    if space == "nb201":  # the steps that run several networks: the hypernetwork task, pre-training
        # one drawn arch per step: rank 1's share of it is empty; the ranking head also orders the
        # drawn archs by their proxy loss; two members
        hyper = gnnnas.Predictor(space=space, epochs=12, dropout=0.0, batch_size=13, lr=0.05, seed=3,
                                 validation_fraction=0.0, hidden_dim=16, num_layers=2, hypernetwork=True,
                                 hyper_archs=1, hyper_images=8, hyper_every=2, unlabelled_archs=6,
                                 proxy_rank_weight=0.5, n_members=2, data_parallel=True).fit(archs, y)
        states["hypernetwork"] = hyper.models_[0].state_dict()
        states["hypernetwork, member 2"] = hyper.models_[1].state_dict()
        # pre-training inside fit: batches of 13 archs (the last of 1 skipped), masks and image
        # draws over the whole batch, 5 drawn archs split 3/2; then the fine-tuning
        pre = gnnnas.Predictor(space=space, pretrain="costs+masked+hypernetwork", pretrain_epochs=4,
                               pretrain_batch_size=13, epochs=5, batch_size=13, lr=0.05, seed=3, dropout=0.0,
                               hidden_dim=16, num_layers=2, hyper_archs=5, hyper_images=8,
                               data_parallel=True).fit(archs, y, unlabelled=archs)
        states["pretrain"] = pre.pretrained_encoder_.state
        states["pretrain, then fit"] = pre.models_[0].state_dict()
        # zero_cost: rank 0 computes the probe scores into the (empty) cache, rank 1 reads them
        probed = gnnnas.Predictor(space=space, pretrain="zero_cost", pretrain_epochs=2, pretrain_batch_size=4,
                                  lr=0.05, seed=3, dropout=0.0, hidden_dim=16, num_layers=2,
                                  data_parallel=True).pretrain_only(unlabelled=archs[:8])
        states["zero_cost"] = probed.pretrained_encoder_.state
        # a fit that learns, then gives back what it learned: every rank restores the same epoch,
        # rank 0's decision (rank 1's own judgement is switched off: it must follow rank 0)
        torch.optim.AdamW = Shrinking
        if distributed.world()[0] == 1:
            gnnnas.predictor.gave_back_most = lambda *losses: False
        toy = [sp.sample(rng) for _ in range(24)]
        toy_y = np.array([a.ops.count("nor_conv_3x3") for a in toy], float) + rng.normal(size=24) * 0.1
        gave = gnnnas.Predictor(space=space, epochs=60, lr=0.03, batch_size=8, seed=0, hidden_dim=16, num_layers=2,
                                dropout=0.0, pretrained=None, data_parallel=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            gave.fit(toy, toy_y)
        torch.optim.AdamW = SGD
        restore = {"restored": gave.restored_, "warned": [str(w.message) for w in caught if "gave back" in str(w.message)],
                   "state": {k: v.tolist() for k, v in gave.models_[0].state_dict().items()},
                   "scores": gave.predict(toy).tolist(),
                   "train_tau": float(stats.kendalltau(gave.predict(toy), toy_y).statistic)}
    refused = []
    bad_y = y.copy()
    bad_y[0] = np.nan
    fit = lambda p, d: p.fit(*d)  # noqa: E731
    attempts = [(fit, {"seed": None}, (archs, y)),
                (fit, {}, (archs[: 20 + rank], y[: 20 + rank])),  # rank 1 holds other data
                (lambda p, d: p.pretrain_only(d), {"pretrain": "costs", "seed": None}, archs),
                (lambda p, d: p.pretrain_only(d), {"pretrain": "costs", "pretrain_epochs": 1}, archs[: 20 + rank]),
                (fit, {}, (archs, bad_y if rank == 1 else y)),  # only rank 1's input is invalid
                (lambda p, d: p.pretrain_only(d), {"pretrain": "costs"}, archs[: 1 if rank == 1 else 20]),
                (lambda p, d: p.fit(*d[:2], unlabelled=d[2]), {"hypernetwork": True, "hyper_archs": 2, "hyper_images": 4},
                 (archs, y, archs[:10] if rank == 0 else archs[10:20])),  # other unlabelled archs on rank 1
                (fit, {"seed": 3 + rank}, (archs, y)),  # the usual seed=rank habit: another fit per rank
                (lambda p, d: p.pretrain_only(d), {"pretrain": "costs", "pretrain_epochs": 1 + rank}, archs)]
    for call, params, data in attempts:
        try:
            call(gnnnas.Predictor(space=space, epochs=1, data_parallel=True, **params), data)
            refused.append(None)
        except (ValueError, RuntimeError) as error:
            refused.append(f"{type(error).__name__}: {error}")
    try:  # rank 0 fails inside main_process_first: it still releases rank 1 (no hang)
        with distributed.main_process_first():
            if rank == 0:
                raise KeyError("rank 0 fails first")
        refused.append(None)
    except KeyError as error:
        refused.append(f"KeyError: {error}")
    if rank == 0:  # without data_parallel a fit is not a collective: rank 0 fits alone
        gnnnas.Predictor(space=space, epochs=1).fit(archs, y)
    if started:
        torch.distributed.barrier()
    states = {name: {k: v.tolist() for k, v in state.items()} for name, state in states.items()}
    with open(f"{out}.{rank}.json", "w") as handle:
        json.dump({"size": size, "states": states, "epochs": len(pred.history_[0]), "refused": refused,
                   "restore": restore}, handle)
    if started:
        torch.distributed.destroy_process_group()
""")


def _torchrun(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", *args]
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600, check=False, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_data_parallel_fit_equals_one_process(space, tmp_path):
    """Same weights (to float tolerance) and same early-stopping epoch on 2 ranks as in 1 process:
    the ranking fit, and on NB201 also a fit with the hypernetwork task and a pre-training run with
    three pretexts (their steps run several networks inside one DDP forward), and one whose probe
    targets rank 0 computes into the cache for rank 1.

    The worker swaps AdamW for SGD: Adam divides each step by the gradient's running RMS, so for a
    parameter whose gradient is zero in exact arithmetic (the output bias: a pairwise ranking loss
    ignores a constant shift) it turns float noise of either run into steps of +-lr. With SGD the
    comparison is one of gradients, which is the claim: a step on 2 shards is the step on the batch.
    """
    import json

    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    caches = {run: tmp_path / f"cache-{run}" for run in ("single", "ddp")}  # each run starts with none
    subprocess.run([sys.executable, str(script), space, "single"], cwd=tmp_path, check=True, timeout=600,
                   capture_output=True, env=os.environ | {"GNNNAS_CACHE": str(caches["single"])})
    _torchrun(str(script), space, "ddp", cwd=tmp_path, env=os.environ | {"GNNNAS_CACHE": str(caches["ddp"])})
    single = json.loads((tmp_path / "single.0.json").read_text())
    ranks = [json.loads((tmp_path / f"ddp.{r}.json").read_text()) for r in (0, 1)]
    assert single["size"] == 1 and [r["size"] for r in ranks] == [2, 2]
    assert single["refused"] == [None] * 9 + ["KeyError: 'rank 0 fails first'"]  # data_parallel: no effect
    assert ranks[0]["refused"][9] == "KeyError: 'rank 0 fails first'" and ranks[1]["refused"][9] is None
    for rank in ranks:  # refused on every rank, so that no rank waits for the others
        assert "needs a seed=" in rank["refused"][0] and "needs a seed=" in rank["refused"][2]
        for attempt, what in ((1, "archs and labels"), (3, "pre-training pool (unlabelled archs)"),
                              (6, "archs, labels and unlabelled archs")):
            assert rank["refused"][attempt] == (f"ValueError: a data-parallel fit needs the same {what} on every "
                                                "rank; ranks [1] differ from rank 0")
    # one rank's invalid input: that rank raises its own error, the other stops with it
    assert ranks[1]["refused"][4].startswith("ValueError: labels must be finite")
    assert ranks[1]["refused"][5].startswith("ValueError: pre-training needs at least 2")
    for rank in ranks:  # other hyperparameters (seed, pre-training epochs) on rank 1
        for attempt in (7, 8):
            assert "the same hyperparameters (seed, epochs, batch size, ...) on every rank" in rank["refused"][attempt]
    for attempt in (4, 5):
        assert ranks[0]["refused"][attempt] == ("RuntimeError: ranks [1] of this data-parallel run failed (see their "
                                                "errors); this rank stops too, so that none waits for them")
    # early stopping: every rank stops where the single process does (patience 1 stops at epoch 20
    # or runs on; either way the same)
    assert ranks[0]["epochs"] == ranks[1]["epochs"] == single["epochs"]
    assert sorted(single["states"]) == (["fit", "hypernetwork", "hypernetwork, member 2", "pretrain",
                                         "pretrain, then fit", "zero_cost"] if space == "nb201" else ["fit"])
    if space == "nb201":  # one probe cache, written once, the same as the one process's
        written = {run: sorted(p.relative_to(cache) for p in cache.rglob("*") if p.is_file())
                   for run, cache in caches.items()}
        assert written["ddp"] == written["single"] and written["ddp"]
    if space == "nb201":  # the gave-back guard: one decision, taken on rank 0's losses, on every rank
        restores = [run["restore"] for run in (single, *ranks)]
        for run in restores:
            (member,) = run["restored"]
            assert member["reason"] == "gave_back" and 3 <= member["epoch"] <= 40
            assert len(run["warned"]) == 1 and f"restored the weights of epoch {member['epoch']}." in run["warned"][0]
            assert run["train_tau"] > 0.6  # it ranks what it learned before the shrinking
        # both ranks restore the same epoch and hold the very same weights (rank 1 although its own
        # judgement is off); the epoch may differ from the 1-process fit's: AdamW (kept here: SGD
        # never learns enough to be judged) turns float noise into steps of +-lr, so the two
        # trajectories part after some epochs
        assert restores[1]["restored"] == restores[2]["restored"]
        assert restores[1]["state"] == restores[2]["state"] and restores[1]["scores"] == restores[2]["scores"]
    for name, state in single["states"].items():
        for key, value in state.items():
            expected = np.asarray(value)
            for rank in ranks:
                np.testing.assert_allclose(np.asarray(rank["states"][name][key]), expected, rtol=1e-4, atol=1e-5,
                                           err_msg=f"{name}: {key}")
            # and the ranks hold the very same weights
            np.testing.assert_array_equal(np.asarray(ranks[0]["states"][name][key]),
                                          np.asarray(ranks[1]["states"][name][key]))


def test_torchrun_train_writes_one_checkpoint_from_rank_zero(tmp_path):
    """`torchrun -m gnnnas train`: the real optimiser, one file, ranks of the 1-process fit."""
    common = ["train", "--train-size", "60", "--epochs", "4", "--dropout", "0", "--batch-size", "20",
              "--hidden-dim", "32", "--out"]
    (tmp_path / "ddp").mkdir()
    done = _torchrun("-m", "gnnnas", *common, "model.gnnnas", "--quiet", cwd=tmp_path / "ddp")
    assert sorted(p.name for p in (tmp_path / "ddp").iterdir()) == ["model.gnnnas"]  # no file of rank 1
    assert done.stdout.count("trained on 60 nb201 archs on 2 ranks (DistributedDataParallel)") == 1
    single = subprocess.run([sys.executable, "-m", "gnnnas", *common, str(tmp_path / "single.gnnnas"), "--quiet"],
                            capture_output=True, text=True, timeout=600, check=False)
    assert single.returncode == 0, single.stderr
    bench = gnnnas.get_space("nb201")
    rng = np.random.default_rng(1)
    archs = [bench.sample(rng) for _ in range(300)]
    a = gnnnas.Predictor.load(tmp_path / "ddp" / "model.gnnnas").predict(archs)
    b = gnnnas.Predictor.load(tmp_path / "single.gnnnas").predict(archs)
    assert gnnnas.metrics.kendall_tau(a, b) > 0.99


def test_cuda_without_enough_gpus_is_a_clear_error(monkeypatch):
    """torchrun with --device cuda on a node with fewer GPUs than processes: a ValueError naming
    the device and the counts, before any process group is made."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with pytest.raises(ValueError, match=r"device 'cuda:1' with 2 processes on this node needs as many GPUs .*found 1"):
        distributed.init_from_env("cuda:1")
    assert not torch.distributed.is_initialized()


def test_one_process_helpers_are_the_identity():
    """Outside a process group: rank 0 of 1, the shard is the batch, gathering returns it."""
    assert distributed.world() == (0, 1) and distributed.is_main_process()
    assert distributed.init_from_env() is None  # WORLD_SIZE unset
    idx = torch.arange(7)
    run, kept, sizes = distributed.shard(idx)
    assert torch.equal(run, idx) and kept == 7 and sizes == [7]
    scores = torch.randn(7, requires_grad=True)
    assert distributed.gather_rows(scores, sizes) is scores
    assert distributed.all_ranks_agree(True) is True
    distributed.check_same_data(b"anything")  # nothing to compare with
    assert distributed.rank_device(torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(ValueError, match="would put every rank on one GPU"):
        distributed.rank_device(torch.device("cuda", 1))


def test_torchrun_pretrain_writes_one_encoder_from_rank_zero(tmp_path):
    """`torchrun -m gnnnas pretrain`: one encoder file from rank 0, a record of the ranks, and the
    loss curve of the 1-process run (AdamW: the weights themselves drift, see the test above)."""
    from gnnnas.nn.checkpoint import load_encoder

    common = ["pretrain", "--space", "nb201", "--pretext", "costs+masked", "--archs", "120", "--epochs", "3",
              "--batch-size", "24", "--hidden-dim", "16", "--num-layers", "2", "--quiet", "--out"]
    (tmp_path / "ddp").mkdir()
    done = _torchrun("-m", "gnnnas", *common, "encoder.safetensors", cwd=tmp_path / "ddp")
    assert sorted(p.name for p in (tmp_path / "ddp").iterdir()) == ["encoder.safetensors"]
    assert done.stdout.count("on 2 ranks (DistributedDataParallel)") == 1
    single = subprocess.run([sys.executable, "-m", "gnnnas", *common, str(tmp_path / "single.safetensors")],
                            capture_output=True, text=True, timeout=600, check=False)
    assert single.returncode == 0, single.stderr
    ddp, one = load_encoder(tmp_path / "ddp" / "encoder.safetensors"), load_encoder(tmp_path / "single.safetensors")
    assert ddp.pretrain["ranks"] == 2 and one.pretrain["ranks"] == 1
    first = [ddp.pretrain["history"][0][k] for k in ("costs", "masked")]
    assert first == pytest.approx([one.pretrain["history"][0][k] for k in ("costs", "masked")], rel=1e-3)
    assert ddp.pretrain["history"][-1]["loss"] == pytest.approx(one.pretrain["history"][-1]["loss"], rel=0.05)
    rng = np.random.default_rng(2)
    archs = [gnnnas.get_space("nb201").sample(rng) for _ in range(200)]
    y = np.array([a.num_parametric_ops for a in archs], dtype=float) + rng.normal(size=200)
    fitted = gnnnas.Predictor("nb201", pretrained=tmp_path / "ddp" / "encoder.safetensors", hidden_dim=16,
                              num_layers=2, epochs=2, seed=0).fit(archs[:50], y[:50])
    assert np.isfinite(fitted.predict(archs[50:])).all()
