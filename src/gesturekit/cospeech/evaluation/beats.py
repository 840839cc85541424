"""Beat consistency (BC) between audio onsets and motion beats, as the BEAT2/EMAGE evaluation defines it.

Audio beats: onset times of the 16 kHz waveform by librosa's default onset recipe
(``onset_strength`` on a 128-band power mel spectrogram in dB, n_fft 2048, hop 512, spectral
flux averaged over bands; ``onset_detect``'s normalisation and peak picking), re-implemented
here in NumPy/SciPy so that no librosa (and numba) is needed.

Motion beats, per joint: speed by central differences divided by that joint's mean speed over
a reference set (the training set, or the split's ground truth by default); local minima within
+-7 frames at 30 fps (the same time span at other rates), kept where the normalised speed
exceeds 0.3. For each audio onset (the first and last 2 s left out), d = distance to the
nearest motion beat; the score is ``exp(-d^2 / (2 * 0.3^2))`` averaged over the scored joints.
BC is the mean over all onsets of the split (not multiplied by 10).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage, signal

from gesturekit.features.audio import mel_filterbank

SR = 16000
N_FFT = 2048
HOP = 512
N_MELS = 128
SIGMA_S = 0.3
EDGE_S = 2.0
MOTION_THRESHOLD = 0.3
MINIMA_SPAN_S = 7 / 30


def onset_strength(y: np.ndarray, sr: int = SR, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """Spectral-flux onset envelope, one value per hop (centred frames)."""
    y = np.asarray(y, dtype=np.float64)
    padded = np.pad(y, n_fft // 2)
    if len(padded) < n_fft:
        padded = np.pad(padded, (0, n_fft - len(padded)))
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    window = signal.get_window("hann", n_fft, fftbins=True)
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2  # (frames, bins)
    # librosa's melspectrogram filters (Slaney scale and area norm, 0 Hz to Nyquist), as log_mel_512 uses
    mel = power @ mel_filterbank(sr, n_fft, N_MELS, 0.0, sr / 2.0, True).T  # (frames, n_mels)
    db = 10.0 * np.log10(np.maximum(1e-10, mel))
    db = np.maximum(db, db.max() - 80.0)
    flux = np.maximum(0.0, db[1:] - db[:-1]).mean(axis=1)
    env = np.concatenate([np.zeros(1 + n_fft // (2 * hop)), flux])
    return env[: len(db)]


def peak_pick(
    x: np.ndarray, pre_max: int, post_max: int, pre_avg: int, post_avg: int, delta: float, wait: int
) -> np.ndarray:
    """librosa-style peak picking: local maxima above a moving average plus ``delta``."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) == 0:
        return np.zeros(0, dtype=np.int64)
    mov_max = ndimage.maximum_filter1d(
        x, pre_max + post_max, mode="constant", origin=int(np.ceil(0.5 * (pre_max - post_max))), cval=x.min()
    )
    # moving average over [n - pre_avg, n + post_avg), truncated at the edges
    csum = np.concatenate([[0.0], np.cumsum(x)])
    n = np.arange(len(x))
    lo = np.maximum(n - pre_avg, 0)
    hi = np.minimum(n + post_avg, len(x))
    mov_avg = (csum[hi] - csum[lo]) / (hi - lo)
    cand = np.nonzero((x == mov_max) & (x >= mov_avg + delta) & (x != 0))[0]
    peaks: list[int] = []
    last = -np.inf
    for i in cand:  # few candidates: a loop over peaks, not frames
        if i > last + wait:
            peaks.append(int(i))
            last = i
    return np.asarray(peaks, dtype=np.int64)


def audio_onsets(y: np.ndarray, sr: int) -> np.ndarray:
    """Onset times (s) of a mono waveform (resampled to 16 kHz first)."""
    y = np.asarray(y, dtype=np.float64)
    if sr != SR:
        g = np.gcd(int(sr), SR)
        y = signal.resample_poly(y, SR // g, int(sr) // g)
    env = onset_strength(y)
    env = env - env.min()
    env = env / (env.max() + np.finfo(np.float64).tiny)
    rate = SR / HOP
    peaks = peak_pick(
        env,
        pre_max=int(0.03 * SR // HOP),
        post_max=int(0.0 * SR // HOP + 1),
        pre_avg=int(0.10 * SR // HOP),
        post_avg=int(0.10 * SR // HOP + 1),
        delta=0.07,
        wait=int(0.03 * SR // HOP),
    )
    return peaks / rate


def joint_speed(seq: np.ndarray, fps: float) -> np.ndarray:
    """``(T, J, D)`` -> per-joint speed ``(T, J)`` by central differences (units per second)."""
    x = np.asarray(seq, dtype=np.float64)
    if len(x) < 2:
        return np.zeros(x.shape[:2])
    return np.linalg.norm(np.gradient(x, axis=0), axis=-1) * fps


def motion_beats(norm_speed: np.ndarray, fps: float) -> list[np.ndarray]:
    """Per joint, frames of local speed minima (within +-7 frames at 30 fps) above the threshold."""
    v = np.asarray(norm_speed, dtype=np.float64)
    t, j = v.shape
    w = max(1, int(round(MINIMA_SPAN_S * fps)))
    padded = np.pad(v, ((w, w), (0, 0)), constant_values=np.inf)
    win = np.lib.stride_tricks.sliding_window_view(padded, 2 * w + 1, axis=0)  # (T, J, 2w+1)
    others = np.concatenate([win[..., :w], win[..., w + 1 :]], axis=-1)
    is_min = (v < others.min(axis=-1)) & (v > MOTION_THRESHOLD)
    is_min[0] = is_min[-1] = False
    return [np.nonzero(is_min[:, k])[0] for k in range(j)]


def beat_scores(onsets: np.ndarray, seq: np.ndarray, fps: float, mean_speed: np.ndarray) -> np.ndarray:
    """Score per kept onset (mean over joints of ``exp(-d^2/2sigma^2)``) for one sequence ``(T, J, D)``."""
    dur = len(seq) / fps
    onsets = np.asarray(onsets, dtype=np.float64)
    onsets = onsets[(onsets >= EDGE_S) & (onsets <= dur - EDGE_S)]
    if len(onsets) == 0:
        return np.zeros(0)
    speed = joint_speed(seq, fps) / np.where(mean_speed > 0, mean_speed, np.inf)
    per_joint = []
    for beats in motion_beats(speed, fps):  # one entry per joint
        if len(beats) == 0:
            per_joint.append(np.zeros(len(onsets)))
            continue
        d = np.abs(onsets[:, None] - beats[None, :] / fps).min(axis=1)
        per_joint.append(np.exp(-(d**2) / (2 * SIGMA_S**2)))
    return np.mean(per_joint, axis=0)


def beat_consistency(
    onsets: Sequence[np.ndarray | None],
    seqs: Sequence[np.ndarray],
    fps: float,
    joints: np.ndarray,
    mean_speed: np.ndarray,
) -> float:
    """BC of a split: mean over every kept onset of every sequence that has audio (NaN if none)."""
    scores = [
        beat_scores(o, np.asarray(s)[:, joints], fps, mean_speed[joints])
        for o, s in zip(onsets, seqs, strict=True)
        if o is not None
    ]
    scores = [s for s in scores if len(s)]
    return float(np.concatenate(scores).mean()) if scores else float("nan")


def mean_joint_speed(seqs: Sequence[np.ndarray], fps: float) -> np.ndarray:
    """Mean speed per joint over all frames of ``seqs`` (the BC normaliser) ``(J,)``."""
    return np.concatenate([joint_speed(s, fps) for s in seqs], axis=0).mean(axis=0)
