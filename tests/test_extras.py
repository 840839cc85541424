"""Optional dependencies: a feature whose extra is missing says, in one line, which extra to install;
without Numba the units take the torch path."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO
from gesturekit.extras import MissingExtraError
from gesturekit.skeleton import PATS


def test_writing_a_pats_word_table_without_pandas_names_the_pats_extra(monkeypatch, tmp_path) -> None:
    from gesturekit.io.pats_write import write_pats_interval

    monkeypatch.setitem(sys.modules, "pandas", None)  # `import pandas` now fails as if not installed
    streams = {"pose/data": np.zeros((4, 104), np.float32)}
    assert write_pats_interval(tmp_path / "arrays.h5", streams).exists()  # arrays alone need no pandas
    with pytest.raises(MissingExtraError) as exc:
        write_pats_interval(tmp_path / "words.h5", streams, [("hello", 0, 3)])
    msg = str(exc.value)
    assert "\n" not in msg and msg.endswith("pip install gesturekit[pats]") and "pandas" in msg
    assert isinstance(exc.value, ImportError) and not (tmp_path / "words.h5").exists()


def test_rendering_without_imageio_ffmpeg_is_one_cli_line_naming_the_render_extra(cli, monkeypatch, tmp_path):
    rng = np.random.default_rng(0)
    poses = rng.normal(0, 50, (8, len(PATS.joints), 2))
    npz = tmp_path / "poses.npz"
    np.savez(npz, poses=poses, fps=15.0, joint_names=PATS.joints, parents=PATS.parents)
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    r = cli("cospeech", "render", npz, "--size", "64", "--out", tmp_path / "videos")
    assert r.code == 1
    (line,) = r.err.strip().splitlines()
    assert line.startswith("gesturekit: error: ") and line.endswith("pip install gesturekit[render]")


def test_without_numba_units_say_so_once_and_train_and_encode_on_the_torch_path() -> None:
    code = """
import sys
sys.modules["numba"] = None  # as if numba were not installed
from gesturekit.runtime import setup_logging
setup_logging(0)
import numpy as np, torch
from gesturekit.units.ops import Inference, _kernels
from gesturekit.units.neural.objective import compiled_step
from gesturekit.units.neural.config import LossConfig
from gesturekit.units.neural.data import make_batch
from gesturekit.units.neural.models import NetConfig, build_net
from gesturekit.units.neural.objective import training_objective
assert not _kernels.AVAILABLE and not _kernels.ENABLED
torch.manual_seed(0)
net = build_net("ae", 4, NetConfig(gestures=5, width=3, kernels=[3]))
rng = np.random.default_rng(0)
batch = make_batch([rng.standard_normal((n, 4)).astype(np.float32) for n in (20, 11)])
assert not compiled_step(net, net, batch)
loss, _ = training_objective(net, net, batch, LossConfig())
loss.backward()
assert all(p.grad is not None for p in net.decoder.parameters())
x = torch.randn(1, 4, 30)
with torch.no_grad():
    fast = Inference(net.encoder.layers(), net.decoder.gestures(), net.decoder.centre).encode(x[0].T.numpy())
    assert np.allclose(fast, net.encode(x)[0].numpy(), rtol=1e-5, atol=1e-6)
print("torch path ok")
"""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "GESTUREKIT_FUSED": "1"}
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                       timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip() == "torch path ok"
    notes = [ln for ln in r.stderr.splitlines() if "numba" in ln]
    assert len(notes) == 1 and notes[0].endswith("(pip install gesturekit[fast])"), r.stderr
