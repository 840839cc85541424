"""``units fit`` makes its run folder self-describing (config.json + README.md model card), and
``UnitModel.from_pretrained`` loads such a folder and refuses an incomplete or changed one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gesturekit.errors import FormatError
from gesturekit.io.nema import NEMA_CHANNELS
from gesturekit.units.cnmf_method import CNMFConfig
from gesturekit.units.methods import fit_run
from gesturekit.units.model import UnitModel
from gesturekit.units.synthetic import write_planted_nema

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("units")
    write_planted_nema(root / "data", seed=0)
    cfg = CNMFConfig(gestures=4, width=11, epochs=40, val_fraction=0.34, transform_max_iter=40, figures=False)
    fit_run([root / "data"], cfg, root / "run")
    return root / "run"


def test_fit_writes_config_and_card(run_dir: Path) -> None:
    config = json.loads((run_dir / "config.json").read_text())
    assert config["model_type"] == "gesturekit-units" and config["architecture"] == "cnmf"
    assert config["channels"] == NEMA_CHANNELS and config["rate_hz"] == 200.0
    assert (config["n_gestures"], config["width"]) == (4, 11) and config["tensors"]["gestures"] == [12, 4, 11]
    card = (run_dir / "README.md").read_text()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert f"| train | mean_channel_r | {metrics['train']['mean_channel_r']:.4g} |" in card
    assert f"| val | mean_channel_r | {metrics['val']['mean_channel_r']:.4g} |" in card
    assert "- split: 2 training and 1 validation files" in card and "```yaml\nmethod: cnmf\n" in card
    assert "## Licence of the training data" in card and "## Intended use and limits" in card


def test_from_pretrained(run_dir: Path) -> None:
    x = np.random.default_rng(0).normal(size=(300, 12)).astype(np.float32)
    a, b = UnitModel.from_pretrained(run_dir), UnitModel.load(run_dir)
    np.testing.assert_array_equal(a.encode(x), b.encode(x))


def test_from_pretrained_refuses(run_dir: Path, tmp_path: Path) -> None:
    import shutil

    d = tmp_path / "copy"
    shutil.copytree(run_dir, d)
    (d / "README.md").unlink()
    with pytest.raises(FormatError, match=r"not a model folder: lacks README.md"):
        UnitModel.from_pretrained(d)
    shutil.copy(run_dir / "README.md", d / "README.md")
    record = json.loads((d / "model.json").read_text())
    record["meta"]["rate_hz"] = 100.0
    (d / "model.json").write_text(json.dumps(record))
    with pytest.raises(FormatError, match="model.json: checksum differs"):
        UnitModel.from_pretrained(d)
    with pytest.raises(FormatError, match="nothing is downloaded"):
        UnitModel.from_pretrained(tmp_path / "org" / "name")
