"""``gesturekit ema info`` (the exact JSON interface, errors, exit codes) and ``ema convert``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli_subprocess
from ema_fixtures import smooth_ema
from gesturekit.features.normalize import Normalizer
from gesturekit.io import read_ema
from gesturekit.io.convert import load_converted
from gesturekit.io.corpus import load_split, make_split, open_corpus

REQUIRED = {
    "path": str, "format": str, "speaker": str, "rate_hz": float, "frames": int, "channels": list,
    "units": str, "n_words": int, "n_phones": int,
}  # fmt: skip


def test_info_json_on_all_mngu0_files(cli, mngu0_dir: Path) -> None:
    files = sorted(mngu0_dir.glob("*.npy"))
    r = cli("ema", "info", *files, "--json")
    assert r.code == 0, r
    out = json.loads(r.out)
    assert isinstance(out, list) and len(out) == 8
    for obj, f in zip(out, files, strict=True):
        for key, typ in REQUIRED.items():
            assert isinstance(obj[key], typ), (key, obj[key])
        assert obj["path"] == str(f) and obj["format"] == "nema-npy" and obj["speaker"] == "mngu0"
        assert obj["rate_hz"] == 200.0 and obj["units"] == "z" and obj["audio_rate_hz"] == 16000
        assert obj["frames"] == np.load(f).shape[0] and len(obj["channels"]) == 12
        assert obj["n_words"] == 0 and obj["n_phones"] == 0 and obj["nan_samples"] == 0


def test_info_json_mocha(cli, mocha_dir: Path) -> None:
    r = cli("ema", "info", mocha_dir / "fsew0_001.ema", "--json")
    (obj,) = json.loads(r.out)
    assert r.code == 0
    assert obj["frames"] == 966 and obj["rate_hz"] == 500.0 and obj["units"] == "mm"
    assert obj["n_phones"] == 18 and obj["audio_rate_hz"] == 16000 and obj["speaker"] == "fsew0"
    assert obj["format"] == "mocha-ascii" and "v_x" in obj["channels"]


def test_info_without_audio_gives_null_and_text_mode(cli, tmp_path: Path) -> None:
    np.save(tmp_path / "solo.npy", smooth_ema(100, 12))
    r = cli("ema", "info", tmp_path / "solo.npy", "--json")
    (obj,) = json.loads(r.out)
    assert r.code == 0 and obj["audio_rate_hz"] is None and obj["speaker"] is None
    r = cli("ema", "info", tmp_path / "solo.npy")
    assert r.code == 0 and "100 frames at 200 Hz" in r.out and "no audio" in r.out


def test_info_reports_nan_and_inf(cli, tmp_path: Path) -> None:
    x = smooth_ema(100, 12)
    x[10:13, 4] = np.nan
    x[50, 9] = np.inf
    np.save(tmp_path / "holes.npy", x)
    r = cli("ema", "info", tmp_path / "holes.npy", "--json")
    (obj,) = json.loads(r.out)
    assert r.code == 0
    assert obj["nan_samples"] == 3 and obj["inf_samples"] == 1
    assert obj["nonfinite_channels"] == {"tt_x": 3, "ul_y": 1}
    r = cli("ema", "info", tmp_path / "holes.npy")
    assert r.code == 0 and "WARNING: 4 non-finite samples (3 NaN, 1 inf) in tt_x (3), ul_y (1)" in r.out
    r = cli("ema", "info", tmp_path / "holes.npy", "--nan-policy", "error")
    assert r.code == 1 and "holes.npy" in r.err
    r = cli("ema", "info", tmp_path / "holes.npy", "--nan-policy", "interpolate", "--json")
    (obj,) = json.loads(r.out)
    assert r.code == 0 and obj["nan_samples"] == 0 and "interpolated 4" in obj["repairs"][0]


def test_info_malformed_file_one_line_no_traceback(tmp_path: Path, mngu0_dir: Path) -> None:
    bad = tmp_path / "broken.ema"
    bad.write_text("1 2 3 4 5 6 7 8 9 10 11 12\n1 2 3\n")
    good = mngu0_dir / "mngu0_s1_0008.npy"
    r = run_cli_subprocess("ema", "info", good, bad, tmp_path / "missing.ema", "--json")
    assert r.code == 1 and "Traceback" not in r.err
    lines = r.err.strip().splitlines()
    assert len(lines) == 2
    assert str(bad) in lines[0] and "truncated last line 2" in lines[0]
    assert "missing.ema" in lines[1] and "not found" in lines[1]
    out = json.loads(r.out)  # every file is reported, the good one in full
    assert [o["path"] for o in out] == [str(good), str(bad), str(tmp_path / "missing.ema")]
    assert out[0]["frames"] == 1269 and "error" in out[1] and "error" in out[2]


def test_convert_round_trip(cli, mngu0_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "corpus"
    r = cli("ema", "convert", mngu0_dir, "--out", out, "--normalize", "zscore", "--seed", "3", "--json")
    assert r.code == 0, r
    summary = json.loads(r.out)
    assert summary["utterances"] == 8 and summary["split"] == {"train": 6, "validation": 1, "test": 1}
    arrays, meta = load_converted(out)
    assert meta["rate_hz"] == 200.0 and meta["units"] == "z" and meta["input_channels"][0] == "td_x"
    norm = Normalizer.from_dict(meta["normalizer"])
    split = load_split(out / "split.json")
    assert split.parts == make_split(open_corpus(mngu0_dir), (0.8, 0.1, 0.1), seed=3).parts
    train = []
    for arr, e in zip(arrays, meta["utterances"], strict=True):
        orig = read_ema(e["source"]).data
        assert arr.shape == orig.shape and arr.dtype == np.float32
        assert np.allclose(norm.inverse_transform(arr), orig, atol=1e-4)  # invertible
        if e["split"] == "train":
            train.append(arr)
    allx = np.concatenate(train)  # statistics come from the training part only
    assert np.allclose(allx.mean(0), 0, atol=1e-4) and np.allclose(allx.std(0), 1, atol=1e-3)


def test_convert_refuses_to_overwrite_and_is_atomic(
    cli, mngu0_dir: Path, mocha_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    r = cli("ema", "convert", mngu0_dir, "--out", out)
    assert r.code == 1 and "not empty" in r.err and (out / "notes.txt").read_text() == "keep me"
    # a failing conversion (z units mixed with mm) leaves nothing behind
    fresh = tmp_path / "fresh"
    r = cli("ema", "convert", mngu0_dir, mocha_dir, "--out", fresh, "--rate", "200",
            "--channels", "td_x,td_y,tb_x,tb_y,tt_x,tt_y,li_x,li_y,ul_x,ul_y,ll_x,ll_y")  # fmt: skip
    assert r.code == 1 and "different units" in r.err
    assert not fresh.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["mine"]
    r = cli("ema", "convert", mngu0_dir, "--out", out, "--overwrite", "--normalize", "minmax", "--nonneg-split")
    assert r.code == 0 and not (out / "notes.txt").exists()
    arrays, meta = load_converted(out)
    assert meta["channels"][:2] == ["td_x+", "td_x-"] and arrays[0].shape[1] == 24
    assert min(a.min() for a in arrays) >= 0


def test_convert_mocha_resampled_speaker_filter(cli, mngu0_dir: Path, mocha_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "m"
    r = cli("ema", "convert", mngu0_dir, mocha_dir, "--speaker", "fsew0", "--rate", "200", "--out", out,
            "--normalize", "none", "--split", "1,0,0")  # fmt: skip
    assert r.code == 0, r
    arrays, meta = load_converted(out)
    assert len(arrays) == 1 and meta["speakers"] == ["fsew0"] and meta["rate_hz"] == 200.0
    assert arrays[0].shape == (387, 20) and meta["units"] == "mm"


def test_split_command_never_writes_a_read_only_corpus_and_saves_where_told(
    cli, mngu0_dir: Path, tmp_path: Path, read_only_copy
) -> None:
    ro = read_only_copy(mngu0_dir)  # the real files in a folder this test makes read-only
    before = sorted(p.name for p in ro.iterdir())
    r = cli("ema", "split", ro, "--seed", "4")
    assert r.code == 0 and "not saved" in r.out and "read-only" in r.out
    assert sorted(p.name for p in ro.iterdir()) == before
    r = cli("ema", "split", mngu0_dir, "--seed", "4", "--save", tmp_path / "s.json", "--json")
    assert r.code == 0
    saved = json.loads((tmp_path / "s.json").read_text())
    assert saved["train"] == json.loads(r.out)["train"]
    assert saved["test"] == make_split(open_corpus(mngu0_dir), (0.8, 0.1, 0.1), seed=4).parts["test"]
    r = cli("ema", "split", mngu0_dir, "--seed", "5", "--save", tmp_path / "s.json")
    assert r.code == 1 and "different split" in r.err


def test_convert_cmu_tree_per_speaker_zscore(cli, tmp_path: Path) -> None:
    from ema_fixtures import write_cmu_speaker

    root = tmp_path / "emadata"
    write_cmu_speaker(root, "aaa0", {f"aaa0_{i:03d}": 80 for i in range(6)}, seed=0)
    write_cmu_speaker(root, "bbb0", {f"bbb0_{i:03d}": 90 for i in range(6)}, seed=50)
    out = tmp_path / "z"
    r = cli("ema", "convert", root, "--out", out, "--normalize-by", "speaker", "--split", "0.5,0.25,0.25")
    assert r.code == 0, r
    arrays, meta = load_converted(out)
    assert meta["normalizer"] is None and sorted(meta["normalizers"]) == ["aaa0", "bbb0"]
    assert meta["speakers"] == ["aaa0", "bbb0"] and len(arrays) == 12
    for spk in ("aaa0", "bbb0"):
        train = [a for a, e in zip(arrays, meta["utterances"], strict=True)
                 if e["speaker"] == spk and e["split"] == "train"]  # fmt: skip
        assert len(train) == 3
        assert np.allclose(np.concatenate(train).mean(0), 0, atol=1e-4)
        norm = Normalizer.from_dict(meta["normalizers"][spk])
        e0 = next(e for e in meta["utterances"] if e["speaker"] == spk)
        back = norm.inverse_transform(arrays[meta["utterances"].index(e0)])
        assert np.allclose(back, np.loadtxt(e0["source"]), atol=1e-4)


def test_info_reports_an_audio_mismatch_of_any_size_and_never_refuses_it(cli, tmp_path: Path) -> None:
    from ema_fixtures import write_hprc_mat, write_wav

    small = tmp_path / "F01_B01_S01_R01_N.mat"
    write_hprc_mat(small, 270, 2.685)  # the real HPRC file of issue 15: audio 15 ms short
    large = tmp_path / "F01_B01_S02_R01_N.mat"
    write_hprc_mat(large, 300, 2.0)
    np.save(tmp_path / "u_1.npy", smooth_ema(400, 12))  # 2.0 s, its wav 5 ms longer
    write_wav(tmp_path / "u_1.wav", 2.005)
    r = cli("ema", "info", small, large, tmp_path / "u_1.npy", "--json")
    assert r.code == 0, r
    a, b, c = json.loads(r.out)
    # described as stored: all frames, the mismatch in its own field, no repair
    assert a["frames"] == 270 and b["frames"] == 300 and a["repairs"] == [] and b["repairs"] == []
    mm = a["audio_mismatch"]
    assert mm["audio_source"] == f"the AUDIO element of {small}"
    assert mm["kind"] == "small" and mm["shortfall_s"] == pytest.approx(0.015, abs=1e-4)
    assert (
        mm["shortfall_frames"] == pytest.approx(1.5, abs=0.01)
        and mm["default_read"] == "EMA trimmed to 268 frames"
    )
    assert mm["ema_s"] == 2.7 and mm["audio_s"] == a["audio_duration_s"]
    assert b["audio_mismatch"]["kind"] == "large" and b["audio_mismatch"]["shortfall_s"] == pytest.approx(1.0)
    assert b["audio_mismatch"]["default_read"].startswith("refused")
    assert c["audio_mismatch"]["kind"] == "none" and c["audio_mismatch"]["shortfall_s"] == pytest.approx(-0.005)
    assert c["audio_mismatch"]["audio_source"] == str(tmp_path / "u_1.wav")
    # the text form says it too, once per file
    r = cli("ema", "info", small, large)
    assert r.code == 0, r
    assert r.out.count("audio mismatch: the AUDIO element of") == 2 and "ends 15.0 ms" in r.out
    assert "repaired" not in r.out
    # a reader at default settings accepts the small one and refuses the large one
    assert read_ema(small).frames == 268
    assert cli("ema", "convert", large, "--out", tmp_path / "conv").code == 1
