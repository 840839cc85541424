"""A synthetic co-speech corpus whose poses depend on the audio and the words in a known way.

Each clip is a sequence of words from a small vocabulary. Word w has a fixed embedding (the
text feature of its frames) and a fixed gesture: a displacement of each arm (wrist and hand
joints rigidly, the elbow by half). The audio is a log-mel band whose energy e(t) varies
smoothly; the energy drives a vertical beat of both hands (``beat * e(t)`` pixels). So the
word identity decides the gesture (visible only in the text), the energy its beat (visible
only in the audio): a model must use both to beat the mean pose and nearest neighbours.
Poses are PATS-layout model vectors (x of the 49 model joints, then y) in pixels. The text
features are the corpus's own random word embeddings (``text_features="synthetic"``), not the
hashed word vectors ``cospeech generate`` computes for a transcript.
"""

from __future__ import annotations

import numpy as np

from gesturekit.cospeech.data.types import PATS_FORMAT, Corpus, FeatureClip
from gesturekit.errors import ConfigError
from gesturekit.skeleton import PATS_PARENTS

RIGHT = [2, 3] + list(range(31, 52))  # elbow, wrist, right hand
LEFT = [5, 6] + list(range(10, 31))


def _base_pose(rng: np.random.Generator) -> np.ndarray:
    pos = np.zeros((52, 2))
    bones = {
        1: (-60, 0),
        2: (-20, 70),
        3: (10, 60),
        4: (60, 0),
        5: (20, 70),
        6: (-10, 60),
        7: (0, -50),
        8: (-10, -60),
        9: (10, -60),
    }
    for j, p in enumerate(PATS_PARENTS):
        if p < 0:
            continue
        off = bones.get(j, rng.normal(0, 8, 2))
        pos[j] = pos[p] + np.asarray(off, dtype=float)
    return pos


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    k = np.hanning(width + 2)[1:-1]
    k /= k.sum()
    pad = np.pad(x, ((width, width), (0, 0)), mode="edge")
    out = np.stack([np.convolve(pad[:, i], k, mode="same") for i in range(x.shape[1])], 1)
    return out[width:-width]


def make_synthetic_corpus(
    n_train: int = 24, n_dev: int = 4, n_test: int = 4, frames: int = 256, vocab: int = 6, text_dim: int = 16,
    n_mels: int = 64, fps: float = 15.0, beat: float = 25.0, gesture: float = 45.0, noise: float = 1.0,
    seed: int = 0, speaker: str = "synth", word_frames: tuple[int, int] = (6, 16),
) -> Corpus:  # fmt: skip
    """``n_train + n_dev + n_test`` clips of ``frames`` frames (splits ``train``/``dev``/``test``).

    Each word lasts a uniform random number of frames in ``[word_frames[0], word_frames[1])``.
    """
    lo, hi = (int(v) for v in word_frames)
    if not 1 <= lo < hi:
        raise ConfigError(f"word_frames must be (min, max) with 1 <= min < max, got {tuple(word_frames)}")
    rng = np.random.default_rng(seed)
    base = _base_pose(rng)
    emb = rng.normal(0, 1, (vocab, text_dim)).astype(np.float32)
    ang = rng.uniform(0, 2 * np.pi, (vocab, 2))
    disp = gesture * np.stack([np.cos(ang), np.sin(ang)], -1)  # (vocab, arm, 2)
    clips = []
    splits = ["train"] * n_train + ["dev"] * n_dev + ["test"] * n_test
    mel = np.arange(n_mels)
    for i, split in enumerate(splits):
        words, durs = [], []
        while sum(durs) < frames:
            words.append(int(rng.integers(vocab)))
            durs.append(int(rng.integers(lo, hi)))
        w_frame = np.repeat(words, durs)[:frames]
        t = np.arange(frames) / fps
        f1, f2 = rng.uniform(0.3, 0.9), rng.uniform(1.0, 2.0)
        energy = (
            0.5
            + 0.25 * np.sin(2 * np.pi * f1 * t + rng.uniform(0, 6))
            + 0.25 * np.sin(2 * np.pi * f2 * t + rng.uniform(0, 6))
        )
        centre = 20 + 20 * energy
        audio = np.log(1e-2 + energy[:, None] * np.exp(-((mel[None] - centre[:, None]) ** 2) / 30.0))
        audio += rng.normal(0, 0.05, audio.shape)
        pose = np.repeat(base[None], frames, 0)
        g = np.zeros((frames, 2, 2))
        g[:] = disp[w_frame]
        g = _smooth(g.reshape(frames, 4), 5).reshape(frames, 2, 2)
        for arm, joints in enumerate((RIGHT, LEFT)):
            scale = np.ones(len(joints))
            scale[0] = 0.5
            pose[:, joints] += scale[None, :, None] * g[:, arm][:, None, :]
            pose[:, joints[1:], 1] += beat * (energy[:, None] - 0.5)
        pose += rng.normal(0, noise, pose.shape)
        pose[:, 0] = 0.0
        model = PATS_FORMAT.model_joints
        vec = np.concatenate([pose[:, model, 0], pose[:, model, 1]], 1).astype(np.float32)
        clips.append(
            FeatureClip(f"{speaker}_{i:04d}", speaker, split, audio.astype(np.float32), emb[w_frame], vec, fps)
        )
    return Corpus(clips, PATS_FORMAT, fps, "synthetic", "synthetic")
