"""Self-describing co-speech model folders: ``write_model_folder`` after ``fit`` (config.json that
rebuilds the model, README.md model card), ``GesturePipeline.from_pretrained`` and its refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from beat2_fixtures import write_take
from gesturekit.cospeech.data.synthetic import make_synthetic_corpus
from gesturekit.cospeech.data.types import write_clip_folder
from gesturekit.cospeech.inference.pipeline import GesturePipeline
from gesturekit.cospeech.models import build_model
from gesturekit.cospeech.training.fit import FitConfig, ModelOptions, fit
from gesturekit.errors import FormatError
from gesturekit.model_card import LICENCES, dataset_of, write_model_folder
from gesturekit.train.logging import read_metrics_csv

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A small trained CC-NCE run with its model folder files written after ``fit``."""
    corpus = make_synthetic_corpus(n_train=4, n_dev=1, n_test=1, frames=64, seed=0)
    out = tmp_path_factory.mktemp("cc") / "ccnce-synth"
    mo = ModelOptions(d=16, cc_stat_epoch=0, curriculum_epochs=1.0, moco_queue=8)
    cfg = FitConfig(epochs=2, num_iters=2, batch_size=4, window=32, hop=16, num_clusters=3, min_epochs=0,
                    seed=3, model_options=mo)  # fmt: skip
    data = write_clip_folder(tmp_path_factory.mktemp("clips") / "synth", corpus)
    result = fit(cfg, data, None, out, device="cpu")
    evaluation = {
        "overall": {"L1": 0.5, "fgd": 12.25, "beat_consistency": 0.31},
        "meta": {
            "fgd_encoder": {"name": "gk-poseae-w32-z32-seed0-abcdef012345", "weights_sha256": "abcdef" * 4}
        },
    }
    write_model_folder(
        out, data="synthetic", speakers=["s0", "s1"], evaluations={"test": evaluation}, result=result
    )
    return out


def test_config_json_rebuilds_the_model(run: Path) -> None:
    config = json.loads((run / "config.json").read_text())
    assert config["model_type"] == "gesturekit-cospeech" and config["architecture"] == "ccnce"
    model = build_model(config["architecture"], config["model_kwargs"])  # config.json alone
    weights = {
        k[len("model.") :]: v for k, v in load_file(run / "model.safetensors").items() if k.startswith("model.")
    }
    sd = model.state_dict()
    assert sd.keys() == weights.keys()
    assert all(tuple(sd[k].shape) == v.shape for k, v in weights.items())
    model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
    assert config["fps"] == 15.0 and config["window"] == 32 and config["text_features"] == "synthetic"


def test_model_card(run: Path) -> None:
    card = (run / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: gesturekit\n")
    headings = [
        "Model",
        "Data",
        "Training config",
        "Results",
        "Licence of the training data",
        "Intended use and limits",
    ]
    for heading in headings:
        assert f"\n## {heading}\n" in card, heading
    assert "- speakers: s0, s1" in card and "```yaml\nmodel: ccnce\n" in card
    best = json.loads((run / "model.json").read_text())["meta"]["best_epoch"]
    rows = read_metrics_csv(run / "metrics.csv")
    dev_l1 = next(r["value"] for r in rows if r["split"] == "val" and r["name"] == "L1" and r["epoch"] == best)
    assert f"| dev | L1 | {dev_l1:.4g} |" in card
    assert "| test | fgd | 12.25 |" in card and "| test | beat_consistency | 0.31 |" in card
    assert "FGD encoder: test: `gk-poseae-w32-z32-seed0-abcdef012345`" in card
    assert LICENCES["synthetic"] in card and "Not evaluated on test" not in card


def test_from_pretrained_loads_the_same_model(run: Path) -> None:
    rng = np.random.default_rng(0)
    pipe = GesturePipeline.from_pretrained(run)
    ref = GesturePipeline.load(run)
    audio, text = rng.normal(size=(40, 64)).astype(np.float32), np.zeros((40, pipe.text_dim), np.float32)
    np.testing.assert_array_equal(pipe.from_features(audio, text), ref.from_features(audio, text))
    assert pipe.config is not None and pipe.config["architecture"] == "ccnce"


def copy_of(run: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "copy"
    shutil.copytree(run, dst)
    return dst


@pytest.mark.parametrize("missing", ["README.md", "config.json", "model.safetensors", "model.json"])
def test_a_folder_without_a_file_is_refused(run: Path, tmp_path: Path, missing: str) -> None:
    d = copy_of(run, tmp_path)
    (d / missing).unlink()
    with pytest.raises(FormatError) as err:
        GesturePipeline.from_pretrained(d)
    msg = str(err.value)
    assert msg.startswith(f"{d}: not a model folder: lacks {missing} (") and "\n" not in msg


def test_changed_files_are_refused(run: Path, tmp_path: Path) -> None:
    d = copy_of(run, tmp_path)
    record = json.loads((d / "model.json").read_text())
    record["meta"]["fps"] = 30.0
    (d / "model.json").write_text(json.dumps(record))
    with pytest.raises(FormatError, match=r"model.json: checksum differs from the one in config.json"):
        GesturePipeline.from_pretrained(d)
    d = copy_of(run, tmp_path / "b")
    blob = bytearray((d / "model.safetensors").read_bytes())
    blob[-1] ^= 1
    (d / "model.safetensors").write_bytes(bytes(blob))
    with pytest.raises(FormatError, match=r"model.safetensors: tensor file does not match its metadata"):
        GesturePipeline.from_pretrained(d)


def test_only_local_folders(tmp_path: Path, run: Path) -> None:
    with pytest.raises(
        FormatError, match="no such local folder; from_pretrained reads a local model folder only"
    ):
        GesturePipeline.from_pretrained("someone/some-model")
    with pytest.raises(FormatError, match="not a folder"):
        GesturePipeline.from_pretrained(run / "README.md")
    d = copy_of(run, tmp_path)
    config = json.loads((d / "config.json").read_text())
    (d / "config.json").write_text(json.dumps({**config, "model_type": "gesturekit-units"}))
    with pytest.raises(FormatError, match="model_type is 'gesturekit-units', expected 'gesturekit-cospeech'"):
        GesturePipeline.from_pretrained(d)


def test_beat2_model_card_states_the_terms(tmp_path: Path) -> None:
    write_take(tmp_path / "beat2", "2_scott_0_1_1", seconds=12.0)
    cfg = FitConfig(model="nearest-neighbour", window=16, hop=8, num_clusters=0, seed=1)
    fit(cfg, tmp_path / "beat2", "scott", tmp_path / "run", device="cpu")
    write_model_folder(tmp_path / "run", data=tmp_path / "beat2", speakers="scott")
    card = (tmp_path / "run" / "README.md").read_text()
    assert "license_name: beat2-non-commercial-research" in card and LICENCES["beat2"] in card
    assert "non-commercial research only" in card and "Not evaluated on test yet" in card
    assert "55 SMPL-X joint rotations" in card and "no root translation" in card
    assert GesturePipeline.from_pretrained(tmp_path / "run").pose_format.kind == "smplx6d"


def test_dataset_of() -> None:
    assert dataset_of({"pose_format": {"kind": "smplx6d"}}) == "beat2"
    assert dataset_of({"pose_format": {"kind": "pats"}, "text_features": "bert"}) == "pats"
    assert dataset_of({"pose_format": {"kind": "pats"}, "text_features": "synthetic"}) == "synthetic"
    assert dataset_of({"pose_format": {"kind": "vector"}, "text_features": "words"}) == "unknown"
    assert "non-commercial research only" in LICENCES["pats"]
