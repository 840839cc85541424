"""``gesturekit cospeech evaluate | compare | fgd-train`` and the BEAT2 video check."""

from __future__ import annotations

import json

import numpy as np
import pytest

from evalfixtures import make_samples_file
from gesturekit.io.samples import read_samples, write_samples
from gesturekit.render.encode import probe

KEYS = ["l1", "pck", "fid", "w1_vel", "w1_acc", "diversity", "fgd", "beat_consistency"]


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    return make_samples_file(tmp_path_factory.mktemp("evalcli"), n_intervals=2, frames=90)


def test_evaluate_json_interface(samples, cli, tmp_path):
    r = cli("cospeech", "evaluate", samples, "--json", "--out", tmp_path / "eval.json")
    assert r.code == 0, r
    res = json.loads(r.out)
    assert set(res) >= {"overall", "per_speaker"}
    for block in [res["overall"], *res["per_speaker"].values()]:
        for k in KEYS:
            assert isinstance(block[k], float), (k, block[k])
    assert res["meta"]["fgd_encoder"]["seed"] == 0
    assert json.loads((tmp_path / "eval.json").read_text())["overall"] == res["overall"]
    again = cli("cospeech", "evaluate", samples, "--json", "--out", tmp_path / "eval.json")
    assert again.code == 1 and "--overwrite" in again.err
    table = cli("cospeech", "evaluate", samples)
    assert table.code == 0 and "overall" in table.out and "FGD encoder: gk-poseae-" in table.out


def test_fgd_train_then_evaluate_with_the_saved_encoder(samples, cli, tmp_path):
    r = cli("cospeech", "fgd-train", samples, "--out", tmp_path / "enc", "--epochs", "2")
    assert r.code == 0, r
    desc = json.loads(r.out.strip().splitlines()[-1])
    r2 = cli("cospeech", "fgd-train", samples, "--out", tmp_path / "enc2", "--epochs", "2")
    assert json.loads(r2.out.strip().splitlines()[-1])["weights_sha256"] == desc["weights_sha256"]
    ev = cli("cospeech", "evaluate", samples, "--json", "--fgd-encoder", tmp_path / "enc")
    assert ev.code == 0, ev
    assert json.loads(ev.out)["meta"]["fgd_encoder"]["name"] == desc["name"]


def test_compare_marks_the_best_model(samples, cli, tmp_path):
    s = read_samples(samples)
    for it in s.items:
        it.generated = it.ground_truth.copy()
    s.model = "perfect"
    perfect = write_samples(tmp_path / "perfect" / "samples.h5", s)
    for it in s.items:
        it.audio_path = str(samples.parent / it.audio_path)
    write_samples(perfect, s)
    r = cli("cospeech", "compare", samples, perfect.parent, "--json")
    assert r.code == 0, r
    table = json.loads(r.out)
    assert table["best"]["l1"] == ["perfect"] and table["best"]["pck"] == ["perfect"]
    row = {x["name"]: x for x in table["rows"]}
    assert row["perfect"]["l1"] == 0 and row["fixture"]["l1"] > 0
    # both files hold the same ground truth, so their FGD encoders are the same one, named once
    assert len(table["fgd_encoders"]) == 1 and table["fgd_comparable"]
    assert row["perfect"]["fgd_encoder"] == row["fixture"]["fgd_encoder"] == table["fgd_encoders"][0]
    text = cli("cospeech", "compare", samples, perfect.parent)
    assert text.code == 0 and "perfect" in text.out and "*" in text.out
    assert f"FGD encoder: {table['fgd_encoders'][0]}" in text.out
    bad = cli("cospeech", "compare", tmp_path / "nothing.json")
    assert bad.code == 1 and "nothing.json" in bad.err


def test_evaluate_reports_bad_files_in_one_line(cli, tmp_path):
    (tmp_path / "x.h5").write_bytes(b"garbage")
    r = cli("cospeech", "evaluate", tmp_path / "x.h5", "--json")
    assert r.code == 1 and "x.h5" in r.err and "Traceback" not in r.err


def test_beat2_video_duration_matches_its_audio(beat2_dir, tmp_path):
    from gesturekit.render.video import render_input

    out = render_input(beat2_dir / "2_scott_0_1_1.npz", tmp_path, text=True, size=160)
    video = probe(out[0])
    audio = probe(beat2_dir / "2_scott_0_1_1.wav")
    assert video.video_streams == 1 and video.audio_streams == 1
    assert video.video_codec == "h264" and video.audio_codec == "aac"
    assert abs(video.duration - audio.duration) <= 1 / 30
    listing = json.loads((tmp_path / "videos.json").read_text())["videos"][0]
    assert listing["transcript"].startswith("the first thing i like to do on weekends")
    assert np.isclose(listing["duration_s"], audio.duration, atol=1 / 30)


def test_compare_warns_when_fgd_encoders_differ(cli, tmp_path):
    for name, enc, fgd in (
        ("a", "gk-poseae-w32-z32-seed0-aaaa", 1.0),
        ("b", "gk-poseae-w32-z32-seed1-bbbb", 2.0),
    ):
        res = {"overall": {"l1": 1.0, "fgd": fgd}, "meta": {"model": name, "fgd_encoder": {"name": enc}}}
        (tmp_path / f"{name}.json").write_text(json.dumps(res))
    r = cli("cospeech", "compare", tmp_path / "a.json", tmp_path / "b.json")
    assert r.code == 0, r
    assert "NOT comparable" in r.out and "seed0-aaaa" in r.out and "seed1-bbbb" in r.out
    j = json.loads(cli("cospeech", "compare", tmp_path / "a.json", tmp_path / "b.json", "--json").out)
    assert not j["fgd_comparable"] and j["best"]["fgd"] == ["a"]


def test_evaluate_intervals_shorter_than_the_fgd_window(cli, tmp_path):
    short = make_samples_file(tmp_path, n_intervals=2, frames=20)  # 20 frames < the 32-frame FGD window
    r = cli("cospeech", "evaluate", short, "--json")
    assert r.code == 0, r
    res = json.loads(r.out)
    assert res["overall"]["fgd"] is None and res["meta"]["fgd_encoder"] is None
    assert "at least 32 frames" in res["meta"]["fgd_problem"]
    assert res["overall"]["l1"] > 0 and 0 < res["overall"]["pck"] <= 1  # the rest is still scored
    text = cli("cospeech", "evaluate", short)
    assert text.code == 0 and "no FGD" in text.out
