"""Real NB201 archs shared by the adapter tests: 60 to fit on, 300 held out."""

from __future__ import annotations

import numpy as np
import pytest

import gnnnas


@pytest.fixture(scope="package")
def tiny():
    """Predictor parameters small enough for a fit of 60 archs in well under a second."""
    return {"epochs": 20, "hidden_dim": 32, "num_layers": 2, "seed": 0}


@pytest.fixture(scope="package")
def nb201(data_root):
    root = data_root("nb201/nb201_test_acc_200ep.csv")
    return gnnnas.load_benchmark("nb201", data_dir=root)


@pytest.fixture(scope="package")
def split(nb201):
    """Indices of 60 training and 300 held-out archs (seeded)."""
    perm = np.random.default_rng(0).permutation(len(nb201.archs))
    return perm[:60], perm[60:360]
