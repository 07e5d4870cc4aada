import struct

import pytest

from gnnnas.data.formats import FormatError
from gnnnas.data.formats.crc32c import crc32c, masked_crc32c
from gnnnas.data.formats.tfrecord import iter_records, parse_example, write_records


def test_crc32c_known_vectors_and_chaining():
    # RFC 3720 (iSCSI) test vectors for CRC-32C
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(bytes(32)) == 0x8A9136AA
    assert crc32c(b"\xff" * 32) == 0x62A8AB43
    assert crc32c(bytes(range(32))) == 0x46DD794E
    data = bytes(range(256)) * 5
    assert crc32c(data) == crc32c(data[123:], crc32c(data[:123]))
    crc = crc32c(b"abc")
    assert masked_crc32c(b"abc") == ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def test_crc_matches_tensorboard_when_available():
    tb = pytest.importorskip("tensorboard.compat.tensorflow_stub.pywrap_tensorflow")
    for data in (b"", b"x", b"hello tfrecord" * 7):
        assert masked_crc32c(data) == tb.masked_crc32c(data)


def test_roundtrip_and_framing(tmp_path):
    records = [b"", b"a", b"\x00" * 1000, "ünïcode".encode()]
    path = tmp_path / "x.tfrecord"
    assert write_records(path, records) == 4
    assert list(iter_records(path)) == records
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    assert length == 0 and struct.unpack("<I", raw[8:12])[0] == masked_crc32c(raw[:8])
    assert len(raw) == sum(16 + len(r) for r in records)


def test_truncated_file_names_record_and_offset(tmp_path):
    path = tmp_path / "x.tfrecord"
    write_records(path, [b"first", b"second record"])
    raw = path.read_bytes()
    for cut in (len(raw) - 1, len(raw) - 10, 21 + 5 + 3):
        path.write_bytes(raw[:cut])
        with pytest.raises(FormatError, match=r"record 1.*byte offset 21.*truncated"):
            list(iter_records(path))


def test_corrupted_data_and_length(tmp_path):
    path = tmp_path / "x.tfrecord"
    write_records(path, [b"first", b"second record"])
    raw = bytearray(path.read_bytes())
    raw[21 + 12 + 2] ^= 0x01  # a bit in record 1's data
    path.write_bytes(bytes(raw))
    with pytest.raises(FormatError, match="record 1.*data CRC mismatch"):
        list(iter_records(path))
    assert len(list(iter_records(path, check_crc=False))) == 2  # checks can be skipped
    raw = bytearray(path.read_bytes())
    raw[0] ^= 0x40  # record 0's length
    path.write_bytes(bytes(raw))
    with pytest.raises(FormatError, match="record 0.*length CRC mismatch"):
        list(iter_records(path))


def test_not_a_tfrecord(tmp_path):
    path = tmp_path / "x.tfrecord"
    path.write_bytes(b"this is a text file, not a TFRecord at all\n" * 3)
    with pytest.raises(FormatError, match="length CRC mismatch"):
        list(iter_records(path))


def test_parse_example_against_protobuf_runtime():
    pytest.importorskip("google.protobuf")
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    fd = descriptor_pb2.FileDescriptorProto(name="ex.proto", package="t", syntax="proto3")
    for name, number, kind in (("BytesList", 1, 12), ("FloatList", 2, 2), ("Int64List", 3, 3)):
        msg = fd.message_type.add(name=name)
        msg.field.add(name="value", number=1, type=kind, label=3)
    feature = fd.message_type.add(name="Feature")
    for name, number in (("bytes_list", 1), ("float_list", 2), ("int64_list", 3)):
        feature.field.add(name=name, number=number, type=11, label=1, type_name=f".t.{name.title().replace('_', '')}")
    features = fd.message_type.add(name="Features")
    entry = features.nested_type.add(name="FeatureEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=9, label=1)
    entry.field.add(name="value", number=2, type=11, label=1, type_name=".t.Feature")
    features.field.add(name="feature", number=1, type=11, label=3, type_name=".t.Features.FeatureEntry")
    example = fd.message_type.add(name="Example")
    example.field.add(name="features", number=1, type=11, label=1, type_name=".t.Features")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    Example = message_factory.GetMessageClass(pool.FindMessageTypeByName("t.Example"))
    ex = Example()
    ex.features.feature["name"].bytes_list.value.extend([b"a", b"bc"])
    ex.features.feature["acc"].float_list.value.extend([0.5, 0.25])
    ex.features.feature["n"].int64_list.value.extend([3, -7, 1 << 40])
    parsed = parse_example(ex.SerializeToString())
    assert parsed == {"name": [b"a", b"bc"], "acc": [0.5, 0.25], "n": [3, -7, 1 << 40]}
