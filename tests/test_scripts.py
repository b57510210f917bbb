"""The scripts in scripts/ import (their project imports are current) and read through the
catalog, not from paths of their own."""

import importlib
import sys

import pytest

from tests.conftest import ROOT

SCRIPTS = sorted(p.stem for p in (ROOT / "scripts").glob("*.py") if not p.stem.startswith("_"))


@pytest.mark.parametrize("name", SCRIPTS)
def test_a_script_imports_and_opens_no_data_file_itself(name, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    importlib.import_module(name)
    source = (ROOT / "scripts" / f"{name}.py").read_text()
    assert "pickle.load" not in source and ".pkl\"" not in source and "catalog_" not in source
    sys.modules.pop(name, None)


def test_the_catalog_of_a_data_folder_points_there(tmp_path):
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from _project import catalog
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    assert str(tmp_path) in str(catalog(str(tmp_path)).load("tying.re.checkpoints").folder)
