"""PATS read exactly as distributed: fixtures written per the spec (text/meta by pandas itself)."""

from __future__ import annotations

import pickle
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from gesturekit.errors import DataError, FormatError
from gesturekit.io.pandas_hdf import read_pandas_frame, safe_unpickle_object_array
from gesturekit.io.pats import PatsCorpus, read_pats_interval
from gesturekit.io.pats_write import make_synthetic_pats, synthetic_interval, write_pats_interval


@pytest.fixture(scope="module")
def pats_root(tmp_path_factory) -> Path:
    return make_synthetic_pats(tmp_path_factory.mktemp("pats") / "pats" / "data", n_per_speaker=8, seed=3)


def test_corpus_table_splits_and_missing(pats_root):
    corpus = PatsCorpus(pats_root.parent)  # the `pats` folder is accepted too
    assert corpus.speakers == ["lec_cosmic", "oliver"]
    assert corpus.missing == {"oliver_00007", "lec_cosmic_00007"}
    ivs = corpus.intervals(["oliver"])
    assert [iv.interval_id for iv in ivs] == [f"oliver_{i:05d}" for i in range(7)]
    table = pd.read_csv(pats_root / "cmu_intervals_df.csv")
    want = table[(table.speaker == "oliver") & (table.interval_id != "oliver_00007")]
    assert [iv.split for iv in ivs] == list(want.dataset)
    assert {iv.split for iv in corpus.intervals(splits=("dev",))} == {"dev"}
    assert all(iv.path.exists() for iv in ivs)
    assert len(corpus.intervals(["oliver"], exclude_missing=False)) == 8


def test_unknown_speaker_is_an_error(pats_root):
    with pytest.raises(DataError, match="unknown speaker.*'nobody'"):
        PatsCorpus(pats_root).intervals(["nobody"])


def test_interval_read_back_exactly(tmp_path):
    rng = np.random.default_rng(0)
    streams, words = synthetic_interval(rng, 5.0, bert=True)
    p = write_pats_interval(tmp_path / "x.h5", streams, words)
    clip = read_pats_interval(p, speaker="oliver", split="train")
    assert clip.dataset == "pats" and clip.skeleton == "pats" and clip.pose_key == "pose/normalize"
    np.testing.assert_allclose(clip.streams["pose/data"], streams["pose/data"].astype(np.float32))
    assert clip.streams["pose/data"].shape == (75, 104)
    assert clip.streams["audio/log_mel_400"].shape[1] == 64
    assert clip.streams["text/bert"].shape == (75, 768)
    assert clip.streams["text/tokens"].dtype == np.int64
    assert clip.rates["pose/data"] == 15.0 and clip.rates["audio/log_mel_400"] == 100.0
    # text/meta was written by pandas; our reader agrees with pandas' own reader
    df = pd.read_hdf(p, key="text/meta")
    assert clip.words.labels() == list(df.Word)
    assert [round(s.start * 15) for s in clip.words] == list(df.start_frame)
    assert [round(s.end * 15) for s in clip.words] == list(df.end_frame)


def test_text_meta_unicode_and_empty(tmp_path):
    p = tmp_path / "m.h5"
    pd.DataFrame({"Word": ["naïve", "café", "ok"], "start_frame": [0, 3, 7], "end_frame": [3, 7, 9]}).to_hdf(
        p, key="text/meta"
    )
    with h5py.File(p) as f:
        cols = read_pandas_frame(f["text/meta"], p)
    assert list(cols["Word"]) == ["naïve", "café", "ok"]
    assert list(cols["end_frame"]) == [3, 7, 9]
    e = tmp_path / "e.h5"
    pd.DataFrame({"Word": [], "start_frame": [], "end_frame": []}).to_hdf(e, key="text/meta")
    with h5py.File(e) as f:
        assert len(read_pandas_frame(f["text/meta"], e)["Word"]) == 0


def test_restricted_unpickler_refuses_code():
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with pytest.raises(ValueError, match="refusing"):
        safe_unpickle_object_array(pickle.dumps(np.array([Evil()], dtype=object)))
    ok = safe_unpickle_object_array(pickle.dumps(np.array(["a", 1, 2.5], dtype=object), protocol=2))
    assert list(ok) == ["a", 1, 2.5]


def _interval(tmp_path: Path, name: str = "bad.h5", **changes) -> Path:
    streams, words = synthetic_interval(np.random.default_rng(1), 4.0)
    for k, v in changes.items():
        key = k.replace("__", "/")
        if v is None:
            streams.pop(key)
        else:
            streams[key] = v
    return write_pats_interval(tmp_path / name, streams, words)


def test_broken_intervals_name_the_file(tmp_path):
    good = _interval(tmp_path, "good.h5")
    # truncated HDF5
    trunc = tmp_path / "trunc.h5"
    trunc.write_bytes(good.read_bytes()[:2000])
    with pytest.raises(FormatError, match=r"trunc\.h5.*(truncated|unreadable)"):
        read_pats_interval(trunc)
    # missing key (asked for)
    p = _interval(tmp_path, "nokey.h5", audio__log_mel_400=None)
    with pytest.raises(FormatError, match=r"nokey\.h5.*missing key.*audio/log_mel_400"):
        read_pats_interval(p, keys=["pose/data", "audio/log_mel_400"])
    # wrong shape
    p = _interval(tmp_path, "shape.h5", pose__data=np.zeros((60, 100)))
    with pytest.raises(FormatError, match=r"shape\.h5.*pose/data must be \(T, 104\)"):
        read_pats_interval(p)
    # NaN poses
    pose = np.zeros((60, 104))
    pose[3, 7] = np.nan
    p = _interval(tmp_path, "nan.h5", pose__normalize=pose)
    with pytest.raises(FormatError, match=r"nan\.h5.*pose/normalize has 1 NaN"):
        read_pats_interval(p)
    # audio shorter than pose
    p = _interval(tmp_path, "short.h5", audio__log_mel_400=np.zeros((150, 64)))
    with pytest.raises(FormatError, match=r"short\.h5.*audio .* shorter than the pose"):
        read_pats_interval(p)


def test_empty_transcript_is_an_error(tmp_path):
    streams, _ = synthetic_interval(np.random.default_rng(2), 3.0)
    p = write_pats_interval(tmp_path / "empty_text.h5", streams, words=[])
    with pytest.raises(FormatError, match=r"empty_text\.h5.*empty transcript"):
        read_pats_interval(p, keys=["pose/data", "text/meta"])
