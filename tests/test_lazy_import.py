"""``import gnnnas`` and ``gnnnas --help`` load no torch; every public name still resolves."""

import subprocess
import sys

import pytest

import gnnnas

HEAVY = ("torch", "torch_geometric", "numpy", "scipy", "sklearn")


def _modules_after(code: str) -> set[str]:
    # the module names go to stderr: stdout holds help text, which may mention torch
    err = subprocess.run([sys.executable, "-c", f"{code}\nimport sys; print(' '.join(sys.modules), file=sys.stderr)"],
                         capture_output=True, text=True, check=True).stderr
    return set(err.split())


@pytest.mark.parametrize("code", [
    "import gnnnas",
    "import gnnnas.cli; gnnnas.cli.build_parser()",
    "import gnnnas.cli\ntry:\n    gnnnas.cli.main(['--help'])\nexcept SystemExit:\n    pass",
    "import gnnnas.cli\ntry:\n    gnnnas.cli.main(['bench', '--help'])\nexcept SystemExit:\n    pass",
])
def test_no_heavy_import(code):
    loaded = _modules_after(code)
    assert not [m for m in HEAVY if m in loaded]


def test_help_answers_through_the_module_entry_point():
    result = subprocess.run([sys.executable, "-m", "gnnnas", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for command in ("bench", "train", "predict", "score", "search", "data", "info"):
        assert command in result.stdout


@pytest.mark.parametrize("name", sorted(set(gnnnas.__all__) - {"__version__"}))
def test_every_public_name_resolves(name):
    assert getattr(gnnnas, name) is getattr(gnnnas, name)
    assert name in dir(gnnnas)


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Predicter'"):
        gnnnas.Predicter  # noqa: B018
