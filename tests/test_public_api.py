"""The top-level API: every name in ``gesturekit.__all__`` imports, and ``import gesturekit`` stays light."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import gesturekit
from conftest import REPO


@pytest.mark.parametrize("name", gesturekit.__all__)
def test_every_exported_name_imports(name: str) -> None:
    value = getattr(gesturekit, name)
    if name == "__version__":
        assert value == gesturekit.__version__
        return
    module, _, attr = gesturekit._TARGETS[name].partition(":")  # a wrong module path fails here
    assert value is getattr(importlib.import_module(module), attr)


def test_the_names_a_user_reaches_for() -> None:
    from gesturekit import ConvNMF, GesturePipeline, UnitModel, read_ema

    assert ConvNMF.__name__ == "ConvNMF" and UnitModel.__name__ == "UnitModel"
    assert GesturePipeline.__name__ == "GesturePipeline" and callable(read_ema)
    assert len(set(gesturekit.__all__)) == len(gesturekit.__all__)
    assert set(gesturekit.__all__) <= set(dir(gesturekit))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'ConvNMFF'"):
        gesturekit.ConvNMFF  # noqa: B018
    with pytest.raises(ImportError):
        exec("from gesturekit import ConvNMFF", {})


def test_import_gesturekit_loads_no_torch() -> None:
    code = "import sys, gesturekit; print(sorted(m for m in ('torch', 'numpy', 'scipy') if m in sys.modules))"
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
                       env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
