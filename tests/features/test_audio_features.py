"""Speech features: log-mel against librosa and against PATS's real statistics, VAD, word pieces."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from conftest import minilm_dir
from gesturekit.errors import FormatError
from gesturekit.features.audio import log_mel_400, log_mel_512, mel_filterbank
from gesturekit.features.text import load_tokenizer, read_transcript, word_pieces
from gesturekit.features.vad import silence_mask
from gesturekit.io.audio import read_audio
from gesturekit.records import Segment, SegmentTier


@pytest.fixture(scope="module")
def beat2_audio(beat2_dir):
    return read_audio(beat2_dir / "2_scott_0_1_1.wav")


def test_log_mel_matches_librosa(beat2_audio):
    librosa = pytest.importorskip("librosa")
    y = beat2_audio.samples[: 16000 * 8]
    ours = log_mel_400(y, 16000)
    s = librosa.feature.melspectrogram(
        y=y, sr=16000, n_fft=512, win_length=400, hop_length=160, center=False, power=1,
        n_mels=64, fmin=125, fmax=7500, norm=None,
    )  # fmt: skip
    s[s == 0] = 1e-6
    assert ours.shape == (1 + (len(y) - 512) // 160, 64)
    np.testing.assert_allclose(ours, np.log(s).T, atol=2e-3)
    ours = log_mel_512(y, 16000)
    s = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=2048, hop_length=512, pad_mode="reflect")
    s[s == 0] = 1e-10
    np.testing.assert_allclose(ours, np.log(s).T, atol=2e-3)
    np.testing.assert_allclose(
        mel_filterbank(16000, 512, 64, 125.0, 7500.0, False),
        librosa.filters.mel(sr=16000, n_fft=512, n_mels=64, fmin=125, fmax=7500, norm=None),
        rtol=1e-5, atol=1e-7,
    )  # fmt: skip


def test_log_mel_of_beat2_has_pats_scale(beat2_audio, pats_stats_dir):
    """Per-bin log-mel statistics of BEAT2 speech against PATS's ``audio/log_mel_400`` statistics.

    The recordings differ (a studio microphone vs YouTube audio), so statistics cannot be equal:
    a recording's gain shifts every log-mel bin by the same log factor, and silence proportion
    changes the variance. Tolerance: every bin's mean within the range of the 25 PATS speakers'
    means widened by 1 nat (a gain factor of e), the overall mean within 1 nat of PATS's, every
    bin's variance within a factor of 4 of the PATS median variance. A wrong recipe breaks these:
    power 2 instead of 1 doubles every log value, log10 instead of ln shrinks them 2.3x, a missing
    mel band or wrong fmin/fmax shifts the spectral profile.
    """
    ours = log_mel_400(beat2_audio.samples, beat2_audio.rate_hz)
    means, variances = [], []
    for f in sorted((pats_stats_dir / "muvar").glob("*.h5")):
        with h5py.File(f) as h:
            means.append(h["audio/log_mel_400/mean"][()].reshape(-1))
            variances.append(h["audio/log_mel_400/var"][()].reshape(-1))
    m, v = np.array(means), np.array(variances)
    assert m.shape[1] == ours.shape[1] == 64
    mu = ours.mean(0)
    assert np.all(mu >= m.min(0) - 1.0) and np.all(mu <= m.max(0) + 1.0)
    assert abs(float(mu.mean() - m.mean())) < 1.0
    ratio = ours.var(0) / np.median(v, axis=0)
    assert np.all((ratio > 0.25) & (ratio < 4.0)), ratio
    # the wrong recipe (power 2) is caught by the same tolerance
    assert not np.all(np.abs(2 * mu - np.median(m, 0)) < 1.0 + (m.max(0) - m.min(0)))


def test_silence_mask_finds_leading_silence(beat2_audio, beat2_dir):
    words = read_transcript(beat2_dir / "2_scott_0_1_1.TextGrid")
    for method in ("energy", "webrtc"):
        if method == "webrtc":
            pytest.importorskip("webrtcvad")
        sil = silence_mask(beat2_audio.samples, beat2_audio.rate_hz, 15.0, method=method)
        assert sil.shape == (int(beat2_audio.duration * 15),)
        first = int(words.segments[0].start * 15)  # 1.42 s: nothing is said before
        assert sil[: first - 1].all()
        assert 0.02 < sil.mean() < 0.5


def test_word_pieces_frames_follow_pats_rule():
    tok = load_tokenizer(minilm_dir())
    words = SegmentTier(
        "words", [Segment("hello", 0.2, 0.5), Segment("unbelievably", 0.5, 1.0), Segment("ok", 1.3, 1.6)]
    )
    wp = word_pieces(words, tok, n_frames=30, fps=15)
    pieces = [tok.id_to_token(int(i)) for i in wp.ids]
    assert pieces[0] == "hello" and pieces[-1] == "ok" and any(p.startswith("##") for p in pieces)
    # tokens spread: word 0 spans from frame 0 (first word) to word 1's start (frame 8), the last to the end
    assert wp.word_frames.tolist() == [[0, 8], [8, 20], [20, 30]]
    # text/meta keeps each word's own frames (times x 15, rounded), silences between words included
    assert wp.meta_rows() == [("hello", 3, 8), ("unbelievably", 8, 15), ("ok", 20, 24)]
    frames = wp.frame_tokens()
    assert frames.shape == (30,) and int(wp.duration.sum()) == 30
    k = int((wp.word == 1).sum())
    d = wp.duration[wp.word == 1]
    assert list(d) == [12 // k] * (k - 1) + [12 // k + 12 % k]  # remainder to the last piece


def test_contextual_embeddings_offline():
    pytest.importorskip("transformers")
    from gesturekit.features.text import contextual_embeddings

    segs = [
        Segment(w, 0.3 * i, 0.3 * (i + 1))
        for i, w in enumerate(["the", "river", "bank", "was", "near", "the", "bank"])
    ]
    wp = word_pieces(SegmentTier("words", segs), load_tokenizer(minilm_dir()), n_frames=40)
    vec = contextual_embeddings(wp, minilm_dir())
    assert vec.shape == (len(wp.ids), 384) and np.all(np.isfinite(vec))
    per_frame = wp.frame_vectors(vec)
    assert per_frame.shape == (40, 384)
    np.testing.assert_array_equal(per_frame[wp.start[1]], vec[1])
    # contextual: the same word piece ("bank") in two contexts gets two different vectors
    bank = [j for j, t in enumerate(wp.ids) if t == wp.ids[2]]
    assert len(bank) == 2
    cos = vec[bank[0]] @ vec[bank[1]] / np.linalg.norm(vec[bank[0]]) / np.linalg.norm(vec[bank[1]])
    assert 0.3 < cos < 0.999


def test_json_transcript_and_errors(tmp_path):
    p = tmp_path / "w.json"
    p.write_text(json.dumps({"words": [{"word": "hi", "start": 0.1, "end": 0.4}, ["there", 0.4, 0.9]]}))
    assert read_transcript(p).labels() == ["hi", "there"]
    p.write_text("[]")
    with pytest.raises(FormatError, match=r"w\.json.*empty transcript"):
        read_transcript(p)
    p.write_text('[{"word": "x"}]')
    with pytest.raises(FormatError, match=r"w\.json.*word 0"):
        read_transcript(p)
