"""The skip messages of tests/conftest.py tell the user what to do, and nothing already done."""

from __future__ import annotations

import conftest
import pytest


@pytest.fixture()
def no_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)


def _skip_reason(call) -> str:
    with pytest.raises(pytest.skip.Exception) as info:
        call()
    return str(info.value)


def test_data_missing_in_the_given_directory(no_ci, monkeypatch, tmp_path):
    monkeypatch.setattr(conftest, "_DATA_ENV", str(tmp_path))
    reason = _skip_reason(lambda: conftest.need_data("nb201/absent.csv"))
    assert "nb201/absent.csv" in reason and f"not found in GNNNAS_DATA={tmp_path}" in reason
    assert "set GNNNAS_DATA" not in reason  # it is set: saying to set it would mislead


def test_data_missing_and_variable_unset(no_ci, monkeypatch):
    monkeypatch.setattr(conftest, "_DATA_ENV", None)
    reason = _skip_reason(lambda: conftest.need_data("nb201/absent.csv"))
    assert "nb201/absent.csv" in reason and "GNNNAS_DATA is not set" in reason
    assert "set GNNNAS_DATA to the directory" in reason
    assert str(conftest.REPO.parent / "shared" / "data") in reason


def test_data_present_is_the_root(no_ci, monkeypatch, tmp_path):
    (tmp_path / "x.csv").write_text("a\n")
    monkeypatch.setattr(conftest, "_DATA_ENV", str(tmp_path))
    assert conftest.need_data("x.csv") == tmp_path


def test_module_skip_names_the_install_command(no_ci):
    reason = _skip_reason(lambda: conftest.need_module("nni_absent_for_test", 'pip install "gnnnas[nni]"'))
    assert "nni_absent_for_test is not installed" in reason and 'pip install "gnnnas[nni]"' in reason
    # without an explicit command, the extra of a known optional package, else the package
    assert conftest.INSTALL["archai"] == 'pip install "gnnnas[archai]"'
    reason = _skip_reason(lambda: conftest.need_module("surely_not_a_module.sub"))
    assert "pip install surely_not_a_module" in reason


def test_ci_fails_instead_of_skipping(monkeypatch, tmp_path):
    monkeypatch.setenv("CI", "true")
    monkeypatch.setattr(conftest, "_DATA_ENV", str(tmp_path))
    with pytest.raises(pytest.fail.Exception, match="not found in GNNNAS_DATA"):
        conftest.need_data("absent.csv")
    with pytest.raises(pytest.fail.Exception, match="is not installed"):
        conftest.need_module("surely_not_a_module")
