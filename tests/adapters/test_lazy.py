"""Importing gnnnas or gnnnas.adapters imports none of NASLib, Archai, NNI."""

from __future__ import annotations

import subprocess
import sys

import pytest

import gnnnas.adapters

CHECK = """
import sys
import gnnnas, gnnnas.adapters
from gnnnas.adapters import ArrayEncoding, NASLibPredictor
loaded = sorted({m.split('.')[0] for m in sys.modules} & {'naslib', 'archai', 'nni', 'overrides'})
print(loaded)
"""


def test_no_optional_package_is_imported():
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, check=True,
                         timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_lazy_names():
    assert set(gnnnas.adapters.__all__) <= set(dir(gnnnas.adapters))
    assert gnnnas.adapters.ArrayEncoding.__module__ == "gnnnas.adapters.encoding"
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        gnnnas.adapters.Nope  # noqa: B018
