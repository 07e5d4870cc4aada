import pytest

from gnnnas.data.formats.protobuf import ProtobufError, decode_model_metrics, encode_model_metrics


def _model_metrics_class():
    pytest.importorskip("google.protobuf")
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    # nasbench/lib/model_metrics.proto, field numbers and types as published
    fd = descriptor_pb2.FileDescriptorProto(name="model_metrics.proto", package="nasbench", syntax="proto2")
    ev = fd.message_type.add(name="EvaluationData")
    for number, name in enumerate(
        ["current_epoch", "training_time", "train_accuracy", "validation_accuracy", "test_accuracy"], 1
    ):
        ev.field.add(name=name, number=number, type=1, label=1)
    ev.field.add(name="checkpoint_path", number=6, type=9, label=1)
    mm = fd.message_type.add(name="ModelMetrics")
    mm.field.add(name="evaluation_data", number=1, type=11, label=3, type_name=".nasbench.EvaluationData")
    mm.field.add(name="trainable_parameters", number=2, type=5, label=1)
    mm.field.add(name="total_time", number=3, type=1, label=1)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("nasbench.ModelMetrics"))


def test_decoder_reads_what_protobuf_writes():
    ModelMetrics = _model_metrics_class()
    m = ModelMetrics(trainable_parameters=2_694_282, total_time=1769.1)
    for epoch, acc in ((0, 0.1), (54, 0.8), (108, 0.93)):
        e = m.evaluation_data.add(current_epoch=epoch, training_time=epoch * 10.0, train_accuracy=acc,
                                  validation_accuracy=acc - 0.01, test_accuracy=acc - 0.02)
    e.checkpoint_path = "gs://bucket/model.ckpt-1"
    out = decode_model_metrics(m.SerializeToString())
    assert out["trainable_parameters"] == 2_694_282 and out["total_time"] == 1769.1
    assert [ev["current_epoch"] for ev in out["evaluation_data"]] == [0, 54, 108]
    assert out["evaluation_data"][2]["test_accuracy"] == pytest.approx(0.91)
    assert out["evaluation_data"][2]["checkpoint_path"] == "gs://bucket/model.ckpt-1"


def test_encoder_is_read_by_protobuf():
    ModelMetrics = _model_metrics_class()
    data = encode_model_metrics([{"current_epoch": 4.0, "validation_accuracy": 0.5}], 1234, 9.5)
    m = ModelMetrics.FromString(data)
    assert m.trainable_parameters == 1234 and m.total_time == 9.5
    assert m.evaluation_data[0].validation_accuracy == 0.5


def test_malformed_bytes():
    data = encode_model_metrics([{"current_epoch": 4.0}], 1, 1.0)
    with pytest.raises(ProtobufError):
        decode_model_metrics(data[:-3])
    with pytest.raises(ProtobufError, match="wire type"):
        decode_model_metrics(b"\x0f")
