"""tools/check_dist.py: the release check that CI runs on the built wheel and sdist."""

import importlib.util
import io
import tarfile
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def check():
    spec = importlib.util.spec_from_file_location("check_dist", REPO / "tools" / "check_dist.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


METADATA = "Metadata-Version: 2.4\nName: gnnnas\nLicense-Expression: Apache-2.0\nRequires-Dist: torch>=2.1\n" \
           "Requires-Dist: nni>=3; extra == \"adapters\"\n"


def good_wheel_names():
    info = "gnnnas-0.1.0.dist-info"
    return ["gnnnas/__init__.py", "gnnnas/data/embedded/NOTICE",
            *(f"gnnnas/data/embedded/t{i}.npz" for i in range(6)),
            *(f"gnnnas/pretrained/{p.name}" for p in (REPO / "gnnnas" / "pretrained").glob("*.safetensors")),
            f"{info}/licenses/LICENSE", f"{info}/licenses/NOTICE", f"{info}/licenses/gnnnas/data/embedded/NOTICE"]


def write_wheel(path, names, metadata=METADATA):
    with zipfile.ZipFile(path, "w") as z:
        for name in names:
            z.writestr(name, "x")
        z.writestr("gnnnas-0.1.0.dist-info/METADATA", metadata)
    return path


def write_sdist(path, names):
    with tarfile.open(path, "w:gz") as tar:
        for name in names:
            info = tarfile.TarInfo(f"gnnnas-0.1.0/{name}")
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
    return path


def test_a_complete_wheel_and_sdist_pass(check, tmp_path):
    write_wheel(tmp_path / "gnnnas-0.1.0-py3-none-any.whl", good_wheel_names())
    write_sdist(tmp_path / "gnnnas-0.1.0.tar.gz", ["LICENSE", "NOTICE", "gnnnas/data/embedded/NOTICE",
                                                  "pyproject.toml", "README.md", "CHANGELOG.md", "tests/conftest.py",
                                                  "tools/check_dist.py"])
    assert check.wheel_problems(tmp_path / "gnnnas-0.1.0-py3-none-any.whl") == []
    assert check.sdist_problems(tmp_path / "gnnnas-0.1.0.tar.gz") == []


def test_the_distributions_hold_exactly_the_tracked_package_files(check, tmp_path):
    """A stale build output or an untracked scratch file is caught, and so is a tracked file
    that did not make it in (in the wheel and in the sdist, which pip builds the wheel from)."""
    tracked = check.package_files()
    assert "gnnnas/__init__.py" in tracked and "gnnnas/data/embedded/NOTICE" in tracked
    assert any(n.startswith("gnnnas/pretrained/") and n.endswith(".safetensors") for n in tracked)
    expected = set(good_wheel_names()[:-3])  # the package part
    names = [n for n in good_wheel_names() if n != "gnnnas/__init__.py"] + ["gnnnas/removed_module.py"]
    problems = check.wheel_problems(write_wheel(tmp_path / "w.whl", names), expected)
    assert "w.whl: missing gnnnas/__init__.py" in problems
    assert "w.whl: holds gnnnas/removed_module.py, which git does not track (stale build or scratch file)" in problems
    sdist = write_sdist(tmp_path / "s.tar.gz", ["LICENSE", "NOTICE", "gnnnas/data/embedded/NOTICE", "pyproject.toml",
                                               "README.md", "CHANGELOG.md", "tests/conftest.py", "tools/check_dist.py"])
    assert "s.tar.gz: missing gnnnas/__init__.py" in check.sdist_problems(sdist, expected)


@pytest.mark.parametrize("drop, add, message", [
    ("gnnnas-0.1.0.dist-info/licenses/LICENSE", None, "missing gnnnas-0.1.0.dist-info/licenses/LICENSE"),
    ("gnnnas/data/embedded/t0.npz", None, "5 embedded tables"),
    ("gnnnas/data/embedded/NOTICE", None, "missing gnnnas/data/embedded/NOTICE"),
    (None, "tests/test_predictor.py", "must not hold tests/test_predictor.py"),
    (None, "gnnnas/__pycache__/predictor.cpython-311.pyc", "must not hold gnnnas/__pycache__"),
    (None, "gnnnas/data/probes/nb201.npz", "must not hold gnnnas/data/probes"),
])
def test_wheel_rules(check, tmp_path, drop, add, message):
    names = [n for n in good_wheel_names() if n != drop] + ([add] if add else [])
    problems = check.wheel_problems(write_wheel(tmp_path / "gnnnas-0.1.0-py3-none-any.whl", names))
    assert any(message in p for p in problems), problems


def test_wheel_needs_the_shipped_encoders_and_a_light_core(check, tmp_path):
    shipped = [n for n in good_wheel_names() if n.startswith("gnnnas/pretrained/")]
    assert shipped, "gnnnas ships at least one pre-trained encoder"
    names = [n for n in good_wheel_names() if n not in shipped]
    heavy = METADATA + "Requires-Dist: matplotlib>=3.7\n"
    problems = check.wheel_problems(write_wheel(tmp_path / "gnnnas-0.1.0-py3-none-any.whl", names, heavy))
    assert any("no shipped pre-trained encoder" in p for p in problems), problems
    assert any("optional packages ['matplotlib>=3.7']" in p for p in problems), problems
    no_license = METADATA.replace("License-Expression: Apache-2.0\n", "")
    problems = check.wheel_problems(write_wheel(tmp_path / "b.whl", good_wheel_names(), no_license))
    assert problems == ["b.whl: METADATA has no 'License-Expression: Apache-2.0'"]


def test_sdist_rules(check, tmp_path):
    sdist = write_sdist(tmp_path / "gnnnas-0.1.0.tar.gz", ["NOTICE", "pyproject.toml", "README.md",
                                                          ".ci/venv/bin/python", "gnnnas/__pycache__/x.pyc"])
    problems = check.sdist_problems(sdist)
    assert "gnnnas-0.1.0.tar.gz: missing LICENSE" in problems
    assert "gnnnas-0.1.0.tar.gz: missing tests/conftest.py" in problems  # the sdist's tests must run
    assert any("must not hold .ci/venv/bin/python" in p for p in problems)
    assert any("must not hold gnnnas/__pycache__/x.pyc" in p for p in problems)
    assert check.main([str(tmp_path / "empty")]) == 1


def test_the_license_is_the_apache_text():
    text = (REPO / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
    assert 'license-files = ["LICENSE", "NOTICE", "gnnnas/data/embedded/NOTICE"]' in (REPO / "pyproject.toml").read_text()
