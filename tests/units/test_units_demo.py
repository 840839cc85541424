"""The units step of ``gesturekit demo`` (real mngu0 sample, and the planted fallback)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gesturekit.units import demo


def _check(result: dict, out: Path) -> None:
    assert result["summary"].startswith("cnmf on ")
    run = Path(result["run_dir"])
    assert (run / "model.safetensors").exists() and (run / "metrics.json").exists()
    names = sorted(Path(p).name for p in result["figures"])
    assert len(names) == 3 and names[0] == "gestures.png"
    assert names[1].startswith("reconstruction_") and names[2].startswith("scores_")
    for p in result["figures"]:
        assert Path(p).read_bytes()[:4] == b"\x89PNG" and Path(p).parent == run / "figures"
    assert str(run).startswith(str(out))


def test_demo_step_on_mngu0(mngu0_dir: Path, tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    result = demo.step(tmp_path / "units", seed=0, quick=True)
    assert torch.get_num_threads() == threads  # the step leaves the process's setting alone
    assert result["source"] == "mngu0 (8 utterances)"
    assert result["train_mean_channel_r"] >= 0.95 and result["val_mean_channel_r"] >= 0.9
    _check(result, tmp_path / "units")


def test_demo_step_without_real_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(demo, "find_mngu0", lambda: None)
    result = demo.step(tmp_path / "units", seed=0, quick=True)
    assert result["source"].startswith("planted corpus")
    assert 0.5 < result["train_mean_channel_r"] <= 1.0
    _check(result, tmp_path / "units")
