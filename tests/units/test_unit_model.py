"""UnitModel run folders: save/load round trip, encode/decode in data units, registry dispatch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gesturekit.checkpoint import load_checkpoint
from gesturekit.errors import ConfigError, DataError
from gesturekit.io.nema import NEMA_CHANNELS
from gesturekit.records import EMARecording
from gesturekit.units.cnmf_method import CNMFConfig
from gesturekit.units.methods import fit_run, make_split
from gesturekit.units.model import UNIT_MODELS, UnitModel
from gesturekit.units.synthetic import write_planted_nema

pytestmark = pytest.mark.usefixtures("one_thread")


def write_corpus(folder: Path) -> list[Path]:
    """Signed, z-scored-like 12-channel nema files."""
    return write_planted_nema(folder, seed=0)[0]


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    files = write_corpus(tmp_path / "data")
    cfg = CNMFConfig(gestures=4, width=11, epochs=40, val_fraction=0.34, transform_max_iter=40, figures=False)
    fit_run([tmp_path / "data"], cfg, tmp_path / "run")
    assert len(files) == 3
    return tmp_path / "run"


def test_run_folder_contract(run_dir: Path) -> None:
    for name in ("config.yaml", "model.safetensors", "model.json", "metrics.json", "split.json"):
        assert (run_dir / name).is_file(), name
    tensors, meta = load_checkpoint(run_dir / "model", as_numpy=True)
    assert meta["method"] == "cnmf" and meta["channels"] == NEMA_CHANNELS and meta["rate_hz"] == 200.0
    assert meta["normalizer"]["method"] == "minmax" and meta["normalizer"]["nonneg_split"] is False
    assert tensors["gestures"].shape == (12, 4, 11)
    split = json.loads((run_dir / "split.json").read_text())
    assert len(split["train"]) == 2 and len(split["val"]) == 1 and not set(split["train"]) & set(split["val"])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["train"]["mean_channel_r"] > 0.8 and "val" in metrics


def test_load_encode_decode_in_data_units(run_dir: Path) -> None:
    model = UnitModel.load(run_dir)
    assert type(model) is UNIT_MODELS["cnmf"] and model.n_gestures == 4 and model.width == 11
    split = json.loads((run_dir / "split.json").read_text())
    x = np.load(split["train"][0]).astype(np.float32)
    rec = EMARecording(x, 200.0, list(NEMA_CHANNELS), units="z")
    h = model.encode(rec)
    assert h.shape == (4, len(x)) and h.min() >= 0
    np.testing.assert_allclose(model.encode(x), h, rtol=1e-5, atol=1e-6)  # array or record
    y = model.decode(h)
    assert y.shape == x.shape
    r = np.mean([np.corrcoef(x[:, c], y[:, c])[0, 1] for c in range(12)])
    assert r > 0.8  # data units: de-normalised
    assert abs(float(y.mean() - x.mean())) < 0.3 * float(x.std())
    # a record with channels in another order is reordered, not misread
    perm = list(reversed(range(12)))
    rec2 = EMARecording(x[:, perm], 200.0, [NEMA_CHANNELS[i] for i in perm])
    np.testing.assert_allclose(model.encode(rec2), h, rtol=1e-5, atol=1e-6)


def test_bad_inputs_are_clear_errors(run_dir: Path, tmp_path: Path) -> None:
    model = UnitModel.load(run_dir)
    x = np.zeros((50, 12), np.float32)
    with pytest.raises(DataError, match="Hz"):
        model.encode(EMARecording(x, 100.0, list(NEMA_CHANNELS)))
    with pytest.raises(DataError, match="shape"):
        model.encode(np.zeros((50, 5)))
    bad = x.copy()
    bad[3, 2] = np.nan
    with pytest.raises(DataError, match="NaN"):
        model.encode(bad)
    with pytest.raises(DataError, match="scores"):
        model.decode(np.zeros((3, 10)))
    meta = json.loads((run_dir / "model.json").read_text())
    meta["meta"]["method"] = "nosuch"
    (run_dir / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match="unknown method"):
        UnitModel.load(run_dir)


def test_split_is_reproducible() -> None:
    files = [Path(f"f{i}.npy") for i in range(8)]
    a, b = make_split(files, 0.25, 3), make_split(list(reversed(files)), 0.25, 3)
    assert a == b and len(a["val"]) == 2
    with pytest.raises(ConfigError):
        make_split(files[:1], 0.5, 0)
