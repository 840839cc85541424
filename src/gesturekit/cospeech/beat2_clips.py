"""BEAT2 takes as feature clips for the CC-NCE models (model side; no PATS machinery needed).

Each take ``NAME.npz`` (SMPL-X axis-angle ``poses`` ``(T, 165)`` at 30 fps) with ``NAME.wav``
and optionally ``NAME.TextGrid`` (``words`` tier) gives one clip at ``fps`` (15: every second
frame): pose vectors are the 55 joints' rotations as 6-D continuous representation (the first
two columns of each rotation matrix; ``(T, 330)``), audio the PATS log-mel at pose frames, text
hashed word vectors (:func:`~gesturekit.cospeech.speech_inputs.words_at_frames`, the very
features ``cospeech generate`` computes for a transcript; zeros for a take without a TextGrid
words tier). Splits by time within each take: the last ``holdout`` fraction is
``test``, the ``dev_fraction`` before it ``dev``, the rest ``train``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gesturekit.cospeech.data import Corpus, FeatureClip, PoseFormat, combine_text_features
from gesturekit.cospeech.speech_inputs import audio_at_frames, words_at_frames
from gesturekit.errors import DataError, FormatError
from gesturekit.io.audio import read_audio
from gesturekit.skeleton import BEAT2_JOINTS as SMPLX_JOINTS
from gesturekit.skeleton import BEAT2_PARENTS as SMPLX_PARENTS

SMPLX_6D = PoseFormat("smplx6d", SMPLX_JOINTS, SMPLX_PARENTS, 6)
TEXT_DIM = 64


def axis_angle_to_6d(aa: np.ndarray) -> np.ndarray:
    """``(..., 3)`` axis-angle -> ``(..., 6)``: the first two columns of the rotation matrix."""
    from scipy.spatial.transform import Rotation

    m = Rotation.from_rotvec(aa.reshape(-1, 3)).as_matrix()
    return m[:, :, :2].transpose(0, 2, 1).reshape(*aa.shape[:-1], 6).astype(np.float32)


def rot6d_to_axis_angle(r6: np.ndarray) -> np.ndarray:
    """``(..., 6)`` -> ``(..., 3)`` (Gram-Schmidt, then the rotation vector)."""
    from scipy.spatial.transform import Rotation

    x = r6.reshape(-1, 2, 3).astype(np.float64)
    a = x[:, 0] / np.maximum(np.linalg.norm(x[:, 0], axis=-1, keepdims=True), 1e-8)
    b = x[:, 1] - (a * x[:, 1]).sum(-1, keepdims=True) * a
    b /= np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), 1e-8)
    m = np.stack([a, b, np.cross(a, b)], -1)
    return Rotation.from_matrix(m).as_rotvec().reshape(*r6.shape[:-1], 3).astype(np.float32)


def read_take(npz: Path, fps: float = 15.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """``(pose (N, 330), audio (N, 64), text (N, TEXT_DIM), kind)`` of one take at ``fps``; ``kind``
    is "words" (hashed word vectors from the take's TextGrid) or "none" (no words tier: zeros)."""
    try:
        with np.load(npz, allow_pickle=False) as z:
            poses = np.asarray(z["poses"], dtype=np.float64)
            src_fps = float(z["mocap_frame_rate"]) if "mocap_frame_rate" in z else 30.0
    except (OSError, ValueError, KeyError) as exc:
        raise FormatError(npz, f"not a readable BEAT2 SMPL-X take ({exc})") from None
    if poses.ndim != 2 or poses.shape[1] != 165:
        raise FormatError(npz, f"poses must be (frames, 165), got {poses.shape}")
    if not np.all(np.isfinite(poses)):
        raise FormatError(npz, "poses hold NaN or infinite values")
    wav = npz.with_suffix(".wav")
    if not wav.exists():
        raise FormatError(wav, "the take's WAV file is missing")
    audio = read_audio(wav)
    step = src_fps / fps
    idx = np.round(np.arange(0, len(poses) / step) * step).astype(int)
    idx = idx[idx < len(poses)]
    n = min(len(idx), int(np.floor(audio.duration * fps)))
    if n <= 0:
        raise FormatError(wav, "audio is shorter than one pose frame")
    pose = axis_angle_to_6d(poses[idx[:n]].reshape(n, 55, 3)).reshape(n, 330)
    words = None
    tg = npz.with_suffix(".TextGrid")
    if tg.exists():
        from gesturekit.io.textgrid import read_words_phones

        tier, _ = read_words_phones(tg)
        words = tier.segments if tier is not None else None
    kind = "words" if words is not None else "none"
    return pose, audio_at_frames(audio, n, fps), words_at_frames(words, n, fps, TEXT_DIM), kind


def load_beat2_corpus(
    root: Path,
    speaker: str | None = None,
    *,
    holdout: float = 0.2,
    dev_fraction: float = 0.1,
    fps: float = 15.0,
) -> Corpus:
    takes = sorted(p for p in root.glob("*.npz") if p.with_suffix(".wav").exists())
    if speaker:
        takes = [p for p in takes if speaker in p.stem.split("_")]
    if not takes:
        raise DataError(f"no BEAT2 takes (npz + wav) for speaker {speaker!r}", path=root)
    clips, kinds = [], set()
    for p in takes:
        pose, audio, text, kind = read_take(p, fps)
        kinds.add(kind)
        n = len(pose)
        n_test = int(round(n * holdout))
        n_dev = int(round(n * dev_fraction))
        cuts = {
            "train": (0, n - n_test - n_dev),
            "dev": (n - n_test - n_dev, n - n_test),
            "test": (n - n_test, n),
        }
        spk = p.stem.split("_")[1] if "_" in p.stem else p.stem
        for split, (a, b) in cuts.items():
            if b > a:
                clips.append(
                    FeatureClip(f"{p.stem}:{split}", spk, split, audio[a:b], text[a:b], pose[a:b], fps,
                                start_s=a / fps, audio_path=str(p.with_suffix(".wav")))
                )  # fmt: skip
    return Corpus(clips, SMPLX_6D, fps, str(root), combine_text_features(kinds))
