"""Checkpoints: every header field checked at load, a checksum over the weights, safe atomic writes."""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import gnnnas
from gnnnas.nn.checkpoint import _FEATURIZER_FIELDS, _STATE_FIELDS, CHECKPOINT_FORMAT_VERSION
from gnnnas.predictor import CheckpointError, Predictor


@pytest.fixture(scope="module")
def toy():
    space = gnnnas.get_space("nb201")
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(20)]
    return archs, np.linspace(0.0, 1.0, 20)


@pytest.fixture(scope="module")
def saved(toy, tmp_path_factory):
    """(predictor, its checkpoint's bytes): two members, so member bookkeeping is exercised."""
    predictor = Predictor(epochs=1, hidden_dim=8, num_layers=1, n_members=2).fit(*toy)
    path = tmp_path_factory.mktemp("ckpt") / "m.gnnnas"
    predictor.save(path)
    return predictor, path.read_bytes()


def split(blob):
    """(header dict, tensor data) of a safetensors blob."""
    n = int.from_bytes(blob[:8], "little")
    return json.loads(blob[8 : 8 + n]), blob[8 + n :]


def rebuild(header, data):
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + data


def edit(blob, section, field, value, sub=None):
    """``blob`` with ``section`` ("params" or "state") ``[sub][field]`` set to ``value`` (or deleted)."""
    header, data = split(blob)
    config = json.loads(header["__metadata__"][section])
    target = config[sub] if sub else config
    if value is DELETE:
        del target[field]
    else:
        target[field] = value
    header["__metadata__"][section] = json.dumps(config)
    return rebuild(header, data)


DELETE = object()


def load_bytes(tmp_path, blob):
    path = tmp_path / "edited.gnnnas"
    path.write_bytes(blob)
    return Predictor.load(path)


def test_roundtrip_and_header(saved, tmp_path, toy):
    predictor, blob = saved
    header, _ = split(blob)
    assert header["__metadata__"]["format_version"] == str(CHECKPOINT_FORMAT_VERSION) == "4"
    assert re.fullmatch(r"[0-9a-f]{64}", header["__metadata__"]["tensors_sha256"])
    # the helpers rebuild a file that loads: edits below fail because of the edit, not the rebuild
    loaded = load_bytes(tmp_path, rebuild(*split(blob)))
    np.testing.assert_array_equal(loaded.predict(toy[0]), predictor.predict(toy[0]))


# ---------------------------------------------------------------------- header fields
@pytest.mark.parametrize(
    "field, value",
    [
        ("n_members", 0), ("n_members", 1), ("n_members", 3), ("n_members", "2"), ("n_members", True),
        ("y_std", float("nan")), ("y_std", 0.0), ("y_std", -1.0), ("y_std", float("inf")), ("y_std", "1"),
        ("y_mean", "abc"), ("y_mean", float("nan")), ("y_mean", None), ("y_mean", [0.5]),
        ("n_train", 1), ("n_train", 2.5), ("vocab", "none"), ("vocab", [1, 2]),
        ("cell_sequence", "abc"), ("cell_sequence", [-1]), ("proxy_shape", [1, 10]), ("proxy_shape", [0, 10, 3]),
        ("featurizer", None),
    ],
)
def test_bad_state_field_names_the_field(saved, tmp_path, field, value):
    with pytest.raises(CheckpointError, match=f"'{field}'"):
        load_bytes(tmp_path, edit(saved[1], "state", field, value))


@pytest.mark.parametrize("field", sorted(_STATE_FIELDS))
@pytest.mark.parametrize("value", ["abc", {"x": 1}, [float("nan")], DELETE])
def test_every_state_field_is_checked(saved, tmp_path, field, value):
    """A field that is missing or of a wrong type is refused by name ('featurizer' or 'featurizer.<field>')."""
    with pytest.raises(CheckpointError, match=f"header field '{field}"):
        load_bytes(tmp_path, edit(saved[1], "state", field, value))


@pytest.mark.parametrize("field", sorted(_FEATURIZER_FIELDS) + ["macro_mean", "macro_std", "node_mean", "node_std"])
@pytest.mark.parametrize("value", ["abc", -1, [float("nan")], DELETE])
def test_every_featurizer_field_is_checked(saved, tmp_path, field, value):
    with pytest.raises(CheckpointError, match=f"header field 'featurizer.{field}'"):
        load_bytes(tmp_path, edit(saved[1], "state", field, value, sub="featurizer"))


@pytest.mark.parametrize(
    "field, value",
    [("hidden_dim", -1), ("lr", "fast"), ("seed", 1.5), ("dropout", float("nan")), ("bootstrap", "yes"),
     ("early_stopping_patience", 0), ("not_a_param", 1), ("loss", "-1*mse"), ("space", 5), ("space", DELETE)],
)
def test_bad_params_are_refused(saved, tmp_path, field, value):
    with pytest.raises(CheckpointError, match=f"'{field}'|'params'"):
        load_bytes(tmp_path, edit(saved[1], "params", field, value))


def test_unknown_space_and_other_space(saved, tmp_path):
    with pytest.raises(CheckpointError, match="unknown"):
        load_bytes(tmp_path, edit(saved[1], "params", "space", "nope"))
    with pytest.raises(CheckpointError, match="for space 'nb201', not 'darts'"):
        Predictor.load(_write(tmp_path, saved[1]), space="darts")


def _write(tmp_path, blob, name="m.gnnnas"):
    path = tmp_path / name
    path.write_bytes(blob)
    return path


# ---------------------------------------------------------------------- checksum and format
def test_any_flipped_byte_in_the_weights_is_a_checksum_mismatch(saved, tmp_path):
    blob = saved[1]
    header_end = 8 + int.from_bytes(blob[:8], "little")
    for offset in np.random.default_rng(0).integers(header_end, len(blob), size=25).tolist() + [header_end, len(blob) - 1]:
        for bit in (0, 7):
            damaged = bytearray(blob)
            damaged[offset] ^= 1 << bit
            with pytest.raises(CheckpointError, match="checksum mismatch"):
                load_bytes(tmp_path, bytes(damaged))


@pytest.mark.parametrize("value", [DELETE, "", "0" * 64])
def test_missing_or_wrong_checksum(saved, tmp_path, value):
    header, data = split(saved[1])
    if value is DELETE:
        del header["__metadata__"]["tensors_sha256"]
    else:
        header["__metadata__"]["tensors_sha256"] = value
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        load_bytes(tmp_path, rebuild(header, data))


@pytest.mark.parametrize("version, match", [("1", "format 1 has no checksum"), ("9", "checkpoint format 9.*newer gnnnas wrote it: upgrade"),
                                            ("x", "checkpoint format x"), (DELETE, "checkpoint format None")])
def test_other_format_versions(saved, tmp_path, version, match):
    header, data = split(saved[1])
    if version is DELETE:
        del header["__metadata__"]["format_version"]
    else:
        header["__metadata__"]["format_version"] = version
    with pytest.raises(CheckpointError, match=match):
        load_bytes(tmp_path, rebuild(header, data))


def test_not_a_checkpoint(tmp_path, saved):
    import torch
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(CheckpointError, match="not a gnnnas predictor checkpoint"):
        Predictor.load(tmp_path / "other.safetensors")
    with pytest.raises(CheckpointError, match="not a readable gnnnas predictor checkpoint"):
        load_bytes(tmp_path, saved[1][: len(saved[1]) // 2])
    with pytest.raises(FileNotFoundError):
        Predictor.load(tmp_path / "missing.gnnnas")


def _poisoned(blob, which, position, value):
    """``blob`` with one float32 weight (tensor ``which`` of the file's float32 tensors, element
    ``position`` modulo its size) set to ``value`` and the checksum recomputed, so only the
    values themselves are wrong."""
    import hashlib
    import struct

    header, data = split(blob)
    floats = sorted(k for k, v in header.items() if k != "__metadata__" and v["dtype"] == "F32")
    name = floats[which % len(floats)]
    start, end = header[name]["data_offsets"]
    at = start + 4 * (position % ((end - start) // 4))
    data = data[:at] + struct.pack("<f", value) + data[at + 4 :]
    header["__metadata__"]["tensors_sha256"] = hashlib.sha256(data).hexdigest()
    return rebuild(header, data), name


@pytest.fixture(scope="module")
def encoder_blob(toy, tmp_path_factory):
    path = tmp_path_factory.mktemp("enc") / "e.safetensors"
    Predictor(hidden_dim=8, num_layers=1, pretrain="costs", pretrain_archs=16, pretrain_epochs=1,
              epochs=1).pretrain_only().save_encoder(path)
    return path.read_bytes()


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("which, position", [(0, 0), (1, 7), (2, 3), (5, 11), (9, 1)])
def test_any_non_finite_weight_is_refused_at_load(saved, encoder_blob, toy, tmp_path, which, position, value):
    """A file whose checksum holds but whose weights include NaN or an infinity (a diverged run
    saved by other code) is refused by name: it would score every arch NaN."""
    from gnnnas.nn.checkpoint import load_encoder

    blob, name = _poisoned(saved[1], which, position, value)
    with pytest.raises(CheckpointError, match=f"tensor '{re.escape(name)}' holds NaN or infinite values"):
        load_bytes(tmp_path, blob)
    blob, name = _poisoned(encoder_blob, which, position, value)
    with pytest.raises(CheckpointError, match=f"tensor '{re.escape(name)}' holds NaN or infinite values"):
        load_encoder(_write(tmp_path, blob, "e.safetensors"))
    with pytest.raises(CheckpointError, match=f"tensor '{re.escape(name)}'"):
        Predictor(hidden_dim=8, num_layers=1, epochs=1, pretrained=tmp_path / "e.safetensors").fit(*toy)


def test_a_damaged_encoder_file_is_called_an_encoder(encoder_blob, tmp_path):
    from gnnnas.nn.checkpoint import load_encoder

    for damaged in (encoder_blob[: len(encoder_blob) // 2], b"", b"plain text"):
        with pytest.raises(CheckpointError, match="is not a readable gnnnas pre-trained encoder"):
            load_encoder(_write(tmp_path, damaged, "e.safetensors"))


def test_every_float_and_complex_dtype_is_checked():
    import torch

    from gnnnas.nn.checkpoint import _non_finite

    for dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.complex64):
        for bad in (float("nan"), float("inf"), float("-inf")):
            assert _non_finite({"ok": torch.ones(3), "w": torch.tensor([1.0, bad]).to(dtype)}) == "w"
        assert _non_finite({"w": torch.ones(2, dtype=dtype), "i": torch.arange(3), "b": torch.ones(2, dtype=torch.bool)}) is None


def test_non_finite_weights_are_not_written(saved, toy, tmp_path):
    """Saving what no loader would take raises before writing: the target keeps what it held."""
    import torch

    predictor = Predictor(hidden_dim=8, num_layers=1, pretrain="costs", pretrain_archs=16, pretrain_epochs=1,
                          epochs=1).fit(*toy)
    model, encoder = tmp_path / "m.gnnnas", tmp_path / "e.safetensors"
    model.write_bytes(b"before"), encoder.write_bytes(b"before")
    with torch.no_grad():
        next(predictor.models_[0].parameters()).view(-1)[0] = float("nan")
    with pytest.raises(ValueError, match="not writing .*m.gnnnas.*holds NaN or infinite values"):
        predictor.save(model)
    next(iter(predictor.pretrained_encoder_.state.values())).view(-1)[0] = float("inf")
    with pytest.raises(ValueError, match="not writing .*e.safetensors.*holds NaN or infinite values"):
        predictor.save_encoder(encoder)
    assert model.read_bytes() == encoder.read_bytes() == b"before"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.safetensors", "m.gnnnas"]  # no temporary left


# ---------------------------------------------------------------------- writing
@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_get_the_usual_umask_mode(saved, tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        saved[0].save(tmp_path / "m.gnnnas")
        saved[0].save(tmp_path / "m.gnnnas")  # replacing an existing file too
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "m.gnnnas").st_mode & 0o777 == mode


def _dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.skipif(os.name != "posix", reason="process liveness check is POSIX")
def test_stale_temp_files_of_the_target_are_removed(saved, tmp_path):
    stale = tmp_path / f".m.gnnnas.tmp-{_dead_pid()}-0123456789abcdef"
    live = tmp_path / f".m.gnnnas.tmp-{os.getppid()}-0123456789abcdef"  # a running process may still write it
    others = [tmp_path / ".other.gnnnas.tmp-1-0123456789abcdef", tmp_path / ".m.gnnnas.bak",
              tmp_path / f".m.gnnnas.tmp-{_dead_pid()}-notours"]
    for path in (stale, live, *others):
        path.write_bytes(b"partial")
    saved[0].save(tmp_path / "m.gnnnas")
    assert not stale.exists()
    assert live.exists() and all(p.exists() for p in others)
    Predictor.load(tmp_path / "m.gnnnas")


@pytest.mark.skipif(os.name != "posix", reason="needs SIGKILL")
def test_kill_9_during_save_keeps_the_target_and_the_next_save_cleans_up(saved, tmp_path):
    target = _write(tmp_path, saved[1])
    script = textwrap.dedent(f"""
        import os, signal
        import gnnnas.nn.checkpoint as checkpoint
        from gnnnas.predictor import Predictor
        predictor = Predictor.load({str(target)!r})
        checkpoint.os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)  # dies before the rename
        predictor.save({str(target)!r})
    """)
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=300, check=False)
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    assert target.read_bytes() == saved[1]
    left = [p.name for p in tmp_path.iterdir() if p != target]
    assert len(left) == 1 and left[0].startswith(".m.gnnnas.tmp-")
    saved[0].save(target)
    assert [p.name for p in tmp_path.iterdir()] == ["m.gnnnas"]
    Predictor.load(target)


def test_checkpoint_without_pretrained_refits_from_random_weights(tmp_path, toy):
    """A file written before `pretrained` existed comes from a random start; loading it must not
    hand a refit today's default start (the shipped encoder) instead."""
    default_shape = Predictor(epochs=1).fit(*toy)  # a shape the shipped NB201 encoder fits
    assert default_shape.pretrained_encoder_ is not None
    path = tmp_path / "m.gnnnas"
    default_shape.save(path)
    header, data = split(path.read_bytes())
    params = json.loads(header["__metadata__"]["params"])
    del params["pretrained"]
    header["__metadata__"]["params"] = json.dumps(params)
    state = json.loads(header["__metadata__"]["state"])
    del state["encoder_start"]
    header["__metadata__"]["state"] = json.dumps(state)
    loaded = load_bytes(tmp_path, rebuild(header, data))
    assert loaded.pretrained is None
    assert loaded.encoder_start_ == "random"  # every fit of that time started from random weights
    assert loaded.fit(*toy).pretrained_encoder_ is None


def test_encoder_start_is_optional_within_the_format(tmp_path, toy):
    """A format-4 file saved before encoder_start existed loads with None (unknown start); a
    present but invalid one is refused naming the field."""
    path = tmp_path / "m.gnnnas"
    Predictor(epochs=1).fit(*toy).save(path)
    header, data = split(path.read_bytes())
    state = json.loads(header["__metadata__"]["state"])
    assert state.pop("encoder_start") == "shipped:nb201"
    header["__metadata__"]["state"] = json.dumps(state)
    assert load_bytes(tmp_path, rebuild(header, data)).encoder_start_ is None
    state["encoder_start"] = 7
    header["__metadata__"]["state"] = json.dumps(state)
    with pytest.raises(CheckpointError, match="'encoder_start' must be null or a string"):
        load_bytes(tmp_path, rebuild(header, data))


@pytest.mark.parametrize(("pretrain", "pretrained", "good", "bad"), [
    (None, "auto", ["random", "shipped:nb201"], ["", "shipped:darts", "file:x", "random\nshipped:nb201"]),
    (None, "default", ["shipped:nb201"], ["random"]),
    (None, None, ["random"], ["shipped:nb201", "pretrain:costs"]),
    (None, "/some/enc.safetensors", ["file:/some/enc.safetensors"], ["file:", "random"]),
    ("costs + 0.5*masked", None, ["pretrain:costs+0.5*masked"], ["pretrain:costs + 0.5*masked", "random"]),
])
def test_encoder_start_must_agree_with_the_params(tmp_path, saved, pretrain, pretrained, good, bad):
    """The header has no checksum: a stored start that a predictor of these params cannot take
    is refused naming the field, one it can take loads as stored."""
    header, data = split(saved[1])
    params = json.loads(header["__metadata__"]["params"])
    params.update(pretrain=pretrain, pretrained=pretrained)
    header["__metadata__"]["params"] = json.dumps(params)
    state = json.loads(header["__metadata__"]["state"])
    for start, ok in [(s, True) for s in good] + [(s, False) for s in bad]:
        state["encoder_start"] = start
        header["__metadata__"]["state"] = json.dumps(state)
        if ok:
            assert load_bytes(tmp_path, rebuild(header, data)).encoder_start_ == start
        else:
            with pytest.raises(CheckpointError, match="'encoder_start' is .* cannot take"):
                load_bytes(tmp_path, rebuild(header, data))


# ---------------------------------------------------------------------- format 2 (dense encoder)
def _as_format_2(blob, aggr):
    """``blob`` rewritten as a format-2 file of the dense encoder (``aggr`` instead of ``conv``);
    the weight names of ``conv="gcn"`` are those format 2 used."""
    header, data = split(blob)
    params = json.loads(header["__metadata__"]["params"])
    del params["conv"]
    if aggr is not None:
        params["aggr"] = aggr
    header["__metadata__"]["params"] = json.dumps(params)
    header["__metadata__"]["format_version"] = "2"
    return rebuild(header, data)


@pytest.mark.parametrize("aggr", ["mean", None])
def test_format_2_gcn_checkpoint_loads_into_the_pyg_encoder(saved, tmp_path, toy, aggr):
    assert CHECKPOINT_FORMAT_VERSION == 4
    loaded = load_bytes(tmp_path, _as_format_2(saved[1], aggr))
    assert loaded.conv == "gcn"
    np.testing.assert_allclose(loaded.predict(toy[0]), saved[0].predict(toy[0]), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("aggr", ["sum", "attention"])
def test_format_2_checkpoint_of_a_removed_encoder_says_what_to_do(saved, tmp_path, aggr):
    with pytest.raises(CheckpointError, match=f"format 2 with the dense encoder aggr='{aggr}'.*refit"):
        load_bytes(tmp_path, _as_format_2(saved[1], aggr))


def test_conv_is_stored_by_name_and_checked(toy, tmp_path):
    predictor = Predictor(conv="sage", epochs=1, hidden_dim=8, num_layers=1).fit(*toy)
    predictor.save(tmp_path / "s.gnnnas")
    loaded = Predictor.load(tmp_path / "s.gnnnas")
    assert loaded.conv == "sage"
    np.testing.assert_allclose(loaded.predict(toy[0]), predictor.predict(toy[0]), rtol=1e-5, atol=1e-6)
    with pytest.raises(CheckpointError, match="'params' is invalid: conv must be one of"):
        load_bytes(tmp_path, edit((tmp_path / "s.gnnnas").read_bytes(), "params", "conv", "not-a-conv"))


def test_an_unregistered_conv_cannot_be_saved_and_a_registered_one_can(toy, tmp_path):
    from torch_geometric.nn import LEConv

    from gnnnas.nn.convs import CONVS, register_conv

    predictor = Predictor(conv=LEConv, epochs=1, hidden_dim=8, num_layers=1).fit(*toy)
    with pytest.raises(ValueError, match="register it first with gnnnas.nn.register_conv"):
        predictor.save(tmp_path / "u.gnnnas")
    assert not (tmp_path / "u.gnnnas").exists()
    register_conv("test-leconv", LEConv)
    try:
        with pytest.raises(ValueError, match="already registered"):
            register_conv("test-leconv", LEConv)
        predictor.save(tmp_path / "u.gnnnas")  # the class is registered now: stored by its name
        loaded = Predictor.load(tmp_path / "u.gnnnas")
        assert loaded.conv == "test-leconv"
    finally:
        del CONVS["test-leconv"]
    with pytest.raises(CheckpointError, match="conv must be one of.*register_conv in this process"):
        Predictor.load(tmp_path / "u.gnnnas")  # a process that has not registered it


# ---------------------------------------------------------------------- format 3 (summing gine, resgated)
def _with_version(blob, version):
    header, data = split(blob)
    header["__metadata__"]["format_version"] = version
    return rebuild(header, data)


def test_format_3_files_load_unless_their_conv_summed_its_messages(saved, toy, tmp_path):
    loaded = load_bytes(tmp_path, _with_version(saved[1], "3"))  # the GCN did not change
    np.testing.assert_array_equal(loaded.predict(toy[0]), saved[0].predict(toy[0]))
    for conv in ("gine", "resgated"):
        predictor = Predictor(conv=conv, epochs=1, hidden_dim=8, num_layers=1).fit(*toy)
        predictor.save(tmp_path / "c.gnnnas")
        blob = (tmp_path / "c.gnnnas").read_bytes()
        Predictor.load(tmp_path / "c.gnnnas")  # format 4: loads
        with pytest.raises(CheckpointError, match=f"format 3 with conv='{conv}', whose messages were summed.*"
                                                  "fit the predictor again"):
            load_bytes(tmp_path, _with_version(blob, "3"))


def test_format_1_encoder_of_a_summing_conv_is_refused(toy, tmp_path):
    from gnnnas.nn.checkpoint import load_encoder

    fast = {"hidden_dim": 8, "num_layers": 1, "pretrain_archs": 16, "pretrain_epochs": 1, "epochs": 1}
    for conv, refused in (("gcn", False), ("resgated", True)):
        path = tmp_path / f"{conv}.safetensors"
        Predictor(conv=conv, pretrain="costs", **fast).pretrain_only().save_encoder(path)
        load_encoder(path)
        old = tmp_path / f"{conv}-v1.safetensors"
        old.write_bytes(_with_version(path.read_bytes(), "1"))
        if refused:
            with pytest.raises(CheckpointError, match="pre-trained encoder format 1 with conv='resgated'.*pre-train it again"):
                load_encoder(old)
        else:
            assert load_encoder(old).params == load_encoder(path).params
        future = tmp_path / f"{conv}-v9.safetensors"
        future.write_bytes(_with_version(path.read_bytes(), "9"))
        with pytest.raises(CheckpointError, match="pre-trained encoder format 9 .*reads formats 1 and 2; a newer "
                                                  "gnnnas wrote it: upgrade gnnnas"):
            load_encoder(future)
