"""Every EMA reader on fixture files the tests write, including broken ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from ema_fixtures import (
    est_header,
    hprc_struct,
    smooth_ema,
    write_cmu_speaker,
    write_hprc_mat,
    write_mocha_ema,
    write_wav,
)
from gesturekit.errors import ConfigError, DataError, FormatError
from gesturekit.io import detect_ema_format, read_ema
from gesturekit.io.est import write_est_track
from gesturekit.io.nema import NEMA_CHANNELS
from gesturekit.io.xrmb import XRMB_CHANNELS

# ------------------------------------------------------------------------------- nema text


def test_nema_text_cmu_layout_with_stats_audio_labels_prompt(tmp_path: Path) -> None:
    spk = write_cmu_speaker(tmp_path, "abc0", {"abc0_001": 400})
    path = spk / "nema" / "abc0_001.ema"
    assert detect_ema_format(path) == "nema-text"
    rec = read_ema(path)
    expected = np.loadtxt(path)
    assert rec.format == "nema-text" and rec.speaker == "abc0" and rec.units == "z"
    assert rec.frames == 400 and rec.rate_hz == 200.0 and rec.channels == NEMA_CHANNELS
    assert np.allclose(rec.data, expected, atol=1e-6)
    assert rec.audio is not None and rec.audio.rate_hz == 16000
    assert rec.prompt == "Prompt number 0 for abc0."
    # festival .lab: end times after the '#' line, each segment starts where the last ended
    assert rec.phones.labels() == ["pau", "hh", "ay"]
    assert rec.phones.segments[0].start == 0.0
    assert rec.phones.segments[1].start == pytest.approx(0.4) and rec.phones.segments[2].end == pytest.approx(
        2.0
    )
    # ema.stats undoes the z-scoring, channel by channel
    stats = np.loadtxt(spk / "ema.stats")
    mm = rec.destandardized()
    assert mm.units == "mm"
    assert np.allclose(mm.data, expected * stats[:, 1] + stats[:, 0], atol=1e-4)
    sub = rec.select(["ll_y", "td_x"]).destandardized()
    assert np.allclose(sub.data[:, 0], expected[:, 11] * stats[11, 1] + stats[11, 0], atol=1e-4)


def test_nema_text_equals_npy_of_the_same_data(tmp_path: Path, mngu0_dir: Path) -> None:
    arr = np.load(mngu0_dir / "mngu0_s1_0017.npy")
    np.savetxt(tmp_path / "mngu0_s1_0017.ema", arr, fmt="%.7f")
    a = read_ema(tmp_path / "mngu0_s1_0017.ema")
    b = read_ema(mngu0_dir / "mngu0_s1_0017.npy")
    assert a.format == "nema-text" and b.format == "nema-npy"
    assert np.allclose(a.data, b.data, atol=1e-6) and a.frames == 850


def test_bad_ema_stats_is_an_error(tmp_path: Path) -> None:
    np.savetxt(tmp_path / "u.ema", smooth_ema(50, 12), fmt="%.5f")
    (tmp_path / "ema.stats").write_text("0 1\n0 1\n")
    with pytest.raises(FormatError, match=r"ema.stats.*2 'mean std' lines, expected 12"):
        read_ema(tmp_path / "u.ema")


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("", "empty"),
        ("1 2 3 4 5 6 7 8 9 10 11 12 13\n" * 3, "13 columns.*nema text has 12.*MOCHA ASCII 22"),
        ("hello world\n1 2\n", "unknown header 'hello world'"),
        ("1 2 3 4 5 6 7 8 9 10 11 12\n" * 3 + "1 2 3 4 5 6 7 8 9 10 11\n" + "1 2 3 4 5 6 7 8 9 10 11 12\n",
         "ragged line 4: 11 values, expected 12"),
        ("1 2 3 4 5 6 7 8 9 10 11 12\n" * 3 + "1 2 3 4 5", "truncated last line 4: 5 values"),
        ("1 2 3 4 5 6 7 8 9 10 11 12\n" + "1 2 3 4 5 x 7 8 9 10 11 12\n", "line 2: 'x' is not a number"),
    ],
)  # fmt: skip
def test_broken_text_ema_files_name_the_file_and_problem(tmp_path: Path, text: str, pattern: str) -> None:
    path = tmp_path / "broken.ema"
    path.write_text(text)
    with pytest.raises(FormatError, match=pattern) as exc:
        read_ema(path)
    assert str(path) in str(exc.value)


def test_unknown_binary_header_and_suffix(tmp_path: Path) -> None:
    (tmp_path / "x.ema").write_bytes(b"\x00\x01GARBAGE" * 20)
    with pytest.raises(FormatError, match="unknown binary header"):
        read_ema(tmp_path / "x.ema")
    (tmp_path / "x.csv").write_text("1,2\n")
    with pytest.raises(FormatError, match="not a recognised EMA format"):
        read_ema(tmp_path / "x.csv")
    (tmp_path / "bad.npy").write_bytes(b"\x93NUMPY\x01\x00garbage")
    with pytest.raises(FormatError, match="bad.npy"):
        read_ema(tmp_path / "bad.npy")
    np.save(tmp_path / "wide.npy", np.zeros((10, 13)))
    with pytest.raises(FormatError, match=r"\(frames, 12\); this one is \(10, 13\)"):
        read_ema(tmp_path / "wide.npy")


# ----------------------------------------------------------------------------------- NaN


def _with_nans(tmp_path: Path) -> Path:
    x = smooth_ema(200, 12)
    x[50:54, 2] = np.nan  # a 4-frame run (20 ms)
    x[100:140, 5] = np.nan  # a 40-frame run (200 ms)
    x[10, 7] = np.inf
    np.save(tmp_path / "gaps.npy", x)
    return tmp_path / "gaps.npy"


def test_nan_policy_report_error_interpolate(tmp_path: Path) -> None:
    path = _with_nans(tmp_path)
    rec = read_ema(path)  # report: kept and counted
    assert rec.nan_report() == {"tb_x": 4, "tt_y": 40, "li_y": 1}
    with pytest.raises(
        DataError, match=r"45 NaN/infinite samples \(tb_x: 4, tt_y: 40, li_y: 1; longest run 40"
    ):
        read_ema(path, nan_policy="error")
    fixed = read_ema(path, nan_policy="interpolate", max_nan_gap=0.05)
    assert fixed.nan_report() == {"tt_y": 40}  # the long run is left missing, and said so
    assert (
        "interpolated 5 missing samples" in fixed.repairs[0] and "40 samples in longer runs" in fixed.repairs[0]
    )
    truth = smooth_ema(200, 12)
    assert np.allclose(fixed.data[50:54, 2], truth[50:54, 2], atol=0.02)  # linear fill of a smooth curve
    with pytest.raises(ConfigError, match="nan_policy"):
        read_ema(path, nan_policy="drop")
    with pytest.raises(ConfigError, match="unknown EMA read option"):
        read_ema(path, nan_polcy="error")


# -------------------------------------------------------------------------- audio length


def test_audio_shorter_than_ema_is_an_error_or_a_chosen_trim(tmp_path: Path) -> None:
    np.save(tmp_path / "u_01.npy", smooth_ema(400, 12))  # 2.0 s
    write_wav(tmp_path / "u_01.wav", 1.5)
    with pytest.raises(DataError, match=r"u_01.wav lasts 1.500 s but the EMA lasts 2.000 s"):
        read_ema(tmp_path / "u_01.npy")
    rec = read_ema(tmp_path / "u_01.npy", audio_policy="trim")
    assert rec.frames == 300 and "trimmed to 300 frames" in rec.repairs[0]
    kept = read_ema(tmp_path / "u_01.npy", audio_policy="keep")
    assert kept.frames == 400 and "kept" in kept.repairs[0]
    bare = read_ema(tmp_path / "u_01.npy", attach=False)
    assert bare.audio is None and bare.frames == 400


def _short_audio_file(tmp_path: Path, fmt: str, short_s: float) -> tuple[Path, float, str]:
    """An EMA file of ``fmt`` whose audio ends ``short_s`` before it; (path, rate, audio source)."""
    if fmt == "hprc":  # 270 frames at 100 Hz, the audio in the .mat's AUDIO element
        path = tmp_path / "F01_B01_S01_R01_N.mat"
        write_hprc_mat(path, 270, 2.7 - short_s)
        return path, 100.0, f"the AUDIO element of {path}"
    if fmt == "npy":  # mngu0: 1000 frames at 200 Hz, a 16 kHz wav beside it
        path = tmp_path / "mngu0_s1_0001.npy"
        np.save(path, smooth_ema(1000, 12))
        write_wav(path.with_suffix(".wav"), 5.0 - short_s)
        return path, 200.0, str(path.with_suffix(".wav"))
    path = tmp_path / "fsew0_001.ema"  # MOCHA: 1000 frames at 500 Hz, a wav beside it
    write_mocha_ema(path, 1000)
    write_wav(path.with_suffix(".wav"), 2.0 - short_s)
    return path, 500.0, str(path.with_suffix(".wav"))


@pytest.mark.parametrize("fmt", ["hprc", "npy", "mocha"])
def test_audio_a_frame_or_two_short_is_trimmed_and_recorded_by_default(tmp_path: Path, fmt: str) -> None:
    # HPRC: the real case of issue 15 (270 frames, audio 2.685 s); the others: 15 ms short
    path, rate, source = _short_audio_file(tmp_path, fmt, 0.015)
    bare = read_ema(path, audio_policy="keep")  # the file as stored (HPRC's audio is inside it)
    rec = read_ema(path)
    keep = int(np.floor(rec.audio.duration * rate + 1e-9))
    assert keep < bare.frames and rec.frames == keep
    assert np.array_equal(rec.data, bare.data[:keep])
    if fmt == "hprc":
        assert keep == 268 and rec.extra["orientation"].shape[0] == 268  # side arrays follow
    (note,) = rec.repairs
    assert note.startswith(
        f"audio {source} lasts {rec.audio.duration:.3f} s but the EMA lasts {bare.duration:.3f} s"
    )
    assert f"EMA trimmed to {keep} frames" in note
    # the same with an explicit trim; 'keep' keeps any shortfall, recorded
    assert read_ema(path, audio_policy="trim").frames == keep
    assert bare.frames == {"hprc": 270}.get(fmt, 1000) and "kept as it is" in bare.repairs[0]


@pytest.mark.parametrize("fmt", ["hprc", "npy", "mocha"])
def test_a_larger_audio_shortfall_follows_audio_policy(tmp_path: Path, fmt: str) -> None:
    # just over the tolerance: max(2 frames, 1 % of the duration) = 27 ms, 50 ms, 20 ms
    short = {"hprc": 0.035, "npy": 0.06, "mocha": 0.03}[fmt]
    path, rate, source = _short_audio_file(tmp_path, fmt, short)
    with pytest.raises(DataError, match="audio_policy='trim'") as exc:
        read_ema(path)
    assert f"audio {source} lasts" in str(exc.value)
    if fmt == "hprc":
        assert "the AUDIO element of" in str(exc.value) and ".wav" not in str(exc.value)
    rec = read_ema(path, audio_policy="trim")
    assert rec.frames == int(np.floor(rec.audio.duration * rate + 1e-9)) and "trimmed" in rec.repairs[0]
    assert "by default" not in rec.repairs[0]
    assert read_ema(path, audio_policy="keep").frames == {"hprc": 270}.get(fmt, 1000)


def test_audio_ending_inside_the_last_frame_is_no_mismatch(tmp_path: Path) -> None:
    path, _, _ = _short_audio_file(tmp_path, "npy", 0.004)  # less than one 5 ms frame
    rec = read_ema(path)
    assert rec.frames == 1000 and rec.repairs == []


def test_textgrid_beside_the_file_gives_words_and_phones(tmp_path: Path) -> None:
    np.save(tmp_path / "s_1.npy", smooth_ema(200, 12))
    (tmp_path / "s_1.TextGrid").write_text(
        'File type = "ooTextFile"\nObject class = "TextGrid"\n\n0\n1\n<exists>\n2\n'
        '"IntervalTier"\n"words"\n0\n1\n2\n0\n0.4\n"hello"\n0.4\n1\n"there"\n'
        '"IntervalTier"\n"phones"\n0\n1\n3\n0\n0.2\n"hh"\n0.2\n0.4\n"ow"\n0.4\n1\n"dh"\n'
    )
    rec = read_ema(tmp_path / "s_1.npy")
    assert rec.words.labels() == ["hello", "there"] and rec.phones.labels() == ["hh", "ow", "dh"]


# ----------------------------------------------------------------------------- MOCHA text


def test_mocha_fixture_break_flag_and_irregular_times(tmp_path: Path) -> None:
    t = np.arange(100) / 500.0
    coils = smooth_ema(100, 20) * 1000
    table = np.column_stack([t, np.ones(100), coils])
    table[7, 1] = 0  # not present -> NaN frame
    np.savetxt(tmp_path / "msak0_002.ema", table, fmt="%.6f")
    rec = read_ema(tmp_path / "msak0_002.ema")
    assert rec.format == "mocha-ascii" and rec.rate_hz == 500.0 and rec.speaker == "msak0"
    assert np.isnan(rec.data[7]).all() and rec.nan_report()["td_x"] == 1
    assert np.allclose(rec.data[0, rec.channels.index("ui_x")], coils[0, 0] / 100, atol=1e-3)
    table[50:, 0] += 0.01  # a jump in the frame times
    np.savetxt(tmp_path / "msak0_003.ema", table, fmt="%.6f")
    with pytest.raises(FormatError, match="not equally spaced.*frame 50"):
        read_ema(tmp_path / "msak0_003.ema")


# ------------------------------------------------------------------------------ EST track


@pytest.mark.parametrize(("order", "np_order"), [("01", "<"), ("10", ">")])
def test_est_binary_both_byte_orders(tmp_path: Path, order: str, np_order: str) -> None:
    names = ["T1_px", "T1_pz", "T3_px", "T3_pz", "upperlip_px", "upperlip_pz"]
    x = smooth_ema(120, len(names)) * 10
    t = np.arange(120) / 200.0
    frames = np.column_stack([t, np.ones(120), x]).astype(np_order + "f4")
    frames[5, 1] = 0  # a break
    path = tmp_path / "mngu0_s1_0001.ema"
    path.write_bytes(est_header(120, names, "binary", order) + frames.tobytes())
    assert detect_ema_format(path) == "est-track"
    rec = read_ema(path)
    assert rec.channels == names and rec.rate_hz == 200.0 and rec.units == "mm"
    ok = np.ones(120, bool)
    ok[5] = False
    assert np.allclose(rec.data[ok], x[ok].astype(np.float32), atol=1e-5)
    assert np.isnan(rec.data[5]).all() and "1 frames marked as breaks" in rec.repairs[0]
    # the wrong byte order gives garbage, so the reader must really honour ByteOrder
    other = "10" if order == "01" else "01"
    path.write_bytes(est_header(120, names, "binary", other) + frames.tobytes())
    with pytest.raises(FormatError, match="wrong ByteOrder"):
        read_ema(path)


def test_est_ascii_mocha_names_are_converted_to_mm(tmp_path: Path) -> None:
    names = ["ui_x", "li_x", "ul_x", "ll_x", "tt_x"]
    x = smooth_ema(60, 5) * 1000
    write_est_track(tmp_path / "fsew0_002.ema", x, 500.0, names, binary=False)
    rec = read_ema(tmp_path / "fsew0_002.ema")
    assert rec.rate_hz == 500.0 and rec.units == "mm"
    assert np.allclose(rec.data, x / 100, atol=1e-3)


def test_broken_est_tracks(tmp_path: Path) -> None:
    names = ["a_x", "a_y"]
    good = np.column_stack([np.arange(10) / 100, np.ones(10), np.zeros((10, 2))]).astype("<f4")
    p = tmp_path / "t.ema"
    p.write_bytes(est_header(10, names, "binary", "01") + good.tobytes()[:-12])
    with pytest.raises(FormatError, match="truncated binary EST track"):
        read_ema(p)
    p.write_bytes(est_header(10, names, "binary", "middle") + good.tobytes())
    with pytest.raises(FormatError, match="unknown ByteOrder"):
        read_ema(p)
    p.write_bytes(est_header(10, names, "binary", "01").replace(b"EST_Header_End\n", b"") + good.tobytes())
    with pytest.raises(FormatError, match="no EST_Header_End"):
        read_ema(p)
    ascii_rows = "".join(" ".join(map(str, r)) + "\n" for r in good[:8].astype(float))
    p.write_bytes(est_header(10, names, "ascii", None) + ascii_rows.encode())
    with pytest.raises(FormatError, match="NumFrames 10 but the file holds 8"):
        read_ema(p)


# ---------------------------------------------------------------------------- HPRC .mat


def test_hprc_mat_struct_array(tmp_path: Path) -> None:
    arr, sig = hprc_struct(frames=300, audio_s=3.1)
    path = tmp_path / "F01_B01_S01_R01_N.mat"
    scipy.io.savemat(str(path), {"F01_B01_S01_R01_N": arr})
    assert detect_ema_format(path) == "hprc-mat"
    rec = read_ema(path)
    assert rec.format == "hprc-mat" and rec.speaker == "F01" and rec.rate_hz == 100.0 and rec.units == "mm"
    assert rec.channels[:3] == ["tr_x", "tr_y", "tr_z"] and len(rec.channels) == 24
    assert rec.channels[-3:] == ["jawl_x", "jawl_y", "jawl_z"]
    assert np.allclose(rec.data, sig[:, :, :3].reshape(300, 24), atol=1e-4)
    assert rec.extra["orientation"].shape == (300, 24)
    assert np.allclose(rec.extra["orientation"], sig[:, :, 3:].reshape(300, 24), atol=1e-3)
    assert rec.extra["orientation_channels"][0] == "tr_o1"
    assert rec.audio.rate_hz == 44100 and rec.audio.duration == pytest.approx(3.1, abs=1e-3)
    assert rec.prompt == "The birch canoe slid on the smooth planks."
    assert rec.words.labels() == ["the", "birch"] and rec.words.segments[1].end == pytest.approx(0.9)
    assert rec.phones.labels() == ["sp", "DH", "AH0", "B"]
    # PCM integer audio is scaled to [-1, 1]
    arr_int, _ = hprc_struct(frames=300, audio_s=3.1)
    arr_int[0, 0]["SIGNAL"] = np.full((int(3.1 * 44100), 1), 16384, dtype=np.int16)
    scipy.io.savemat(str(tmp_path / "F01_B01_S03_R01_N.mat"), {"F01_B01_S03_R01_N": arr_int})
    assert read_ema(tmp_path / "F01_B01_S03_R01_N.mat").audio.samples.max() == pytest.approx(0.5)
    # audio shorter than the sensors
    arr_short, _ = hprc_struct(frames=300, audio_s=2.0)
    scipy.io.savemat(str(tmp_path / "F01_B01_S02_R01_N.mat"), {"F01_B01_S02_R01_N": arr_short})
    with pytest.raises(DataError, match="lasts 2.000 s but the EMA lasts 3.000 s"):
        read_ema(tmp_path / "F01_B01_S02_R01_N.mat")


def test_broken_hprc_files(tmp_path: Path) -> None:
    (tmp_path / "F01_x.mat").write_text("this is not matlab")
    with pytest.raises(FormatError, match="F01_x.mat: not a readable MATLAB file"):
        read_ema(tmp_path / "F01_x.mat")
    arr, _ = hprc_struct(frames=50, audio_s=0.6)
    arr[0, 3]["SIGNAL"] = arr[0, 3]["SIGNAL"][:40]
    scipy.io.savemat(str(tmp_path / "F01_y.mat"), {"F01_y": arr})
    with pytest.raises(FormatError, match="sensors have different lengths"):
        read_ema(tmp_path / "F01_y.mat")
    scipy.io.savemat(str(tmp_path / "F01_z.mat"), {"a": np.zeros(3), "b": np.ones(2)})
    with pytest.raises(FormatError, match="holds 2 variables"):
        read_ema(tmp_path / "F01_z.mat")


# ---------------------------------------------------------------------------- XRMB .txy


def test_xrmb_txy(tmp_path: Path) -> None:
    n = 300
    t_ms = np.round(np.arange(n) * (1000 / 145.6), 0)  # integer milliseconds, as in the release
    um = smooth_ema(n, 16) * 5000
    um[20:23, 4] = 1000000  # T1x missing
    table = np.column_stack([t_ms, um])
    spk = tmp_path / "JW11"
    spk.mkdir()
    np.savetxt(spk / "tp001.txy", table, fmt="%.0f")
    rec = read_ema(spk / "tp001.txy")
    assert rec.format == "xrmb-txy" and rec.channels == XRMB_CHANNELS and rec.speaker == "JW11"
    assert rec.rate_hz == pytest.approx(145.6, rel=2e-3) and rec.units == "mm"
    assert rec.nan_report() == {"t1_x": 3} and "3 samples marked missing" in rec.repairs[0]
    ok = np.isfinite(rec.data[:, 4])
    assert np.allclose(rec.data[ok, 4], np.round(um[ok, 4]) / 1000, atol=1e-3)
    (tmp_path / "bad.txy").write_text("0 1 2 3\n7 1 2 3\n")
    with pytest.raises(FormatError, match="expected 17"):
        read_ema(tmp_path / "bad.txy")


def test_broken_side_file_is_named_with_its_ema_file(tmp_path: Path) -> None:
    np.save(tmp_path / "v_1.npy", smooth_ema(100, 12))
    (tmp_path / "v_1.wav").write_bytes(b"RIFF0000WAVEjunk")
    with pytest.raises(FormatError, match=r"v_1.npy: side file .*v_1.wav: unreadable audio file"):
        read_ema(tmp_path / "v_1.npy")
    assert read_ema(tmp_path / "v_1.npy", attach=False).frames == 100
