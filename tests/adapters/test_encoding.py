"""ArrayEncoding: fixed width per space, decode(encode(a)) == a on real benchmark archs."""

from __future__ import annotations

import numpy as np
import pytest

import gnnnas
from gnnnas.adapters import ArrayEncoding
from gnnnas.adapters.encoding import DEFAULT_MAX_NODES

BENCHMARKS = [
    ("nb201", "nb201", ("nb201/nb201_test_acc_200ep.csv",)),
    ("nb101_500", "nb101", ("nb101/nb101_500_valid_acc.json",)),
    ("darts", "darts", ("nb301/nb301_725_valid_acc.json",)),
    ("vit", "vit", ("vit/autoformer_ti_100a.json", "vit/autoformer_ti_100b.json")),
]


@pytest.mark.parametrize(("benchmark", "space", "files"), BENCHMARKS)
def test_round_trip_real_archs(data_root, benchmark, space, files):
    bench = gnnnas.load_benchmark(benchmark, data_dir=data_root(*files))
    archs = bench.archs if len(bench.archs) <= 2000 else bench.archs[::7]
    enc = ArrayEncoding(space)
    x = enc.encode(archs)
    assert x.shape == (len(archs), enc.width) == (len(archs), len(enc.columns))
    assert x.dtype == np.float64 and np.all(np.isfinite(x))
    back = enc.decode(x)
    assert back == list(archs)  # ops, edges, cells, node features and macro values, exactly
    assert [hash(a) for a in back] == [hash(a) for a in archs]
    # distinct archs get distinct rows; one row decodes on its own
    assert len({row.tobytes() for row in x}) == len(set(archs))
    assert enc.decode(x[3]) == [archs[3]]


def test_native_encodings_and_width_fixed_per_space(data_root):
    bench = gnnnas.load_benchmark("nb201", data_dir=data_root("nb201/nb201_test_acc_200ep.csv"))
    enc = ArrayEncoding("nb201")
    np.testing.assert_array_equal(enc.encode(bench.encodings[:20]), enc.encode(bench.archs[:20]))
    # NB201: 1 + 8 labels + 8 * 7 adjacency bits + 9 macro values
    assert enc.width == 1 + 8 + 56 + len(bench.archs[0].macro)
    nb101 = ArrayEncoding("nb101")
    small = gnnnas.get_space("nb101").parse(([[0, 1], [0, 0]], ["input", "output"]))
    assert nb101.encode([small]).shape == (1, nb101.width)  # 2 nodes, padded to 7
    assert nb101.decode(nb101.encode([small])) == [small]
    assert set(DEFAULT_MAX_NODES) <= set(gnnnas.list_spaces())


def test_bad_input_errors():
    enc = ArrayEncoding("nb201")
    row = enc.encode([gnnnas.get_space("nb201").sample(0)])
    with pytest.raises(ValueError, match=r"shape \[n, 74\]"):
        enc.decode(row[:, :-1])
    bad = row.copy()
    bad[0, 1] = 99
    with pytest.raises(ValueError, match="row 0: label ids must lie in 0..7"):
        enc.decode(bad)
    bad = row.copy()
    bad[0, 0] = 1.5
    with pytest.raises(ValueError, match="num_nodes must be an integer"):
        enc.decode(bad)
    bad = row.copy()
    bad[0, enc.columns.index("edge_0_1")] = 0.5
    with pytest.raises(ValueError, match="adjacency bits must be 0 or 1"):
        enc.decode(bad)
    bad = row.copy()
    bad[0, enc.columns.index("edge_1_0")] = 1  # rows are checked like any ArchGraph
    with pytest.raises(ValueError, match=r"row 0: edge \(1, 0\) enters input node 0"):
        enc.decode(bad)
    with pytest.raises(ValueError, match="arch 0: NB201 arch string needs 3"):
        enc.encode(["|nor_conv_3x3~0|"])
    with pytest.raises(ValueError, match="more than max_nodes=4"):
        ArrayEncoding("nb201", max_nodes=4).encode([gnnnas.get_space("nb201").sample(0)])
    with pytest.raises(ValueError, match="max_nodes must be an integer >= 2"):
        ArrayEncoding("nb201", max_nodes=1)
    with pytest.raises(ValueError, match="a sequence"):
        enc.encode(gnnnas.get_space("nb201").sample(0))
