import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.base import clone

import gnnnas
from gnnnas.predictor import CheckpointError, Predictor, resolve_device

FAST = {"epochs": 3, "hidden_dim": 16, "num_layers": 2, "batch_size": 16}


@pytest.fixture(scope="module")
def nb201(data_root):
    root = data_root("nb201/nb201_test_acc_200ep.csv")
    return gnnnas.load_benchmark("nb201", data_dir=root)


@pytest.fixture(scope="module")
def toy():
    """60 sampled NB201 cells labelled by a known function (more live convs = better)."""
    space = gnnnas.get_space("nb201")
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(60)]
    y = np.array([a.prune().num_parametric_ops + 0.1 * a.macro["cell_depth"] for a in archs], dtype=float)
    y += rng.normal(0, 0.01, size=len(y))
    return archs, y


def test_estimator_contract(toy):
    archs, y = toy
    p = Predictor(**FAST)
    assert p.fit(archs, y) is p
    params = p.get_params()
    assert params["epochs"] == 3 and params["space"] == "nb201"
    c = clone(p)
    assert c.get_params() == params and not hasattr(c, "models_")
    p.set_params(epochs=4)
    assert p.epochs == 4
    pred = p.predict(archs[:10])
    assert isinstance(pred, np.ndarray) and pred.shape == (10,) and np.all(np.isfinite(pred))
    assert p.fit_seconds_ > 0 and len(p.history_) == 1


def test_native_encodings_are_accepted(toy):
    archs, y = toy
    space = gnnnas.get_space("nb201")
    p = Predictor(**FAST).fit([space.format(a) for a in archs], y)
    np.testing.assert_allclose(p.predict(archs[:5]), p.predict([space.format(a) for a in archs[:5]]))


def test_same_seed_same_predictions(toy):
    archs, y = toy
    a = Predictor(seed=3, **FAST).fit(archs, y).predict(archs)
    b = Predictor(seed=3, **FAST).fit(archs, y).predict(archs)
    c = Predictor(seed=4, **FAST).fit(archs, y).predict(archs)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_identical_graphs_get_identical_scores(toy):
    archs, y = toy
    space = gnnnas.get_space("nb201")
    p = Predictor(**FAST).fit(archs, y)
    # the second cell differs only by a dead op: same pruned graph, same score
    live = space.parse("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|nor_conv_3x3~1|none~2|")
    dead = space.parse("|nor_conv_3x3~0|+|avg_pool_3x3~0|none~1|+|none~0|nor_conv_3x3~1|none~2|")
    s = p.predict([live, dead])
    assert s[0] == s[1]


@pytest.mark.parametrize(
    "archs_y, match",
    [
        (lambda a, y: (a[:5], y[:4]), "5 archs but 4 labels"),
        (lambda a, y: (a[:5], np.r_[y[:4], np.nan]), "finite"),
        (lambda a, y: (a[:1], y[:1]), "at least 2"),
        (lambda a, y: (a[:5], np.ones(5)), "all labels are equal"),
        (lambda a, y: (["|bogus~0|"] + list(a[1:5]), y[:5]), "arch 0 is not a valid nb201 encoding"),
        (lambda a, y: ("|nor_conv_3x3~0|", y[:5]), "sequence"),
    ],
)
def test_bad_fit_inputs(toy, archs_y, match):
    archs, y = toy
    a, t = archs_y(archs, y)
    with pytest.raises(ValueError, match=match):
        Predictor(**FAST).fit(a, t)


def test_archs_of_another_space(toy):
    archs, y = toy
    darts = gnnnas.get_space("darts").sample(0)
    with pytest.raises(ValueError, match="belongs to space 'darts'"):
        Predictor(**FAST).fit([darts] + list(archs[1:5]), y[:5])
    p = Predictor(**FAST).fit(archs, y)
    with pytest.raises(ValueError, match="belongs to space 'darts'"):
        p.predict([darts])


def test_bad_params_and_unfitted(toy):
    archs, y = toy
    with pytest.raises(ValueError, match="label_transform"):
        Predictor(label_transform="log", **FAST).fit(archs, y)
    with pytest.raises(ValueError, match="unknown ranking loss 'l1'"):
        Predictor(loss="l1", **FAST).fit(archs, y)
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        Predictor(**{**FAST, "epochs": 0}).fit(archs, y)
    with pytest.raises(ValueError, match="needs validation_fraction"):
        Predictor(early_stopping_patience=2, **FAST).fit(archs, y)
    with pytest.raises(ValueError, match="not fitted"):
        Predictor().predict(archs)
    with pytest.raises(ValueError, match="bad device"):
        resolve_device("gpu9000")


def test_resolve_device_auto():
    assert resolve_device("auto").type in ("cpu", "cuda")
    assert resolve_device("cpu").type == "cpu"


def test_early_stopping_and_ensemble(toy):
    archs, y = toy
    p = Predictor(
        **{**FAST, "epochs": 40}, validation_fraction=0.25, early_stopping_patience=1, n_members=2
    ).fit(archs, y)
    assert len(p.models_) == 2
    assert any("val_tau" in r for r in p.history_[0])
    assert len(p.history_[0]) <= 40


def test_save_load_roundtrip(toy, tmp_path):
    archs, y = toy
    p = Predictor(n_members=2, **FAST).fit(archs, y)
    path = tmp_path / "model.gnnnas"
    p.save(path)
    q = Predictor.load(path)
    np.testing.assert_array_equal(p.predict(archs), q.predict(archs))
    assert q.get_params() == p.get_params()
    # no temporary files are left behind by the atomic write
    assert [f.name for f in tmp_path.iterdir()] == ["model.gnnnas"]


def test_bad_checkpoints(toy, tmp_path):
    archs, y = toy
    p = Predictor(**FAST).fit(archs, y)
    good = tmp_path / "good.gnnnas"
    p.save(good)
    blob = good.read_bytes()
    (tmp_path / "truncated.gnnnas").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(CheckpointError, match="not a readable gnnnas predictor checkpoint"):
        Predictor.load(tmp_path / "truncated.gnnnas")
    (tmp_path / "junk.gnnnas").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError):
        Predictor.load(tmp_path / "junk.gnnnas")
    with pytest.raises(CheckpointError, match="for space 'nb201', not 'darts'"):
        Predictor.load(good, space="darts")
    # a file written by a future checkpoint format
    future = blob.replace(b'"format_version":"4"', b'"format_version":"9"')
    assert future != blob
    (tmp_path / "future.gnnnas").write_bytes(future)
    with pytest.raises(CheckpointError, match="checkpoint format 9"):
        Predictor.load(tmp_path / "future.gnnnas")
    # a safetensors file that is not ours
    import torch
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(CheckpointError, match="not a gnnnas predictor checkpoint"):
        Predictor.load(tmp_path / "other.safetensors")
    with pytest.raises(FileNotFoundError):
        Predictor.load(tmp_path / "missing.gnnnas")


def test_small_real_fit_beats_constant(nb201):
    """100 labelled NB201 cells, a few epochs: clearly better than chance on 2,000 held-out cells."""
    perm = np.random.RandomState(0).permutation(len(nb201))
    train, test = perm[:100], perm[100:2100]
    p = Predictor(epochs=30, hidden_dim=32, num_layers=3, seed=0)
    p.fit([nb201.archs[i] for i in train], nb201.y[train])
    tau = p.score([nb201.archs[i] for i in test], nb201.y[test])
    # a constant predictor has tau 0 (undefined, treated as 0); random forests reach ~.5 here
    assert tau > 0.45


def test_node_features_are_standardised_and_saved(tmp_path):
    """ViT node features are widths in the hundreds: unscaled they killed every ReLU and the
    predictor returned one constant score (seen on PVIT)."""
    space = gnnnas.get_space("vit")
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(40)]
    y = np.array([a.macro["depth"] + 0.001 * a.macro["params"] / 1e6 for a in archs])
    p = Predictor(space="vit", epochs=20, hidden_dim=16, num_layers=2, seed=0).fit(archs, y)
    batch = p.featurizer_.transform(archs)
    assert float(batch.x.abs().max()) < 20
    scores = p.predict(archs)
    assert np.unique(scores).size > 10
    p.save(tmp_path / "vit.gnnnas")
    np.testing.assert_array_equal(Predictor.load(tmp_path / "vit.gnnnas").predict(archs), scores)


def test_return_std_shapes_and_single_member(toy):
    archs, y = toy
    p = Predictor(**FAST).fit(archs, y)
    mean, std = p.predict(archs[:7], return_std=True)
    np.testing.assert_array_equal(mean, p.predict(archs[:7]))
    assert std.shape == (7,) and np.all(std == 0)  # one member: no spread
    empty = p.predict([], return_std=True)
    assert isinstance(empty, tuple) and empty[0].shape == empty[1].shape == (0,)
    two = Predictor(n_members=2, **FAST).fit(archs, y)
    mean, std = two.predict(archs, return_std=True)
    raw = two._raw_scores(archs, 8192)
    np.testing.assert_allclose(std, raw.std(0) * two.y_std_)
    assert np.all(std >= 0) and np.any(std > 0)


def test_bootstrap_members_see_different_resamples(toy):
    archs, y = toy
    plain = Predictor(n_members=2, **FAST).fit(archs, y).predict(archs)
    bagged = Predictor(n_members=2, bootstrap=True, **FAST).fit(archs, y).predict(archs)
    again = Predictor(n_members=2, bootstrap=True, **FAST).fit(archs, y).predict(archs)
    np.testing.assert_array_equal(bagged, again)  # the resamples are seeded
    assert not np.array_equal(plain, bagged)
    with pytest.raises(ValueError, match="bootstrap must be True or False"):
        Predictor(bootstrap="yes", **FAST).fit(archs, y)


def test_ensemble_spread_is_larger_far_from_the_training_data():
    """A bagged ensemble fitted on cells with at most 2 convs disagrees more on all-conv cells."""
    import itertools

    space = gnnnas.get_space("nb201")
    rng = np.random.default_rng(0)
    train = []
    while len(train) < 30:
        a = space.sample(rng)
        if a.num_parametric_ops <= 2 and a not in train:
            train.append(a)
    y = np.array([a.prune().num_parametric_ops + 0.1 * a.macro["cell_depth"] for a in train])
    y += rng.normal(0, 0.05, size=len(y))
    far = [space.parse(list(ops)) for ops in itertools.product(["nor_conv_1x1", "nor_conv_3x3"], repeat=6)]
    p = Predictor(n_members=5, bootstrap=True, epochs=30, hidden_dim=16, num_layers=2, batch_size=16, seed=0)
    p.fit(train, y)
    _, std_train = p.predict(train, return_std=True)
    _, std_far = p.predict(far, return_std=True)
    # measured ratios 1.6-2.1 over seeds 0-4
    assert std_far.mean() > 1.3 * std_train.mean()


def test_save_load_keeps_bootstrap_and_spread(toy, tmp_path):
    archs, y = toy
    p = Predictor(n_members=2, bootstrap=True, **FAST).fit(archs, y)
    p.save(tmp_path / "bag.gnnnas")
    q = Predictor.load(tmp_path / "bag.gnnnas")
    assert q.bootstrap is True and q.get_params() == p.get_params()
    for a, b in zip(p.predict(archs, return_std=True), q.predict(archs, return_std=True)):
        np.testing.assert_array_equal(a, b)


losses = st.floats(0.0, 10.0, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(losses, losses, st.floats(0.01, 10.0), losses, st.floats(0.01, 100.0))
def test_gave_back_most_judges_only_fits_that_learned_and_lost_most_of_it(final, lowest, chance, later, scale):
    """The restoring guard's rule: a fit is judged when its lowest windowed loss is at least 20%
    below chance (it learned) and its last window is more than halfway back up to chance; it
    does not depend on the loss's units, and ending higher is judged too."""
    from gnnnas.predictor import gave_back_most

    judged = gave_back_most(final, lowest, chance)
    learned = chance - lowest
    halfway = lowest + 0.5 * learned
    if learned < 0.2 * chance - 1e-9 or final < halfway - 1e-9:  # never learned, or kept most of it
        assert not judged
    if learned > 0.2 * chance + 1e-9 and final > halfway + 1e-9:
        assert judged
        assert gave_back_most(final * scale, lowest * scale, chance * scale)
        assert gave_back_most(max(later, final), lowest, chance)
    if not judged and min(abs(final - halfway), abs(learned - 0.2 * chance)) > 1e-9:
        assert not gave_back_most(final * scale, lowest * scale, chance * scale)


def _learnable_toy(n=24):
    space = gnnnas.get_space("nb201")
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(n)]
    return archs, np.array([a.ops.count("nor_conv_3x3") for a in archs], float) + rng.normal(size=n) * 0.1


def _shrinking_optimiser(kept: dict):
    """AdamW that keeps a copy of the weights at the end of every epoch (``kept[epoch]``, 3 steps
    per epoch) and, after its 120th step (epoch 40), shrinks them 15% per step for 12 steps: the
    fit's scores are driven back towards one value, as the masked ViT encoder's fit on PVIT went
    back to ln 2, and the remaining epochs do not recover what it had learned."""
    class Shrinking(torch.optim.AdamW):
        def step(self, closure=None):
            out = super().step(closure)
            self.steps = getattr(self, "steps", 0) + 1
            if self.steps % 3 == 0:
                kept[self.steps // 3] = [w.detach().clone() for group in self.param_groups for w in group["params"]]
            if 120 < self.steps <= 132:
                with torch.no_grad():
                    for group in self.param_groups:
                        for weight in group["params"]:
                            weight.mul_(0.85)
            return out
    return Shrinking


TOY_FIT = {"lr": 0.03, "epochs": 60, "hidden_dim": 16, "num_layers": 2, "seed": 0, "batch_size": 8,
           "pretrained": None}


@pytest.mark.parametrize("loss", ["pairwise_logistic", "mse"])
def test_a_fit_that_gives_back_most_of_what_it_learned_restores_its_lowest_window(monkeypatch, loss):
    """A fit that learns, then loses it without collapsing to one score (the masked ViT encoder
    on PVIT, seed 0, 100 labels: tau .42) ends with the weights of its lowest window of epochs,
    bit for bit, an epoch before the shrinking began."""
    archs, y = _learnable_toy()
    kept: dict = {}
    monkeypatch.setattr(torch.optim, "AdamW", _shrinking_optimiser(kept))
    with pytest.warns(RuntimeWarning, match=r"gave back most of what it learned.*restored the weights of epoch") \
            as caught:
        restored = Predictor(loss=loss, **TOY_FIT).fit(archs, y)
    assert {w.filename for w in caught if "gave back" in str(w.message)} == {__file__}  # points at the caller
    (member,) = restored.restored_
    assert member["reason"] == "gave_back" and 3 <= member["epoch"] <= 40
    assert f"restored the weights of epoch {member['epoch']}." in str(caught[0].message)
    for now, then in zip(restored.models_[0].parameters(), kept[member["epoch"]], strict=True):
        assert torch.equal(now, then)
    tau = stats.kendalltau(restored.predict(archs), y).statistic
    monkeypatch.setattr(gnnnas.predictor, "gave_back_most", lambda *losses: False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # the same fit, unguarded
        unguarded = Predictor(loss=loss, **TOY_FIT).fit(archs, y)
    assert stats.kendalltau(unguarded.predict(archs), y).statistic < tau - 0.1


def test_the_gave_back_guard_judges_each_member_and_leaves_validated_fits_alone(monkeypatch):
    """Every ensemble member is judged on its own fit; with a validation split the fit keeps its
    best-validation epoch and neither guard runs."""
    archs, y = _learnable_toy()
    monkeypatch.setattr(torch.optim, "AdamW", _shrinking_optimiser({}))
    with pytest.warns(RuntimeWarning, match="gave back most"):
        two = Predictor(n_members=2, **TOY_FIT).fit(archs, y)
    assert len(two.restored_) == 2 and two.restored_[0]["reason"] == "gave_back"
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        validated = Predictor(validation_fraction=0.25, **TOY_FIT).fit(archs, y)
    assert validated.restored_ == [None]


def test_the_gave_back_guard_judges_the_ranking_loss_alone():
    """With the hypernetwork's proxy-ranking term, every other epoch's recorded loss also holds
    that term (about twice ln 2 at chance); the guard reads the ranking loss alone, which falls
    steadily here, so nothing is restored (20 NB201 cells with their CIFAR-10 accuracy; judged
    on the recorded loss, epochs 180-189 looked lowest and the fit was restored to epoch 189)."""
    bench = gnnnas.load_benchmark("nb201", metric="cifar10", embedded=True)
    test = np.random.default_rng(999).choice(len(bench.y), 1000, replace=False)
    train = np.random.default_rng(1000).choice(np.setdiff1d(np.arange(len(bench.y)), test), 20, replace=False)
    archs, y = [bench.archs[i] for i in train], np.asarray(bench.y)[train]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        p = Predictor(hidden_dim=16, num_layers=2, seed=0, pretrained=None, hypernetwork=True, proxy_rank_weight=1.0,
                      epochs=200, lr=0.01).fit(archs, y)
    assert p.restored_ == [None]


def test_a_fit_that_collapses_to_one_score_restores_its_lowest_loss_epoch():
    """Once every ReLU unit of the ranking head is inactive, no gradient reaches it again and the
    fit ends scoring every architecture alike (conv="resgated" on PVIT, 100 labels, seed 0). A
    high learning rate provokes it here; the member is restored to its lowest-loss epoch and a
    RuntimeWarning says so."""
    from gnnnas.predictor import _collapsed

    space = gnnnas.get_space("nb201")
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(24)]
    y = rng.normal(size=24)
    params = {"epochs": 30, "hidden_dim": 16, "num_layers": 2, "seed": 0, "batch_size": 8}
    with pytest.warns(RuntimeWarning, match="collapsed to one score.*restored the weights of its lowest-loss "
                                            "epoch.*they rank the training architectures"):
        restored = Predictor(lr=0.3, **params).fit(archs, y)
    scores = restored.predict(archs)
    assert scores.max() - scores.min() > 1e-3
    assert restored.restored_[0]["reason"] == "collapsed"
    with pytest.warns(RuntimeWarning, match="they score alike too: try a lower lr"):
        Predictor(lr=10.0, **params).fit(archs, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        healthy = Predictor(**params).fit(archs, y)  # the default lr does not collapse: nothing restored
    assert not _collapsed(healthy.models_[0], healthy.featurizer_.transform(archs))
    assert healthy.restored_ == [None]
