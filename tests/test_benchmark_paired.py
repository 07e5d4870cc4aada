"""benchmarks/paired.py: the paired-by-seed summaries that benchmark tables and the README quote."""

import importlib.util
from pathlib import Path

import pytest
from scipy.stats import binomtest

SOURCE = Path(__file__).resolve().parents[1] / "benchmarks" / "paired.py"
if not SOURCE.is_file():
    pytest.skip("benchmarks/ is not in this tree (an installed sdist)", allow_module_level=True)
# loaded from its file, not by putting benchmarks/ on sys.path for every later test
_spec = importlib.util.spec_from_file_location("benchmarks_paired", SOURCE)
paired = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(paired)


def record(model, n, seed, tau):
    return {"model": model, "train_size": n, "seed": seed, "kendall_tau": tau, "test_size": 100, "fit_seconds": 1.0}


def test_overview_pools_every_size_and_seed_pair():
    records = [record("base", n, s, 0.5) for n in (10, 20) for s in range(3)]
    records += [record("up", 10, s, 0.6) for s in range(3)]  # 3 wins at 10
    records += [record("up", 20, 0, 0.4), record("up", 20, 1, 0.5), record("up", 20, 2, 0.7)]  # 1 win, 1 loss, 1 tie
    records += [record("up", 40, 0, 0.9)]  # no baseline at 40: not paired
    table, lines = paired.overview_rows({"P": records}, "base")
    row = table["P"]["up"]
    assert (row["pairs"], row["wins"], row["losses"]) == (6, 4, 1)
    assert row["diff_mean"] == pytest.approx((0.1 * 3 - 0.1 + 0 + 0.2) / 6)
    assert row["sign_p"] == pytest.approx(binomtest(4, 5).pvalue)  # ties leave the test
    assert "base" not in table["P"]
    # per seed, the mean over the sizes it ran: seed 0 (+.1 -.1) = 0, seed 1 (+.1 0) up, seed 2 (+.1 +.2) up
    assert (row["seeds_up"], row["seeds_down"]) == (2, 0)
    assert row["sign_p_seeds"] == pytest.approx(binomtest(2, 2).pvalue)
    assert any("10: +0.100 (3/0)" in line and "20: +0.033 (1/1)" in line and "40" not in line for line in lines)


def test_overview_leaves_out_models_with_no_paired_seed():
    records = [record("base", 10, 0, 0.5), record("other", 10, 1, 0.7)]
    table, lines = paired.overview_rows({"P": records}, "base")
    assert table == {} and len(lines) == 2  # the header only


def test_finetune_lr_rows_pair_each_scaled_variant_with_its_own_full_lr_start():
    """benchmarks/pretrain.py: `<variant>-enclr0.1` against `<variant>`, the plain default against
    the shipped start it fine-tunes, and nothing where the reference was not run."""
    spec = importlib.util.spec_from_file_location("benchmarks_pretrain", SOURCE.parent / "pretrain.py")
    pretrain = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pretrain)
    records = [record("gnnnas", 10, s, 0.50) for s in range(3)]  # the random start: not a reference here
    records += [record("gnnnas-pretrain-costs", 10, s, 0.60) for s in range(3)]
    records += [record("gnnnas-pretrain-costs-enclr0.1", 10, s, 0.70) for s in range(3)]
    records += [record("gnnnas-shipped-start", 10, s, 0.80) for s in range(2)]
    records += [record("gnnnas-enclr0.1", 10, s, 0.75) for s in range(3)]  # seed 2 has no shipped pair
    records += [record("gnnnas-pretrain-masked-enclr0.1", 10, 0, 0.9)]  # no full-lr masked run
    table, lines = pretrain.finetune_lr_rows({"P": records})
    costs, shipped = table["P"]["gnnnas-pretrain-costs-enclr0.1"], table["P"]["gnnnas-enclr0.1"]
    assert costs["reference"] == "gnnnas-pretrain-costs" and (costs["wins"], costs["losses"]) == (3, 0)
    assert costs["diff_mean"] == pytest.approx(0.1)
    assert shipped["reference"] == "gnnnas-shipped-start" and (shipped["pairs"], shipped["losses"]) == (2, 2)
    assert shipped["diff_mean"] == pytest.approx(-0.05)
    assert "gnnnas-pretrain-masked-enclr0.1" not in table["P"]
    assert len(lines) == 4 and "| gnnnas-enclr0.1 (vs gnnnas-shipped-start) |" in lines[2] + lines[3]
    assert pretrain.finetune_lr_rows({"P": records[:3]}) == ({}, [])
    apart = [record("gnnnas-pretrain-costs", 10, 0, 0.6), record("gnnnas-pretrain-costs-enclr0.1", 10, 1, 0.7)]
    assert pretrain.finetune_lr_rows({"P": apart}) == ({}, [])  # no seed ran both
