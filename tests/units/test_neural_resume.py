"""Exact resume of ``gesturekit units fit --method ae`` after SIGKILL, and no silent overwrite.

A tiny AE-CNMF run is killed with SIGKILL after it has written a mid-run training state,
continued with ``--resume``, and must end with the same weights, bit for bit, as an uninterrupted
run with the same seed (both in fresh processes, one thread each).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gesturekit.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[2]

TINY = [
    "--gestures", "4", "--width", "5", "--epochs", "12", "--val-fraction", "0.25", "--seed", "7",
    "--threads", "1", "--no-figures", "--normalize", "zscore",
    "--set", "net.kernels=[5,3]", "--set", "data.segment_len=60", "--set", "data.items_per_epoch=12",
    "--set", "train.batch_size=3", "--set", "train.checkpoint_every_steps=1", "--set", "train.progress=false",
    "--set", "train.patience=0", "--set", "init.max_windows=500", "--set", "init.iters=5",
]  # fmt: skip


def _popen(data: Path, out: Path, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), GESTUREKIT_QUIET="1")
    argv = [sys.executable, "-m", "gesturekit", "units", "fit", "--method", "ae", "--data", str(data)]
    return subprocess.Popen(
        [*argv, "--out", str(out), *TINY, *extra],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _latest_step(run: Path) -> int:
    try:
        return int(json.loads((run / "state" / "latest.json").read_text())["counters"]["step"])
    except (OSError, ValueError, KeyError):
        return -1


def _weights(path: Path) -> dict[str, np.ndarray]:
    tensors, _ = load_checkpoint(path, as_numpy=True)
    return tensors


def test_sigkill_then_resume_is_bit_identical(mngu0_dir, tmp_path):
    full, killed = tmp_path / "full", tmp_path / "killed"
    p_full = _popen(mngu0_dir, full)
    p_kill = _popen(mngu0_dir, killed)
    deadline = time.time() + 240
    while _latest_step(killed) < 9 and p_kill.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    assert p_kill.poll() is None, "the run ended before it could be killed: " + p_kill.stderr.read()
    os.kill(p_kill.pid, signal.SIGKILL)
    p_kill.wait()
    assert p_kill.returncode == -signal.SIGKILL
    at_kill = _latest_step(killed)
    assert 9 <= at_kill < 48  # mid-run: 12 epochs x 4 steps
    assert not (killed / "metrics.json").exists()

    p_res = _popen(mngu0_dir, killed, "--resume")
    assert p_res.wait(timeout=240) == 0, p_res.stderr.read()
    assert p_full.wait(timeout=240) == 0, p_full.stderr.read()
    assert _latest_step(killed) == _latest_step(full) == 48

    for name in ("model", "state/" + json.loads((full / "state/latest.json").read_text())["latest"]):
        a, b = _weights(full / name), _weights(killed / name)
        assert sorted(a) == sorted(b)
        for k in a:
            assert np.array_equal(a[k], b[k]), f"{name}: {k} differs after resume"
    fa = json.loads((full / "training.json").read_text())
    fb = json.loads((killed / "training.json").read_text())
    assert fa["best_epoch"] == fb["best_epoch"] and fa["best_value"] == fb["best_value"]


def test_existing_run_folder_is_never_overwritten_silently(mngu0_dir, cli, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    r = cli("units", "fit", "--method", "ae", "--data", str(mngu0_dir), "--out", str(out), *TINY)
    assert r.code == 1
    assert "--resume" in r.err and str(out) in r.err
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert (out / "notes.txt").read_text() == "mine"


def test_torchrun_two_process_gloo_run(mngu0_dir, tmp_path):
    """DDP on the CPU: 2 ranks split each epoch's batches; rank 0 writes the run folder; both exit cleanly."""
    import shutil

    torchrun = shutil.which("torchrun")
    if torchrun is None:
        pytest.skip("torchrun is not on PATH")
    out = tmp_path / "ddp"
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), GESTUREKIT_QUIET="1")
    argv = [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "gesturekit", "units", "fit"]
    argv += ["--method", "ae", "--data", str(mngu0_dir), "--out", str(out), *TINY]
    argv[argv.index("--epochs") + 1] = "2"
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # no rank may die at exit after training (issue 14: a live Gloo group at interpreter shutdown)
    assert "terminate called" not in proc.stderr and "SIGABRT" not in proc.stderr, proc.stderr[-3000:]
    summary = json.loads((out / "training.json").read_text())
    assert summary["epochs_run"] == 2
    assert summary["steps"] == 2 * 2  # 12 items / (3 per batch x 2 ranks) = 2 steps per epoch
    assert (out / "model.safetensors").exists() and (out / "metrics.json").exists()
