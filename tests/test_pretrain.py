"""Predictor(pretrain=...) and Predictor(pretrained=...): the self-supervised stage end to end."""

import numpy as np
import pytest
import torch

import gnnnas
from gnnnas import CheckpointError, Predictor
from gnnnas.pretraining import MEMO as _PRETRAINED_MEMO

FAST = {"epochs": 3, "hidden_dim": 16, "num_layers": 2, "batch_size": 16,
        "pretrain_archs": 64, "pretrain_epochs": 2, "pretrain_batch_size": 32}
SPACES = ["nb201", "nb101", "darts", "vit", "macro", "nasbench_graph"]


def labelled(space_name, n=24, seed=0):
    space = gnnnas.get_space(space_name)
    rng = np.random.default_rng(seed)
    archs = [space.sample(rng) for _ in range(n)]
    return archs, rng.normal(size=n)


def encoder_state(predictor):
    return predictor.pretrained_encoder_.state


@pytest.fixture(autouse=True)
def fresh_memo():
    _PRETRAINED_MEMO.clear()
    yield
    _PRETRAINED_MEMO.clear()


@pytest.mark.parametrize("space", SPACES)
def test_pretrain_every_space(space):
    archs, y = labelled(space)
    predictor = Predictor(space=space, pretrain="costs+masked", **FAST).fit(archs, y)
    info = predictor.pretrained_encoder_.pretrain
    assert info["archs"] == 64 and len(info["history"]) == 2
    assert set(info["history"][0]) >= {"epoch", "loss"}
    assert np.isfinite(predictor.predict(archs)).all()
    # every member starts from the pre-trained encoder, then fine-tunes it
    start = encoder_state(predictor)
    tuned = predictor.models_[0].encoder.state_dict()
    assert start.keys() == tuned.keys()
    assert any(not torch.equal(start[k], tuned[k]) for k in start)


def test_pretraining_never_reads_labels():
    """Permuted labels (and other labels altogether) give the same pre-trained encoder."""
    archs, y = labelled("nb201")
    a = Predictor(pretrain="costs+masked", **FAST).fit(archs, y)
    _PRETRAINED_MEMO.clear()  # computed afresh, not recalled
    b = Predictor(pretrain="costs+masked", **FAST).fit(archs, np.random.default_rng(5).permutation(y))
    _PRETRAINED_MEMO.clear()
    c = Predictor(pretrain="costs+masked", **FAST).fit(archs[:10], -y[:10] ** 3)
    for other in (b, c):
        assert all(torch.equal(encoder_state(a)[k], encoder_state(other)[k]) for k in encoder_state(a))
    assert not np.allclose(a.predict(archs), b.predict(archs))  # the fine-tuning did read them


def test_memo_pretrains_once_per_configuration(monkeypatch):
    import gnnnas.pretraining

    calls = []
    real = gnnnas.pretraining.pretrain_encoder
    monkeypatch.setattr(gnnnas.pretraining, "pretrain_encoder", lambda *a, **k: calls.append(1) or real(*a, **k))
    archs, y = labelled("nb201")
    a = Predictor(pretrain="costs", **FAST).fit(archs, y)
    b = Predictor(pretrain="costs", **FAST).fit(archs[:12], y[:12])
    assert len(calls) == 1
    assert all(torch.equal(encoder_state(a)[k], encoder_state(b)[k]) for k in encoder_state(a))
    c = Predictor(pretrain="costs", **{**FAST, "seed": 1}).fit(archs, y)
    assert len(calls) == 2
    assert not all(torch.equal(encoder_state(a)[k], encoder_state(c)[k]) for k in encoder_state(a))


def test_a_diverged_pretraining_keeps_no_encoder():
    """lr=1e8 sends the pretext loss to NaN: the fit raises (the supervised fit would warn and
    restore; an encoder of NaN weights has nothing to restore to), and nothing is memoised."""
    archs, y = labelled("nb201")
    predictor = Predictor(pretrain="costs", **{**FAST, "lr": 1e8})
    with pytest.raises(FloatingPointError, match="pre-training diverged.*Lower lr= \\(now 1e\\+08\\)"):
        predictor.fit(archs, y)
    assert not _PRETRAINED_MEMO and not hasattr(predictor, "pretrained_encoder_")
    with pytest.raises(ValueError, match="weight of 'costs' must be a finite number > 0"):
        Predictor(pretrain="1e400*costs", **FAST).fit(archs, y)


def test_memoised_encoders_are_each_fits_own():
    """A recalled encoder is a copy: editing one predictor's pretrained_encoder_ (its state, its
    pretrain record) changes neither another predictor's nor what later fits recall."""
    archs, y = labelled("nb201")
    a = Predictor(pretrain="costs", **FAST).fit(archs, y)
    saved = {k: v.clone() for k, v in encoder_state(a).items()}
    for value in encoder_state(a).values():
        value.fill_(float("nan"))
    a.pretrained_encoder_.pretrain["history"].clear()
    b = Predictor(pretrain="costs", **FAST).fit(archs, y)
    assert all(torch.equal(saved[k], encoder_state(b)[k]) for k in saved)
    assert len(b.pretrained_encoder_.pretrain["history"]) == FAST["pretrain_epochs"]
    assert np.isfinite(b.predict(archs)).all()


def test_pretrained_file_round_trip(tmp_path):
    archs, y = labelled("nb201")
    path = tmp_path / "enc.safetensors"
    direct = Predictor(pretrain="costs+masked", **FAST).fit(archs, y)
    direct.save_encoder(path)
    loaded = Predictor(pretrained=path, **{k: v for k, v in FAST.items() if not k.startswith("pretrain")})
    loaded.fit(archs, y)
    np.testing.assert_allclose(loaded.predict(archs), direct.predict(archs), rtol=1e-5, atol=1e-6)
    assert loaded.pretrained_encoder_.pretrain["spec"] == "costs+masked"
    loaded.save(tmp_path / "from_file.gnnnas")  # pretrained=Path is stored as the path it names
    assert Predictor.load(tmp_path / "from_file.gnnnas").pretrained == str(path)
    # a fitted predictor with a pre-trained encoder saves and loads as any other
    direct.save(tmp_path / "model.gnnnas")
    np.testing.assert_allclose(Predictor.load(tmp_path / "model.gnnnas").predict(archs), direct.predict(archs),
                               rtol=1e-6)


def test_pretrain_only_needs_no_labels(tmp_path):
    space = gnnnas.get_space("vit")
    pool = [space.sample(np.random.default_rng(i)) for i in range(40)]
    predictor = Predictor(space="vit", pretrain="costs", **FAST).pretrain_only(unlabelled=pool)
    assert predictor.pretrained_encoder_.pretrain["archs"] == 40
    predictor.save_encoder(tmp_path / "vit.safetensors")
    archs, y = labelled("vit")
    Predictor(space="vit", pretrained=tmp_path / "vit.safetensors", epochs=2, hidden_dim=16, num_layers=2).fit(archs, y)


def test_pretrained_mismatch_and_bad_files(tmp_path):
    archs, y = labelled("nb201")
    path = tmp_path / "enc.safetensors"
    Predictor(pretrain="costs", **FAST).pretrain_only().save_encoder(path)
    with pytest.raises(ValueError, match=r"does not fit this predictor: hidden_dim=16 in the file, 32 here"):
        Predictor(pretrained=path, hidden_dim=32, num_layers=2, epochs=1).fit(archs, y)
    with pytest.raises(ValueError, match="space='nb201' in the file, 'darts' here"):
        Predictor(space="darts", pretrained=path, hidden_dim=16, num_layers=2, epochs=1).fit(*labelled("darts"))
    blob = bytearray(path.read_bytes())
    blob[-3] ^= 0xFF
    (tmp_path / "flipped.safetensors").write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        Predictor(pretrained=tmp_path / "flipped.safetensors", hidden_dim=16, num_layers=2).fit(archs, y)
    predictor = Predictor(**{k: v for k, v in FAST.items() if not k.startswith("pretrain")}).fit(archs, y)
    predictor.save(tmp_path / "model.gnnnas")
    with pytest.raises(CheckpointError, match="not a gnnnas pre-trained encoder"):
        Predictor(pretrained=tmp_path / "model.gnnnas").fit(archs, y)
    with pytest.raises(FileNotFoundError, match="no pre-trained encoder at"):
        Predictor(pretrained=tmp_path / "missing.safetensors").fit(archs, y)
    for look_alike in ("None", "Default", "AUTO"):  # strings, not the values pretrained= takes
        with pytest.raises(FileNotFoundError, match=f"'{look_alike}'.*pretrained= takes 'auto', 'default', None"):
            Predictor(pretrained=look_alike).fit(archs, y)
    for empty in ("", "  "):
        with pytest.raises(ValueError, match="pretrained must be 'auto', 'default', None or a file path"):
            Predictor(pretrained=empty).fit(archs, y)


def test_parameter_errors():
    archs, y = labelled("nb201")
    with pytest.raises(ValueError, match="unknown task 'zero'"):
        Predictor(pretrain="zero").fit(archs, y)
    with pytest.raises(ValueError, match="not both"):
        Predictor(pretrain="costs", pretrained="x.safetensors").fit(archs, y)
    with pytest.raises(ValueError, match="pretrained must be 'auto', 'default', None or a file path"):
        Predictor(pretrained=3).fit(archs, y)
    with pytest.raises(ValueError, match="pretrain_only needs pretrain"):
        Predictor().pretrain_only()
    with pytest.raises(ValueError, match="no pre-trained encoder: the last fit started from random weights"):
        Predictor(**{k: v for k, v in FAST.items() if not k.startswith("pretrain")}).fit(archs, y).save_encoder("x")
    with pytest.raises(ValueError, match=r"ships no pre-trained encoder for space 'macro' \(it ships: \['nb201'\]\)"):
        Predictor(space="macro", pretrained="default").fit(*labelled("macro"))


def test_hypernetwork_as_a_pretext():
    """HyperNAS's task on unlabelled archs before any label: its loss falls, the encoder moves."""
    archs, y = labelled("nb201")
    params = {**FAST, "pretrain_epochs": 8, "pretrain_batch_size": 8, "hyper_width": 4, "hyper_archs": 8,
              "hyper_images": 32}
    predictor = Predictor(pretrain="hypernetwork", **params).fit(archs, y)
    history = predictor.pretrained_encoder_.pretrain["history"]
    assert set(history[0]) == {"epoch", "loss", "hypernetwork"}
    assert history[-1]["hypernetwork"] + history[-2]["hypernetwork"] < history[0]["hypernetwork"] + history[1]["hypernetwork"]


@pytest.mark.parametrize("spec", ["zero_cost", "flow", "hypernetwork", "costs+0.5*flow", "zero_cost+masked+hypernetwork"])
def test_pretexts_that_run_networks_need_an_executor(spec, monkeypatch):
    """On a space without a network executor, every pretext that runs the networks is refused
    by name before any pool is drawn or probed; the graph-only pretexts still work."""
    import gnnnas.pretraining
    from gnnnas.nn.pretext import parse_pretrain
    from gnnnas.pretraining import RUN_PRETEXTS

    monkeypatch.setattr(gnnnas.pretraining, "pretrain_pool", lambda *a: pytest.fail("drew a pool first"))
    wanted = [task for task in parse_pretrain(spec) if task in RUN_PRETEXTS]
    with pytest.raises(ValueError, match="has no network executor") as error:
        Predictor(space="nasbench_graph", pretrain=spec, **FAST).fit(*labelled("nasbench_graph"))
    assert str(error.value).startswith(f"pretrain={spec!r}: {' and '.join(map(repr, wanted))} run")


def test_memo_keeps_apart_what_trains_differently():
    archs, y = labelled("nb201")
    a = Predictor(pretrain="costs+masked", **FAST).fit(archs, y)
    b = Predictor(pretrain="masked+costs", **FAST).fit(archs, y)  # heads built in another order
    assert a.pretrained_encoder_ is not b.pretrained_encoder_
    c = Predictor(pretrain="costs", **{**FAST, "seed": None}).fit(archs, y)
    d = Predictor(pretrain="costs", **{**FAST, "seed": None}).fit(archs, y)
    assert c.pretrained_encoder_ is not d.pretrained_encoder_  # seed=None: a fresh random pool each fit


def test_masked_batches_without_operations_are_skipped():
    space = gnnnas.get_space("nb201")
    empty = space.parse("|skip_connect~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|")
    conv = space.parse("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|")
    pool = [empty] * 6 + [conv]
    predictor = Predictor(pretrain="masked", **{**FAST, "pretrain_batch_size": 2}).pretrain_only(unlabelled=pool)
    assert all(np.isfinite(r["loss"]) and np.isfinite(r["masked"]) for r in predictor.pretrained_encoder_.pretrain["history"])


def test_encoder_file_whose_weights_do_not_fit_its_config(tmp_path):
    import dataclasses

    from gnnnas.nn.checkpoint import save_encoder

    archs, y = labelled("nb201")
    good = Predictor(pretrain="costs", **FAST).pretrain_only().pretrained_encoder_
    state = dict(good.state)
    state.pop(next(iter(state)))
    save_encoder(tmp_path / "bad.safetensors", dataclasses.replace(good, state=state))
    with pytest.raises(CheckpointError, match="bad.safetensors.*weights do not fit its config"):
        Predictor(pretrained=tmp_path / "bad.safetensors", hidden_dim=16, num_layers=2, epochs=1).fit(archs, y)


def test_masked_hides_the_node_features_that_give_the_op_away():
    from gnnnas.nn.featurize import GraphFeaturizer
    from gnnnas.nn.pretext import mask_ops

    space = gnnnas.get_space("vit")
    archs = [space.sample(np.random.default_rng(i)) for i in range(8)]
    featurizer = GraphFeaturizer(space.vocab, node_feature_dim=archs[0].node_features.shape[1]).fit(archs)
    batch = featurizer.transform(archs)
    masked, chosen = mask_ops(batch, featurizer.num_labels, torch.Generator().manual_seed(0),
                              hide=featurizer.node_feature_columns)
    assert chosen.any()
    assert masked.x[chosen][:, featurizer.node_feature_columns].abs().sum() == 0
    assert batch.x[chosen][:, featurizer.node_feature_columns].abs().sum() > 0


def test_user_registered_space_without_enumerate(tmp_path):
    """A space registered by the user, which cannot enumerate itself: the pool is seeded samples."""
    from gnnnas import ArchGraph, OpVocabulary
    from gnnnas.spaces.registry import _REGISTRY

    vocab = OpVocabulary(ops=("conv3", "conv5", "skip"), identity={"skip"}, parametric={"conv3", "conv5"})

    class Chain4(gnnnas.SearchSpace):
        size = 81

        def parse(self, encoding):
            if isinstance(encoding, ArchGraph):
                return self.check(encoding)
            ops = ["input", *encoding, "output"]
            return ArchGraph(ops=ops, edges=[(i, i + 1) for i in range(len(ops) - 1)], vocab=vocab,
                             space=self.name, macro={"convs": sum(o != "skip" for o in encoding)})

        def format(self, arch):
            return tuple(self.check(arch).ops[1:-1])

        def sample(self, rng=None):
            return self.parse(tuple(gnnnas.spaces.as_rng(rng).choice(vocab.ops, size=4)))

        def mutate(self, arch, rng=None):
            return self.sample(rng)

    Chain4.vocab = vocab
    gnnnas.register_space("test_pretrain_chain4")(Chain4)
    try:
        archs, y = labelled("test_pretrain_chain4")
        predictor = Predictor(space="test_pretrain_chain4", pretrain="costs+masked", **FAST).fit(archs, y)
        assert predictor.pretrained_encoder_.pretrain["archs"] == 64
        path = tmp_path / "chain4.safetensors"
        predictor.save_encoder(path)
        again = Predictor(space="test_pretrain_chain4", pretrained=path,
                          **{k: v for k, v in FAST.items() if not k.startswith("pretrain")}).fit(archs, y)
        for key, value in encoder_state(predictor).items():
            assert torch.equal(value, encoder_state(again)[key])
        with pytest.raises(ValueError, match="ships no pre-trained encoder for space 'test_pretrain_chain4'"):
            Predictor(space="test_pretrain_chain4", pretrained="default").fit(archs, y)
    finally:
        _REGISTRY.pop("test_pretrain_chain4", None)


def test_shipped_nb201_encoder_fits_the_default_predictor():
    """gnnnas/pretrained/nb201.safetensors: label-free (costs on all 15,625 cells), and
    Predictor(space="nb201", pretrained="default") with default shape starts from exactly its weights."""
    from gnnnas.nn.checkpoint import load_encoder
    from gnnnas.pretraining import shipped_encoder

    shipped = load_encoder(shipped_encoder("nb201"))
    assert shipped.pretrain["spec"] == "costs" and shipped.pretrain["archs"] == 15625
    assert shipped.vocab == list(gnnnas.get_space("nb201").vocab.ops)
    defaults = Predictor(space="nb201").get_params()
    assert {k: defaults[k] for k in shipped.params} == shipped.params
    archs, y = labelled("nb201")
    predictor = Predictor(space="nb201", pretrained="default", epochs=1, seed=0).fit(archs, y)
    for key, value in shipped.state.items():
        assert torch.equal(encoder_state(predictor)[key], value)
    assert np.isfinite(predictor.predict(archs)).all()


@pytest.mark.parametrize("space_name", SPACES)
@pytest.mark.parametrize("shape", [{}, {"hidden_dim": 16, "num_layers": 2}, {"conv": "gin"},
                                   {"use_global_node": False, "readout": "mean+sum"}],
                         ids=["default-shape", "small", "gin", "no-global"])
def test_auto_is_the_shipped_encoder_where_it_fits_else_a_random_start(space_name, shape):
    """The default pretrained="auto" rule, for every built-in space and encoder shape: exactly
    pretrained="default" where that is accepted, exactly pretrained=None where it is refused."""
    archs, y = labelled(space_name)

    def fit(pretrained):
        return Predictor(space=space_name, pretrained=pretrained, epochs=1, seed=0, **shape).fit(archs, y)

    auto = fit("auto")
    try:
        expected = fit("default")
    except ValueError:  # no encoder shipped for the space, or not of this shape
        expected = fit(None)
        assert auto.pretrained_encoder_ is None and auto.encoder_start_ == "random"
    else:
        assert auto.pretrained_encoder_ is not None and auto.encoder_start_ == f"shipped:{space_name}"
        assert expected.encoder_start_ == auto.encoder_start_
    if space_name == "nb201" and not shape:  # the shipped file fits the default predictor
        assert auto.pretrained_encoder_ is not None
    np.testing.assert_array_equal(auto.predict(archs), expected.predict(archs))


def test_encoder_start_names_the_start_taken_and_survives_a_checkpoint(tmp_path):
    """encoder_start_ for each kind of start, the same after save/load, so a number quoted
    from a loaded predictor can say where its encoder started."""
    archs, y = labelled("nb201")
    own = Predictor(space="nb201", pretrain="costs+masked", **FAST).fit(archs, y)
    own.save_encoder(tmp_path / "enc.safetensors")
    fits = {
        "random": Predictor(space="nb201", pretrained=None, epochs=1),
        "shipped:nb201": Predictor(space="nb201", epochs=1),
        "pretrain:costs+masked": own,
        f"file:{tmp_path / 'enc.safetensors'}": Predictor(space="nb201", pretrained=tmp_path / "enc.safetensors", **FAST),
    }
    for start, predictor in fits.items():
        predictor.fit(archs, y)
        assert predictor.encoder_start_ == start
        predictor.save(tmp_path / "m.gnnnas")
        assert Predictor.load(tmp_path / "m.gnnnas").encoder_start_ == start


def test_encoder_start_is_canonical_absolute_and_kept_by_a_failed_refit(tmp_path, monkeypatch):
    """Spellings of one pretrain spec get one name whatever ran before in the process (the memo
    keys on the parsed tasks); a relative file path is stored absolute, so a loaded checkpoint
    still names the file; a refit that fails keeps the fitted members' start."""
    archs, y = labelled("nb201")
    first = Predictor(space="nb201", pretrain="1*costs+1.0*masked", **FAST).fit(archs, y)
    again = Predictor(space="nb201", pretrain="costs + masked", **FAST).fit(archs, y)
    assert first.encoder_start_ == again.encoder_start_ == "pretrain:costs+masked"
    assert again.pretrained_encoder_.pretrain["spec"] == "costs+masked"
    first.save_encoder(tmp_path / "enc.safetensors")
    monkeypatch.chdir(tmp_path)
    relative = Predictor(space="nb201", pretrained="enc.safetensors", **FAST).fit(archs, y)
    assert relative.encoder_start_ == f"file:{tmp_path / 'enc.safetensors'}"
    with pytest.raises(FileNotFoundError):
        relative.set_params(pretrained="missing.safetensors").fit(archs, y)
    assert relative.encoder_start_ == f"file:{tmp_path / 'enc.safetensors'}"
    assert relative.pretrained_encoder_ is not None


def test_auto_is_the_default_and_yields_to_pretrain():
    assert Predictor().pretrained == "auto"
    archs, y = labelled("nb201")
    predictor = Predictor(space="nb201", pretrain="costs", **FAST).fit(archs, y)  # no "not both" error
    assert predictor.pretrained_encoder_.pretrain["archs"] == 64  # its own stage, not the shipped file
    with pytest.raises(ValueError, match="not both"):
        Predictor(space="nb201", pretrain="costs", pretrained="default").fit(archs, y)


def test_shipped_encoder_from_a_zip_is_one_temporary_copy_per_process(tmp_path):
    """gnnnas imported from a zip archive: the shipped file is extracted once, read by every
    default fit, and removed at exit (not one copy per fit left until exit)."""
    import subprocess
    import sys
    import zipfile
    from pathlib import Path

    package = Path(gnnnas.__file__).parent
    archive = tmp_path / "gnnnas.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in package.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                z.write(path, Path("gnnnas") / path.relative_to(package))
    script = ("import gnnnas.pretraining as p; a = p.shipped_encoder('nb201'); b = p.shipped_encoder('nb201'); "
              "assert 'gnnnas.zip' in p.__file__, p.__file__; assert a == b and a.exists(); print(a)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={**__import__("os").environ, "PYTHONPATH": str(archive)}, check=False)
    assert done.returncode == 0, done.stderr
    assert not Path(done.stdout.strip()).exists()  # removed at exit


def test_auto_yields_to_pretrain_at_the_shipped_shape():
    """At the default shape the shipped file would fit; pretrain= still runs its own stage."""
    archs, y = labelled("nb201")
    predictor = Predictor(space="nb201", pretrain="costs", pretrain_archs=64, pretrain_epochs=1, epochs=1,
                          seed=0).fit(archs, y)
    assert predictor.pretrained_encoder_.pretrain["archs"] == 64


@pytest.mark.parametrize("change", ["vocab", "cell_sequence"])
def test_auto_falls_back_when_the_shipped_file_was_made_for_other_networks(monkeypatch, change):
    """The op-vocabulary and cell-stacking checks of "auto": a shipped file that differs there is
    passed over (random start), and "default" refuses it."""
    import dataclasses

    import gnnnas.nn.checkpoint as checkpoint

    real = checkpoint.load_encoder

    def altered(path):
        encoder = real(path)
        if change == "vocab":
            return dataclasses.replace(encoder, vocab=[*encoder.vocab[:-1], "conv_7x7"])
        return dataclasses.replace(encoder, cell_sequence=["normal", "reduce"])

    monkeypatch.setattr(checkpoint, "load_encoder", altered)
    archs, y = labelled("nb201")
    assert Predictor(space="nb201", epochs=1, seed=0).fit(archs, y).pretrained_encoder_ is None
    with pytest.raises(ValueError, match="ops|stacks cells"):
        Predictor(space="nb201", pretrained="default", epochs=1, seed=0).fit(archs, y)


def test_auto_falls_back_when_the_graphs_carry_node_features():
    """The shipped NB201 encoder reads no node features: "auto" must not drop a user's features
    silently (random start that reads them), and "default" refuses them."""
    import dataclasses

    archs, y = labelled("nb201")
    rng = np.random.default_rng(1)
    featured = [dataclasses.replace(a, node_features=rng.normal(size=(a.num_nodes, 1)).astype(np.float32),
                                    node_feature_names=("latency",)) for a in archs]
    predictor = Predictor(space="nb201", epochs=1, seed=0).fit(featured, y)
    assert predictor.pretrained_encoder_ is None and predictor.featurizer_.node_feature_dim == 1
    with pytest.raises(ValueError, match="0 node features per node, these graphs have 1"):
        Predictor(space="nb201", pretrained="default", epochs=1, seed=0).fit(featured, y)


def test_memo_drops_the_least_recently_used(monkeypatch):
    """A sweep that cycles through more keys than the memo holds keeps the ones it used last."""
    from gnnnas import pretraining

    monkeypatch.setattr(pretraining, "MEMO_SIZE", 3)
    for key in "abc":
        pretraining._remember(key, key.upper())
    assert pretraining._recall("a") == "A"  # a becomes the most recently used
    pretraining._remember("d", "D")  # drops b, the least recently used
    assert list(_PRETRAINED_MEMO) == ["c", "a", "d"]
    assert pretraining._recall("b") is None
    pretraining._remember("c", "C2")  # a key stored again replaces its value and is fresh
    assert list(_PRETRAINED_MEMO) == ["a", "d", "c"] and _PRETRAINED_MEMO["c"] == "C2"


def test_memo_recalls_through_fit_and_drops_the_least_recently_used(monkeypatch):
    """Fits recall a memoised encoder, refresh it, and pre-train again only what the memo dropped."""
    from gnnnas import pretraining

    calls = []
    real = pretraining.pretrain_encoder
    monkeypatch.setattr(pretraining, "pretrain_encoder", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(pretraining, "MEMO_SIZE", 2)
    archs, y = labelled("nb201", n=12)
    for spec in ("costs", "masked", "costs", "costs+masked", "costs", "masked"):
        Predictor(pretrain=spec, **FAST).fit(archs, y)
    # costs, masked, costs (recalled, now the freshest), costs+masked (drops masked), costs
    # (recalled), masked (pre-trained again): 4 runs; first-in-first-out would have made 5
    assert len(calls) == 4


def _moved(before: dict, after: dict, names) -> set:
    return {n for n in names if not torch.equal(before[n], after[n])}


@pytest.mark.parametrize("space", ["nb201", "vit"])
def test_encoder_lr_scale_zero_freezes_the_pretrained_encoder_and_still_fits_the_heads(space, monkeypatch):
    archs, y = labelled(space)
    starts = []  # each member's weights before its first step, taken when its optimiser is built
    adamw = torch.optim.AdamW

    def recording(groups, **kw):
        groups = [dict(g, params=list(g["params"])) if isinstance(g, dict) else g for g in groups]
        starts.append({id(q): q.detach().clone() for g in groups for q in (g["params"] if isinstance(g, dict) else [g])})
        return adamw(groups, **kw)

    monkeypatch.setattr(torch.optim, "AdamW", recording)
    frozen = Predictor(space=space, pretrain="costs", encoder_lr_scale=0.0, **FAST).fit(archs, y)
    model = frozen.models_[0]
    encoder = dict(model.encoder.named_parameters())
    heads = {n: q for n, q in model.named_parameters() if not n.startswith("encoder.")}
    assert encoder and heads
    # the encoder's parameters stay at the pre-trained weights (AdamW's decoupled weight decay is
    # scaled by the lr too); buffers such as batch-norm statistics are not parameters and may move
    start = encoder_state(frozen)
    assert not _moved(start, model.encoder.state_dict(), encoder)
    # while the heads, new at every fit, train at the full lr
    assert any(not torch.equal(starts[-1][id(q)], q.detach()) for q in heads.values())
    moved = Predictor(space=space, pretrain="costs", encoder_lr_scale=0.1, **FAST).fit(archs, y)
    assert _moved(start, moved.models_[0].encoder.state_dict(), encoder)


def test_encoder_lr_scale_applies_to_an_encoder_file_start(tmp_path):
    """pretrained=<file> (and the shipped encoder, the same path) is a pre-trained start too."""
    archs, y = labelled("nb201")
    path = tmp_path / "enc.safetensors"
    Predictor(pretrain="costs", **FAST).fit(archs, y).save_encoder(path)
    plain = {k: v for k, v in FAST.items() if not k.startswith("pretrain")}
    frozen = Predictor(pretrained=path, encoder_lr_scale=0.0, **plain).fit(archs, y)
    assert frozen.encoder_start_.startswith("file:")
    start = encoder_state(frozen)
    names = dict(frozen.models_[0].encoder.named_parameters())
    assert not _moved(start, frozen.models_[0].encoder.state_dict(), names)
    tuned = Predictor(pretrained=path, **plain).fit(archs, y)
    assert _moved(start, tuned.models_[0].encoder.state_dict(), names)


def test_encoder_lr_scale_changes_nothing_on_a_random_start_but_says_so_or_at_one():
    archs, y = labelled("nb201")
    plain = {k: v for k, v in FAST.items() if not k.startswith("pretrain")}
    a = Predictor(pretrained=None, **plain).fit(archs, y).predict(archs)
    with pytest.warns(UserWarning, match="encoder_lr_scale=0.1 has no effect: the encoder starts from random"):
        b = Predictor(pretrained=None, encoder_lr_scale=0.1, **plain).fit(archs, y).predict(archs)
    np.testing.assert_array_equal(a, b)
    c = Predictor(pretrain="costs", **FAST).fit(archs, y).predict(archs)
    d = Predictor(pretrain="costs", encoder_lr_scale=1, **FAST).fit(archs, y).predict(archs)
    np.testing.assert_array_equal(c, d)
