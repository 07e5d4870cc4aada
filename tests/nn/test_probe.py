"""Architectures at initialisation: flow targets and zero-cost proxies, and their disk cache."""

import json

import numpy as np
import pytest
import torch
from scipy.stats import kendalltau

import gnnnas
from gnnnas.data.proxy import load_proxy
from gnnnas.nn import probe
from gnnnas.nn.executors import get_executor
from gnnnas.nn.featurize import GraphFeaturizer
from gnnnas.nn.probe import FLOW_NAMES, ZERO_COST_NAMES, cached_probe_scores, probe_scores

NB201_OPS = ["skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3"]


def setup(space_name="nb201", n=12, images=16):
    space = gnnnas.get_space(space_name)
    proxy = load_proxy("digits", seed=0)
    executor = get_executor(space_name, space.vocab, proxy.in_channels, proxy.num_classes, width=4)
    archs = [space.sample(np.random.default_rng(i)) for i in range(n)]
    dim = 0 if archs[0].node_features is None else archs[0].node_features.shape[1]
    featurizer = GraphFeaturizer(space.vocab, node_feature_dim=dim).fit(archs)
    return space, proxy, executor, archs, featurizer, proxy.train_x[:images], proxy.train_y[:images]


@pytest.mark.parametrize("space_name", ["nb201", "nb101", "darts", "vit", "macro"])
def test_scores_do_not_depend_on_the_company(space_name):
    """Property: an architecture's scores are the same alone, in any batch and any chunk."""
    _, _, executor, archs, featurizer, x, y = setup(space_name, n=4, images=8)
    together = probe_scores(executor, featurizer.transform(archs), x, y, seed=3, archs_per_chunk=3)
    assert set(together) == set(FLOW_NAMES + ZERO_COST_NAMES)
    alone = probe_scores(executor, featurizer.transform([archs[3]]), x, y, seed=3)
    for name in together:
        assert alone[name][0] == pytest.approx(together[name][3], rel=1e-4, abs=1e-5), name
    assert all(np.isfinite(v).all() for v in together.values())
    if space_name == "nb201":
        other_seed = probe_scores(executor, featurizer.transform(archs), x, y, seed=4)
        assert not np.allclose(other_seed["grad_norm"], together["grad_norm"])
        with pytest.raises(ValueError, match="archs_per_chunk must be >= 1, got 0"):
            probe_scores(executor, featurizer.transform(archs), x, y, archs_per_chunk=0)
        with pytest.raises(TypeError):
            probe_scores(executor, featurizer.transform(archs), x, y, archs_per_chunk=2.5)


def test_equal_computations_score_equal():
    space = gnnnas.get_space("nb201")
    a = space.parse("|nor_conv_3x3~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|")
    b = space.parse("|avg_pool_3x3~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|")
    c = space.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|")
    _, _, executor, _, _, x, y = setup()
    featurizer = GraphFeaturizer(space.vocab).fit([a, b, c])
    scores = probe_scores(executor, featurizer.transform([a, b, c]), x, y)
    for name, values in scores.items():
        assert values[0] == pytest.approx(values[1], rel=1e-5), name
    assert scores["grad_norm"][2] != pytest.approx(scores["grad_norm"][0])  # more convolutions, more gradient


@pytest.mark.parametrize("cut", ["|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
                                 "|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|none~0|none~1|none~2|",
                                 "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|none~2|"])
def test_an_architecture_that_ignores_its_input_scores_alone_as_in_company(cut):
    """Property (the company rule, for outputs that do not read the input): a cell with a none on
    every path to its output scores the same alone, in a chunk of its kind and beside cells that
    read their input (a chunk of such cells alone once raised in the input Jacobian)."""
    space = gnnnas.get_space("nb201")
    _, _, executor, archs, _, x, y = setup(n=2)
    cell = space.parse(cut)
    featurizer = GraphFeaturizer(space.vocab).fit([cell, *archs])
    alone = probe_scores(executor, featurizer.transform([cell]), x, y)
    twins = probe_scores(executor, featurizer.transform([cell, cell]), x, y)
    company = probe_scores(executor, featurizer.transform([archs[0], cell, archs[1]]), x, y)
    for name in alone:
        assert np.isfinite(alone[name]).all(), name
        assert twins[name] == pytest.approx([alone[name][0]] * 2, rel=1e-5, abs=1e-8), name
        assert company[name][1] == pytest.approx(alone[name][0], rel=1e-5, abs=1e-8), name


def test_cache_computes_each_architecture_once(tmp_path, monkeypatch):
    space, proxy, _, archs, featurizer, _, _ = setup(n=10)
    calls = []
    real = probe.probe_scores
    monkeypatch.setattr(probe, "probe_scores", lambda ex, batch, *a, **k: calls.append(len(batch)) or real(ex, batch, *a, **k))
    first = cached_probe_scores(space, archs[:6], featurizer, proxy, width=4, images=16, cache_dir=tmp_path)
    again = cached_probe_scores(space, archs[:6], featurizer, proxy, width=4, images=16, cache_dir=tmp_path)
    more = cached_probe_scores(space, archs, featurizer, proxy, width=4, images=16, cache_dir=tmp_path)
    assert calls == [6, 4]
    for name in first:
        assert np.array_equal(first[name], again[name])
        np.testing.assert_allclose(more[name][:6], first[name], rtol=1e-6)
    files = sorted((tmp_path / "probes").iterdir())  # the cache and its lock file, no temporary
    assert [f.name.startswith("nb201-w4-s0-") for f in files] == [True, True]
    assert files[0].suffix == ".npz" and files[1].name == files[0].name + ".lock"
    with pytest.raises(ValueError, match="zero_cost and flow probes run each architecture.s network"):
        graph = gnnnas.get_space("nasbench_graph")
        cached_probe_scores(graph, [graph.sample(0)], GraphFeaturizer(graph.vocab), proxy, cache_dir=tmp_path)


def test_pretrain_on_probe_targets(tmp_path, monkeypatch):
    monkeypatch.setenv("GNNNAS_CACHE", str(tmp_path))
    space = gnnnas.get_space("darts")
    archs = [space.sample(np.random.default_rng(i)) for i in range(12)]
    predictor = gnnnas.Predictor(space="darts", pretrain="zero_cost+flow", pretrain_archs=24, pretrain_epochs=2,
                                 hyper_width=4, epochs=1, hidden_dim=16, num_layers=1)
    predictor.fit(archs, np.arange(12.0))
    assert set(predictor.pretrained_encoder_.pretrain["history"][-1]) == {"epoch", "loss", "zero_cost", "flow"}
    assert len(list((tmp_path / "probes").glob("darts-w4-s0-*.npz"))) == 1


def test_our_proxies_rank_like_naslibs(data_root):
    """On NASLib's NB201 cells, our grad_norm, snip, synflow and jacov order the cells like
    NASLib's published scores (CIFAR-10, their zc_nasbench201.json). Ours run 8-channel networks
    on 8x8 digits, theirs the full NB201 network on CIFAR-10, so agreement is partial except for
    synflow, which needs no data (benchmarks/results/zero_cost_agreement.md has all 725 cells;
    here the first 150 with every proxy, 32 images: measured .59 / .60 / .92 / .56)."""
    root = data_root("nb201/nb201_725_zero_cost.json")
    table = json.loads((root / "nb201/nb201_725_zero_cost.json").read_text())["cifar10"]
    space = gnnnas.get_space("nb201")
    archs, theirs = [], {n: [] for n in ZERO_COST_NAMES}
    for key, row in list(table.items())[:150]:
        if not all(n in row for n in ZERO_COST_NAMES):  # one of NASLib's rows lacks some proxies
            continue
        ops = [NB201_OPS[int(t)] for t in key.strip("()").split(",")]
        e = dict(zip([(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)], ops, strict=True))
        archs.append(space.parse(f"|{e[0, 1]}~0|+|{e[0, 2]}~0|{e[1, 2]}~1|+|{e[0, 3]}~0|{e[1, 3]}~1|{e[2, 3]}~2|"))
        for n in ZERO_COST_NAMES:
            theirs[n].append(row[n]["score"])
    proxy = load_proxy("digits", seed=0)
    torch.manual_seed(0)
    executor = get_executor("nb201", space.vocab, proxy.in_channels, proxy.num_classes, width=8)
    featurizer = GraphFeaturizer(space.vocab).fit(archs)
    ours = probe_scores(executor, featurizer.transform(archs), proxy.train_x[:32], proxy.train_y[:32])
    for n in ZERO_COST_NAMES:
        assert kendalltau(ours[n], theirs[n]).statistic > (0.8 if n == "synflow" else 0.4), n


def test_cache_is_reproducible_and_keyed_by_what_shapes_the_scores(tmp_path, monkeypatch):
    """The scores do not depend on the global RNG, the predictor's pruning or the cache's history;
    other probe images get another file; an explicit cache_dir wins over $GNNNAS_CACHE; an
    unreadable file is recomputed."""
    monkeypatch.setenv("GNNNAS_CACHE", str(tmp_path / "env"))
    space, proxy, _, archs, featurizer, _, _ = setup(n=5)
    torch.manual_seed(1)
    a = cached_probe_scores(space, archs, featurizer, proxy, width=4, images=16, cache_dir=tmp_path / "a")
    torch.manual_seed(2)
    raw = GraphFeaturizer(space.vocab, prune=False, contract_identities=False).fit(archs)
    b = cached_probe_scores(space, archs, raw, proxy, width=4, images=16, cache_dir=tmp_path / "b")
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-5)
    assert not (tmp_path / "env").exists()
    other = gnnnas.data.proxy.load_proxy((np.random.default_rng(0).random((40, 1, 8, 8)), np.arange(40) % 10))
    cached_probe_scores(space, archs, featurizer, other, width=4, images=16, cache_dir=tmp_path / "a")
    assert len(list((tmp_path / "a" / "probes").glob("*.npz"))) == 2
    (path,) = (tmp_path / "b" / "probes").glob("*.npz")
    path.write_bytes(b"not a zip file")
    with pytest.warns(UserWarning, match="unreadable"):
        c = cached_probe_scores(space, archs, featurizer, proxy, width=4, images=16, cache_dir=tmp_path / "b")
    np.testing.assert_allclose(c["snip"], a["snip"], rtol=1e-5)
    with pytest.raises(ValueError, match="images must be in"):
        cached_probe_scores(space, archs, featurizer, proxy, width=4, images=10**6, cache_dir=tmp_path / "a")


def test_jacov_and_synflow_by_hand():
    """jacov from its definition on tiny Jacobians; synflow sees no batch norm and |weights|."""
    from gnnnas.nn.executors.base import arch_batch_norm, image_batch_norm, probing

    jac = torch.tensor([[[1.0, 2.0, 3.0], [3.0, 1.0, 2.0]], [[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]]])
    corr = [np.corrcoef(j.numpy()) for j in jac]
    expected = [-np.sum(np.log(v + 1e-5) + 1 / (v + 1e-5)) for v in (np.linalg.eigvalsh(c).clip(0) for c in corr)]
    np.testing.assert_allclose(probe._jacov(jac).numpy(), expected, rtol=1e-6)
    assert probe._jacov(jac)[0] > probe._jacov(jac)[1]  # decorrelated Jacobians score higher
    x = torch.randn(4, 2, 3, 5, 5) * 3 + 1
    with probing(batch_norm=False):
        assert torch.equal(arch_batch_norm(x), x) and torch.equal(image_batch_norm(x[:, 0]), x[:, 0])
    assert arch_batch_norm(x).mean().abs() < 1e-5  # outside the block batch norm is back
    assert probe.PROBE_VERSION == 4  # synflow and jacov joined the cached scores


def test_jacov_uses_each_architectures_own_input_jacobian():
    """Two archs in one batch get the Jacobian of their own network: an arch whose output
    ignores its input (all ops 'none') correlates nothing, and its company does not change that."""
    space = gnnnas.get_space("nb201")
    dead = space.parse("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    live = space.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|nor_conv_1x1~2|")
    _, _, executor, _, _, x, y = setup(images=8)
    featurizer = GraphFeaturizer(space.vocab).fit([dead, live])
    both = probe_scores(executor, featurizer.transform([dead, live]), x, y)
    alone = probe_scores(executor, featurizer.transform([live]), x, y)
    assert both["jacov"][1] == pytest.approx(alone["jacov"][0], rel=1e-6)
    assert both["jacov"][0] < both["jacov"][1]
    assert both["synflow"][0] < both["synflow"][1]


def test_synflow_sums_absolute_products_on_vit():
    """ViT's LayerNorm, GELU and softmax make some weight * gradient products negative: synflow
    sums their absolute values (NASLib), so no architecture with weights scores 0."""
    _, _, executor, archs, featurizer, x, y = setup("vit", n=8, images=4)
    scores = probe_scores(executor, featurizer.transform(archs), x, y)
    assert (scores["synflow"] > 0).all()


def test_an_executor_without_arch_input_is_named(monkeypatch):
    from gnnnas.nn.executors import cells

    monkeypatch.setattr(cells, "arch_input", lambda x, arch_dim: x)
    _, _, executor, archs, featurizer, x, y = setup(n=2, images=4)
    with pytest.raises(ValueError, match="must mark the input of the architectures' own part once"):
        probe_scores(executor, featurizer.transform(archs), x, y)


@pytest.mark.parametrize("first, second", [(range(4), range(4, 8)), (range(5), range(3, 8)), (range(8), range(2, 5))])
def test_writers_of_one_cache_file_keep_each_others_rows(tmp_path, monkeypatch, first, second):
    """Property: whatever two writers of one cache file computed is in it afterwards, whichever
    finishes first (benchmark seeds side by side share the file). Here the second writer runs
    and writes while the first is computing, as another process would."""
    space, proxy, _, archs, featurizer, _, _ = setup(n=8)
    real = probe.probe_scores
    calls = []

    def probe_scores(executor, batch, *args, **kwargs):
        calls.append(len(batch))
        if len(calls) == 1:  # the first writer, mid-computation: the other one runs to its end
            cached_probe_scores(space, [archs[i] for i in second], featurizer, proxy, width=4, images=16,
                                cache_dir=tmp_path)
        return real(executor, batch, *args, **kwargs)

    monkeypatch.setattr(probe, "probe_scores", probe_scores)
    cached_probe_scores(space, [archs[i] for i in first], featurizer, proxy, width=4, images=16, cache_dir=tmp_path)
    assert calls == [len(first), len(second)]
    cached_probe_scores(space, archs, featurizer, proxy, width=4, images=16, cache_dir=tmp_path)
    assert calls == [len(first), len(second)]  # together they covered all 8: nothing computed again
    (path,) = [p for p in (tmp_path / "probes").iterdir() if p.suffix == ".npz"]
    with np.load(path) as stored:
        assert len(stored["identity"]) == len({space.identity(a) for a in archs})


def test_a_cache_that_cannot_be_written_still_gives_the_scores(tmp_path, monkeypatch):
    """A busy lock or an unwritable folder costs the cache, never the computed scores."""
    from filelock import FileLock

    space, proxy, _, archs, featurizer, _, _ = setup(n=3)
    reference = cached_probe_scores(space, archs, featurizer, proxy, width=4, images=16, cache_dir=tmp_path / "a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "probes").write_text("a file where the cache folder should be")
    with pytest.warns(UserWarning, match="cannot be written.*3 computed rows were not cached"):
        unwritable = cached_probe_scores(space, archs, featurizer, proxy, width=4, images=16, cache_dir=tmp_path / "b")
    monkeypatch.setattr(probe, "CACHE_LOCK_TIMEOUT", 0.05)
    (path,) = (tmp_path / "a" / "probes").glob("*.npz")
    fresh = tmp_path / "c" / "probes"
    fresh.mkdir(parents=True)
    # another process is rewriting the file
    with FileLock(str(fresh / (path.name + ".lock"))), pytest.warns(UserWarning, match="lock stayed busy"):
        busy = cached_probe_scores(space, archs, featurizer, proxy, width=4, images=16, cache_dir=tmp_path / "c")
    assert not list(fresh.glob("*.npz"))
    for name in reference:
        np.testing.assert_allclose(unwritable[name], reference[name], rtol=1e-6)
        np.testing.assert_allclose(busy[name], reference[name], rtol=1e-6)


@pytest.mark.skipif(not hasattr(__import__("os"), "umask") or __import__("sys").platform == "win32",
                    reason="POSIX permissions")
def test_the_cache_and_its_lock_are_group_writable_under_a_group_umask(tmp_path):
    """As every file gnnnas writes: 0666 less the umask, so that a cache folder shared by a
    group stays writable for all of it (filelock's own default, 0644, shut the others out)."""
    import os
    import stat

    space, proxy, _, archs, featurizer, _, _ = setup(n=2)
    old = os.umask(0o002)
    try:
        cached_probe_scores(space, archs, featurizer, proxy, width=4, images=16, cache_dir=tmp_path)
    finally:
        os.umask(old)
    modes = {p.suffix: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "probes").iterdir()}
    assert modes == {".npz": 0o664, ".lock": 0o664}


@pytest.mark.skipif(__import__("sys").platform == "win32", reason="symbolic links")
def test_a_planted_cache_lock_symlink_costs_the_cache_not_the_scores_nor_its_target(tmp_path):
    """The probe cache shares the data directory's lock rule (gnnnas.files.file_lock): a lock path
    that is a symbolic link is refused, with a warning, and what it points to is left alone."""
    space, proxy, _, archs, featurizer, _, _ = setup(n=2)
    reference = cached_probe_scores(space, archs, featurizer, proxy, width=4, images=16, cache_dir=tmp_path / "a")
    (path,) = (tmp_path / "a" / "probes").glob("*.npz")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    victim.chmod(0o600)
    folder = tmp_path / "b" / "probes"
    folder.mkdir(parents=True)
    (folder / (path.name + ".lock")).symlink_to(victim)
    with pytest.warns(UserWarning, match="symbolic link or not a regular file"):
        scores = cached_probe_scores(space, archs, featurizer, proxy, width=4, images=16, cache_dir=tmp_path / "b")
    for name in reference:
        np.testing.assert_allclose(scores[name], reference[name], rtol=1e-6)
    assert victim.read_text() == "precious" and victim.stat().st_mode & 0o777 == 0o600
    assert not list(folder.glob("*.npz"))
