"""Rasteriser, text, MP4 encoding with sound, and the render command."""

from __future__ import annotations

import json

import numpy as np
import pytest

from beat2_fixtures import write_textgrid
from evalfixtures import FPS, click_audio, make_samples_file, moving_poses
from gesturekit.errors import ConfigError, FormatError
from gesturekit.io.audio import write_audio
from gesturekit.records import Segment
from gesturekit.render import raster, text
from gesturekit.render.encode import probe
from gesturekit.render.video import render_input
from gesturekit.skeleton import PATS


def test_segment_pixels_exact():
    buf = raster.padded_frames(2, 20, 30, pad=0)
    start = np.array([[[5.0, 10.0]], [[3.0, 2.0]]])
    end = np.array([[[15.0, 10.0]], [[3.0, 12.0]]])
    raster.draw_segments(buf, start, end, np.array([[255, 0, 0]], dtype=np.uint8), thickness=1)
    red = (buf[..., 0] == 255) & (buf[..., 1] == 0)
    assert set(zip(*np.nonzero(red[0]), strict=True)) == {(10, x) for x in range(5, 16)}
    assert set(zip(*np.nonzero(red[1]), strict=True)) == {(y, 3) for y in range(2, 13)}


def test_thick_strokes_and_off_frame_points_stay_in_the_padding():
    img = raster.draw_skeletons(
        np.array([[[10.0, 10.0], [10.0, 30.0], [500.0, -400.0], [900.0, 800.0], [np.nan, 5.0]]]),
        np.array([[1, 0], [3, 2], [4, 0]]), np.zeros((3, 3), dtype=np.uint8), 40, 40, thickness=3,
    )  # fmt: skip
    dark = img[0, ..., 0] == 0
    assert dark[10:31, 9:12].all()  # 3 px wide vertical stroke
    assert dark.sum() == dark[9:32, 8:13].sum()  # off-frame and NaN bones draw nothing visible


def test_vectorised_batch_equals_one_frame_at_a_time():
    poses = moving_poses(12, seed=3)[:, :, :] + 200
    bones, cols = PATS.bones(), raster.bone_colors(PATS.joints, PATS.bones())
    batch = raster.draw_skeletons(poses, bones, cols, 400, 400)
    single = np.concatenate([raster.draw_skeletons(poses[i : i + 1], bones, cols, 400, 400) for i in range(12)])
    drawn_b, drawn_s = (batch != 255).any(-1), (single != 255).any(-1)
    assert np.array_equal(drawn_b, drawn_s)  # the same pixels are drawn
    same = (batch == single).all(-1)[drawn_b]
    assert same.mean() > 0.99  # colours may differ only where bones of two colours overlap
    assert (batch != 255).any(axis=-1).sum(axis=(1, 2)).min() > 500  # something is drawn in every frame


def test_subtitles_highlight_the_spoken_word():
    words = [
        Segment("one", 0.0, 0.5),
        Segment("two", 0.5, 1.0),
        Segment("", 1.0, 1.2),
        Segment("three", 1.2, 2.0),
    ]
    keys = text.subtitle_keys(words, np.array([0.2, 0.7, 1.5, 9.0]))
    assert ("one", True) in keys[0] and ("two", False) in keys[0]
    assert ("two", True) in keys[1]
    assert ("three", True) in keys[2]
    assert keys[3] == ()
    alpha, hi = text.text_mask(keys[1])
    assert alpha.max() > 0.9 and hi.any() and not hi.all()


def test_render_samples_with_audio_and_text(tmp_path, cli):
    path = make_samples_file(tmp_path / "data", n_intervals=3, frames=60)
    r = cli("cospeech", "render", path, "--out", tmp_path / "vid", "--text", "--intervals", "2")
    assert r.code == 0, r
    vids = sorted((tmp_path / "vid").glob("*.mp4"))
    assert [v.name for v in vids] == ["oliver_int000.mp4", "seth_int001.mp4"]
    info = probe(vids[0], count_frames=True)
    assert info.video_streams == 1 and info.audio_streams == 1
    assert info.video_codec == "h264" and info.audio_codec == "aac"
    assert info.frames == 60
    audio = probe(tmp_path / "data" / "int0.wav")
    assert abs(info.duration - audio.duration) <= 1 / FPS
    index = json.loads((tmp_path / "vid" / "videos.json").read_text())
    assert index["videos"][0]["transcript"] == "hello world again"
    again = cli("cospeech", "render", path, "--out", tmp_path / "vid")
    assert again.code == 1 and "--overwrite" in again.err


def test_render_poses_npz_holds_the_last_pose_to_match_longer_audio(tmp_path):
    poses = moving_poses(45, seed=2)  # 3.0 s of poses
    np.savez(
        tmp_path / "poses.npz", poses=poses, fps=FPS, joint_names=np.array(PATS.joints), parents=PATS.parents
    )
    write_audio(tmp_path / "talk.wav", click_audio(3.5, [1.0, 2.0]))  # 3.5 s of audio
    out = render_input(tmp_path / "poses.npz", tmp_path / "v", audio=tmp_path / "talk.wav")
    info = probe(out[0], count_frames=True)
    assert info.audio_streams == 1 and info.video_streams == 1
    assert info.frames == round(3.5 * FPS)
    assert abs(info.duration - 3.5) <= 1 / FPS


def test_render_rejects_bad_input(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, poses=np.zeros((5, 3, 2)), fps=15.0, joint_names=np.array(["a", "b"]), parents=[-1, 0])
    with pytest.raises(FormatError, match=r"poses must be \(frames, 2"):
        render_input(bad, tmp_path / "o")
    with pytest.raises(FormatError, match="lacks poses"):
        np.savez(tmp_path / "x.npz", a=np.zeros(3))
        render_input(tmp_path / "x.npz", tmp_path / "o")
    np.savez(
        tmp_path / "p.npz",
        poses=moving_poses(5),
        fps=FPS,
        joint_names=np.array(PATS.joints),
        parents=PATS.parents,
    )
    with pytest.raises(ConfigError, match="even"):
        render_input(tmp_path / "p.npz", tmp_path / "o", size=401)


def _red_in_subtitle_strip(path, frame_index, size=400):
    import imageio_ffmpeg

    gen = imageio_ffmpeg.read_frames(str(path))
    meta = next(gen)
    w, h = meta["size"]
    for i, raw in enumerate(gen):
        if i == frame_index:
            img = np.frombuffer(raw, dtype=np.uint8).reshape(h, w, 3).astype(int)
            strip = img[size - 30 :]
            gen.close()
            return int(((strip[..., 0] > 150) & (strip[..., 1] < 90) & (strip[..., 2] < 90)).sum())
    raise AssertionError("frame not found")


def test_render_cli_poses_npz_with_audio_and_its_transcript(tmp_path, cli):
    """The exact interface: ``cospeech render poses.npz --audio WAV --text --out DIR``."""
    np.savez(  # the layout `cospeech generate` writes
        tmp_path / "poses.npz", poses=moving_poses(30, seed=5), fps=np.float32(FPS),
        joint_names=np.array(PATS.joints), parents=np.array(PATS.parents, dtype=np.int64),
    )  # fmt: skip
    write_audio(tmp_path / "talk.wav", click_audio(2.2, [0.5, 1.5]))
    words = [("", 0, 0.3), ("hello", 0.3, 1.0), ("", 1.0, 1.4), ("there", 1.4, 2.2)]
    write_textgrid(tmp_path / "talk.TextGrid", words)
    r = cli("cospeech", "render", tmp_path / "poses.npz", "--audio", tmp_path / "talk.wav", "--text",
            "--out", tmp_path / "v")  # fmt: skip
    assert r.code == 0, r
    video = tmp_path / "v" / "poses.mp4"
    assert r.out.strip() == str(video)
    info = probe(video, count_frames=True)
    assert info.video_streams == 1 and info.audio_streams == 1
    assert abs(info.duration - 2.2) <= 1 / FPS and info.frames == round(2.2 * FPS)
    assert json.loads((tmp_path / "v" / "videos.json").read_text())["videos"][0]["transcript"] == "hello there"
    assert _red_in_subtitle_strip(video, 9) > 20  # 0.6 s: "hello" is spoken, drawn in red
    assert _red_in_subtitle_strip(video, 18) == 0  # 1.2 s: a pause, no word is red
    plain = cli("cospeech", "render", tmp_path / "poses.npz", "--out", tmp_path / "p")
    assert plain.code == 0 and probe(tmp_path / "p" / "poses.mp4").audio_streams == 0


def test_pats_format_interval_video_matches_its_mp3(tmp_path):
    """A PATS-layout corpus (processed/ h5 + raw/<speaker>_cropped/<id>.mp3): the video lasts as long
    as the interval's audio, to within one frame, with a video and an audio stream."""
    import subprocess

    from gesturekit.io.pats import PatsCorpus, read_pats_interval
    from gesturekit.io.pats_write import make_synthetic_pats
    from gesturekit.io.samples import SampleItem, Samples, write_samples
    from gesturekit.render.encode import ffmpeg_exe
    from gesturekit.skeleton import pats_flat_to_joints

    root = make_synthetic_pats(tmp_path / "pats" / "data", speakers=("oliver",), n_per_speaker=2,
                               seconds=(3.0, 4.0), n_missing=0)  # fmt: skip
    iv = PatsCorpus(root).intervals()[0]
    clip = read_pats_interval(iv.path, speaker=iv.speaker)
    gt = pats_flat_to_joints(clip.streams["pose/data"])
    seconds = len(gt) / 15.0  # the cropped interval audio spans the interval's pose frames
    mp3 = root / "raw" / "oliver_cropped" / f"{iv.interval_id}.mp3"
    mp3.parent.mkdir(parents=True)
    write_audio(tmp_path / "a.wav", click_audio(seconds, [0.5, 1.5, 2.5]))
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", tmp_path / "a.wav", mp3], check=True)
    iv = PatsCorpus(root).intervals()[0]
    assert iv.audio_path == mp3
    gen = gt + np.random.default_rng(0).normal(0, 5, gt.shape)
    item = SampleItem(iv.interval_id, iv.speaker, gen.astype(np.float32), gt.astype(np.float32),
                      audio_path=str(iv.audio_path), words=list(clip.words.segments))  # fmt: skip
    samples = write_samples(tmp_path / "s" / "samples.h5", Samples([item], 15.0, PATS, "px"))
    out = render_input(samples, tmp_path / "v", text=True, size=200)
    video, audio = probe(out[0], count_frames=True), probe(mp3)
    assert video.video_streams == 1 and video.audio_streams == 1 and audio.audio_streams == 1
    assert abs(video.duration - audio.duration) <= 1 / 15.0
    assert video.frames == round(audio.duration * 15.0)
    listing = json.loads((tmp_path / "v" / "videos.json").read_text())["videos"][0]
    assert listing["transcript"] == " ".join(w.label for w in clip.words.segments if w.label.strip())


def test_subtitle_lines_are_fitted_to_the_frame_width():
    sentence = "the first thing i like to do on weekends is relaxing and i think"
    line = tuple((w, w == "relaxing") for w in sentence.split())
    wide, _ = text.text_mask(line, 16)
    assert wide.shape[1] > 200
    alpha, hi = text.fit_line(line, 192)
    assert alpha.shape[1] <= 192 and hi.any()  # the spoken word survives the trimming
    assert text.fit_line(line, 2000)[0].shape == wide.shape  # a line that fits is left as it is
    short = text.fit_line((("short", True), ("line", False)), 192, size=16)[0]
    assert short.shape == text.text_mask((("short", True), ("line", False)), 16)[0].shape
