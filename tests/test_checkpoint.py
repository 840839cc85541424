from pathlib import Path

import numpy as np
import pytest
import torch

from gesturekit.checkpoint import load_checkpoint, save_checkpoint
from gesturekit.errors import ConfigError, FormatError
from gesturekit.fsutil import atomic_path, prepare_run_dir


def test_round_trip_torch_and_numpy(tmp_path: Path) -> None:
    t = {"w": torch.randn(3, 4), "step": torch.tensor(7)}
    save_checkpoint(tmp_path / "ckpt", t, {"epoch": 2, "name": "x"})
    back, meta = load_checkpoint(tmp_path / "ckpt")
    assert torch.equal(back["w"], t["w"]) and int(back["step"]) == 7
    assert meta == {"epoch": 2, "name": "x"}
    a = {"x": np.arange(6, dtype=np.float64).reshape(2, 3)}
    save_checkpoint(tmp_path / "arr", a)
    back, _ = load_checkpoint(tmp_path / "arr.safetensors", as_numpy=True)
    np.testing.assert_array_equal(back["x"], a["x"])


def test_tampered_tensor_file_is_detected(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "c", {"w": torch.zeros(2)})
    save_checkpoint(tmp_path / "d", {"w": torch.ones(2)})
    (tmp_path / "c.safetensors").write_bytes((tmp_path / "d.safetensors").read_bytes())
    with pytest.raises(FormatError, match="checksum"):
        load_checkpoint(tmp_path / "c")


def test_atomic_path_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_run_dir_is_never_overwritten_silently(tmp_path: Path) -> None:
    run = tmp_path / "run"
    prepare_run_dir(run)
    (run / "file").write_text("mine")
    with pytest.raises(ConfigError, match="--resume"):
        prepare_run_dir(run)
    assert prepare_run_dir(run, resume=True) == run
    with pytest.raises(ConfigError, match="does not exist"):
        prepare_run_dir(tmp_path / "nope", resume=True)


def test_atomic_writes_get_the_mode_a_plain_write_would(tmp_path):
    import os

    from gesturekit.fsutil import atomic_write_text

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        (tmp_path / "b.txt").write_text("x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == (tmp_path / "b.txt").stat().st_mode & 0o777 == 0o644
