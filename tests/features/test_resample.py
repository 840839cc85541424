from pathlib import Path

import numpy as np
import pytest

from gesturekit.errors import DataError
from gesturekit.features.resample import rational_ratio, resample, resample_recording
from gesturekit.io import read_ema


def _sines(rate: float, seconds: float, freqs: list[float]) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(int(round(rate * seconds))) / rate
    return t, np.stack([np.sin(2 * np.pi * f * t) for f in freqs], axis=1)


def test_rational_ratio() -> None:
    assert rational_ratio(500, 200) == (2, 5)
    up, down = rational_ratio(145.6, 200)
    assert abs(145.6 * up / down - 200) < 1e-9
    with pytest.raises(DataError):
        rational_ratio(0, 200)


@pytest.mark.parametrize(("src", "dst"), [(500.0, 200.0), (145.6, 200.0), (200.0, 100.0)])
def test_slow_signals_survive_resampling(src: float, dst: float) -> None:
    _, x = _sines(src, 4.0, [2.0, 7.0])
    y, rate = resample(x, src, dst)
    assert rate == pytest.approx(dst)
    assert y.shape == (int(np.ceil(x.shape[0] * dst / src)), 2) and y.dtype == np.float32
    t2 = np.arange(y.shape[0]) / rate
    truth = np.stack([np.sin(2 * np.pi * 2 * t2), np.sin(2 * np.pi * 7 * t2)], axis=1)
    inner = slice(int(0.1 * rate), -int(0.1 * rate))  # away from the edges
    assert np.abs(y[inner] - truth[inner]).max() < 0.01


def test_anti_aliasing_removes_content_above_the_new_nyquist() -> None:
    t, x = _sines(500.0, 4.0, [150.0])  # above 100 Hz, the Nyquist rate of 200 Hz
    y, rate = resample(x, 500.0, 200.0)
    naive = np.interp(np.arange(y.shape[0]) / rate, t, x[:, 0])  # no filter: folds to 50 Hz
    assert np.abs(naive).max() > 0.5
    assert np.abs(y[50:-50]).max() < 0.05


def test_nan_gaps_stay_where_they_were() -> None:
    _, x = _sines(500.0, 2.0, [3.0, 4.0])
    x[250:300, 0] = np.nan  # 0.5 s - 0.6 s
    y, rate = resample(x, 500.0, 200.0)
    gap = np.flatnonzero(np.isnan(y[:, 0]))
    assert gap.min() / rate == pytest.approx(0.5, abs=0.006) and gap.max() / rate == pytest.approx(
        0.6, abs=0.006
    )
    assert not np.isnan(y[:, 1]).any()
    assert np.isfinite(y[:95, 0]).all() and np.isfinite(y[125:, 0]).all()


def test_resample_recording_mocha_to_200hz(mocha_dir: Path) -> None:
    rec = read_ema(mocha_dir / "fsew0_001.ema")
    out = resample_recording(rec, 200.0)
    assert out.rate_hz == 200.0 and out.frames == int(np.ceil(966 * 200 / 500))
    assert out.duration == pytest.approx(rec.duration, abs=0.01)
    assert "time" not in out.extra and "resampled from 500 Hz to 200 Hz" in out.repairs[-1]
    assert out.phones is rec.phones and out.audio is rec.audio
    j = rec.channels.index("tt_y")
    t_in, t_out = np.arange(rec.frames) / rec.rate_hz, np.arange(out.frames) / out.rate_hz
    direct = np.interp(t_out, t_in, rec.data[:, j])
    assert np.corrcoef(out.data[5:-5, j], direct[5:-5])[0, 1] > 0.99
