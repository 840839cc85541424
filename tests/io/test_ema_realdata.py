"""The EMA readers on the real samples in ../shared/realdata (mngu0 nema .npy, MOCHA fsew0)."""

from __future__ import annotations

import numpy as np
import pytest

from gesturekit.io import detect_ema_format, load_recordings, read_ema
from gesturekit.io.mocha import MOCHA_CHANNELS
from gesturekit.io.nema import NEMA_CHANNELS

# frames per utterance, from ../shared/realdata/mngu0_nema/README.md
MNGU0_FRAMES = {
    "0008": 1269, "0017": 850, "0535": 925, "0729": 882,
    "1086": 829, "1165": 1045, "1222": 1115, "1247": 1005,
}  # fmt: skip


def test_mngu0_all_eight_files(mngu0_dir) -> None:
    recs = load_recordings([mngu0_dir])
    assert [r.name for r in recs] == [f"mngu0_s1_{k}" for k in sorted(MNGU0_FRAMES)]
    for rec in recs:
        raw = np.load(rec.path)
        assert rec.format == "nema-npy" and rec.speaker == "mngu0"
        assert rec.frames == MNGU0_FRAMES[rec.name[-4:]]
        assert rec.rate_hz == 200.0 and rec.units == "z" and rec.channels == NEMA_CHANNELS
        assert rec.data.dtype == np.float32 and np.allclose(rec.data, raw, atol=1e-6)
        assert rec.audio is not None and rec.audio.rate_hz == 16000
        # the README: EMA is never longer than the audio (0 to 0.48 s shorter)
        assert -0.005 <= rec.audio.duration - rec.duration <= 0.5
        assert rec.nan_report() == {} and rec.repairs == []
        assert rec.phones is None and rec.ema_stats is None


def test_mngu0_channel_order_tongue_x_channels_move_together(mngu0_dir) -> None:
    data = np.concatenate([r.data for r in load_recordings([mngu0_dir])])
    r = np.corrcoef(data.T)
    td, tb, tt = (NEMA_CHANNELS.index(c) for c in ("td_x", "tb_x", "tt_x"))
    assert (td, tb, tt) == (0, 2, 4)
    for a, b in [(td, tb), (tb, tt), (td, tt)]:
        assert r[a, b] > 0.8, (a, b, r[a, b])
    # jaw height and lower-lip height are coupled (README: 0.62)
    assert r[NEMA_CHANNELS.index("li_y"), NEMA_CHANNELS.index("ll_y")] > 0.5


def test_mocha_fsew0_001(mocha_dir) -> None:
    path = mocha_dir / "fsew0_001.ema"
    assert detect_ema_format(path) == "mocha-ascii"
    rec = read_ema(path)
    assert rec.frames == 966 and rec.rate_hz == 500.0 and rec.units == "mm"
    assert rec.channels == MOCHA_CHANNELS and len(rec.channels) == 20
    assert rec.speaker == "fsew0" and rec.format == "mocha-ascii"
    assert rec.audio is not None and rec.audio.rate_hz == 16000
    assert rec.audio.duration == pytest.approx(2.218, abs=1e-3)
    assert len(rec.phones) == 18
    assert rec.phones.labels()[:5] == ["sil", "breath", "sil", "dh", "i"]
    assert rec.phones.segments[-1].end == pytest.approx(2.2)
    # column map: tt_x is file column 7 and v_y column 20 (1-based), in 1/100 mm
    raw = np.loadtxt(path)
    assert np.allclose(rec.data[:, rec.channels.index("tt_x")], raw[:, 6] / 100, atol=1e-4)
    assert np.allclose(rec.data[:, rec.channels.index("v_y")], raw[:, 19] / 100, atol=1e-4)
    assert np.allclose(rec.extra["time"], raw[:, 0])
    # the upper incisor is the origin: within a millimetre throughout; the tongue moves cm
    ui = rec.select(["ui_x", "ui_y"]).data
    assert np.abs(ui).max() < 1.0
    assert 5 < np.ptp(rec.data[:, rec.channels.index("tt_y")]) < 40
    assert set(rec.extra["reference_coils"].tolist()) == {"ui", "bn"}
    # the 12 channels nema data share are all present
    assert rec.select(NEMA_CHANNELS).data.shape == (966, 12)


def test_mocha_axes_are_kept_as_in_the_file(mocha_dir) -> None:
    """Documented in io/mocha.py: x grows towards the back of the mouth, y is up."""
    rec = read_ema(mocha_dir / "fsew0_001.ema")
    m = {c: float(np.nanmean(rec.data[:, i])) for i, c in enumerate(rec.channels)}
    assert m["ul_x"] < 0 < m["tt_x"] < m["tb_x"] < m["td_x"]  # lips in front, dorsum at the back
    assert m["ll_y"] < m["ul_y"] and m["li_y"] < 0  # lower lip and jaw below the upper incisor
