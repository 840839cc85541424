"""The packed store: exact contents, window gather, text merging, resume, verify, broken input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from gesturekit.errors import ConfigError, GesturekitError
from gesturekit.io.pats import PatsCorpus, read_pats_interval
from gesturekit.io.pats_write import make_synthetic_pats
from gesturekit.store import PackedStore, WindowDataset, make_loader, pack_pats, verify_store
from gesturekit.store.dataset import merge_tokens
from gesturekit.store.stats import read_muvar


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return make_synthetic_pats(tmp_path_factory.mktemp("c") / "data", n_per_speaker=10, seed=5)


@pytest.fixture(scope="module")
def store(corpus, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("s") / "store"
    pack_pats(corpus, out, workers=2)
    return out


def test_store_holds_every_interval_exactly(corpus, store):
    st = PackedStore(store)
    assert st.format == "pats" and st.speakers == ["lec_cosmic", "oliver"]
    ivs = {iv.interval_id: iv for iv in PatsCorpus(corpus).intervals()}
    n = 0
    for split in st.splits:
        for i, name in enumerate(st.index(split)["names"]):
            iv = ivs[name]
            assert iv.split == split
            clip = read_pats_interval(iv.path)
            got = st.interval(split, i)
            for k in st.keys:
                np.testing.assert_array_equal(got[k], clip.streams[k].astype(got[k].dtype))
            n += 1
    assert n == len(ivs) == 18  # missing intervals excluded


def test_windows_match_direct_slicing(corpus, store):
    st = PackedStore(store)
    ds = WindowDataset(st, "train", time=4.3, fs=15, hop=5, repeat_text=True)
    assert ds.length == 64
    ids = np.arange(0, len(ds), 7)
    batch = ds[ids]
    assert batch["pose/normalize"].shape == (len(ids), 64, 104)
    assert batch["audio/log_mel_400"].shape == (len(ids), 64, 64)
    assert batch["text/tokens"].shape == (len(ids), 64)
    for b in range(len(ids)):
        name = ds.interval_names[int(batch["interval"][b])]
        clip = read_pats_interval(corpus / "processed" / st.speakers[int(batch["speaker"][b])] / f"{name}.h5")
        s = int(batch["start"][b])
        np.testing.assert_array_equal(
            batch["pose/normalize"][b].numpy(), clip.streams["pose/normalize"][s : s + 64]
        )
        rows = np.floor((s + np.arange(64)) / 15 * 100 + 1e-6).astype(int)
        np.testing.assert_array_equal(
            batch["audio/log_mel_400"][b].numpy(), clip.streams["audio/log_mel_400"][rows]
        )
    # hop 5: consecutive windows of one interval start 5 frames apart
    same = ds.window_interval[1:] == ds.window_interval[:-1]
    assert np.all(np.diff(ds.window_start)[same] == 5)


def test_merge_tokens():
    frames = np.array([[5, 5, 7, 7, 7, 5], [1, 1, 1, 1, 1, 1]])
    tok, dur, cnt = merge_tokens(frames)
    assert tok.tolist() == [[5, 7, 5], [1, 0, 0]]
    assert dur.tolist() == [[2, 3, 1], [6, 0, 0]]
    assert cnt.tolist() == [3, 1]


def test_stats_are_training_frames(store):
    st = PackedStore(store)
    ix = st.index("train")
    k = st.keys.index("pose/data")
    rows = [i for i, s in enumerate(ix["speakers"]) if st.speakers[s] == "oliver"]
    frames = np.concatenate([st.interval("train", i)["pose/data"] for i in rows]).astype(np.float64)
    mean, var = read_muvar(store / "muvar" / "oliver.h5")["pose/data"]
    assert mean.shape == (1, 1, 104)
    np.testing.assert_allclose(mean[0, 0], frames.mean(0), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(var[0, 0], frames.var(0), rtol=1e-5)
    z = WindowDataset(st, "train", zscore=True, speakers=["oliver"])
    x = z[list(range(len(z)))]["pose/data"].numpy().reshape(-1, 104)
    assert abs(float(x[:, 1:].mean())) < 0.3 and 0.5 < float(x[:, 1:].std()) < 1.5
    assert ix["lengths"][rows, k].sum() == len(frames)


def test_loader_is_seeded(store):
    ds = WindowDataset(store, "train", hop=5)
    a = [b["interval"].tolist() for b in make_loader(ds, 8, seed=3)]
    b = [b["interval"].tolist() for b in make_loader(ds, 8, seed=3)]
    assert a == b and sum(len(x) for x in a) == len(ds)


def test_verify_detects_corruption(store, tmp_path):
    assert verify_store(store)["ok"]
    bad = tmp_path / "bad"
    shutil.copytree(store, bad)
    arr = np.load(bad / "train" / "pose__data.npy", mmap_mode="r+")
    arr[3, 3] += 1.0
    arr.flush()
    del arr
    res = verify_store(bad)
    assert not res["ok"] and res["bad_files"] == ["train/pose__data.npy"] and len(res["bad_intervals"]) == 1


def test_resume_after_interruption(corpus, store, tmp_path):
    out = tmp_path / "resumed"
    pack_pats(corpus, out, workers=1)
    # simulate a crash after 3 intervals of the train split: drop the metadata and later progress
    (out / "store.json").unlink()
    prog = out / "progress" / "train.jsonl"
    prog.write_text("".join(prog.read_text().splitlines(keepends=True)[:3]))
    with pytest.raises(ConfigError, match="--resume"):
        pack_pats(corpus, out)
    rep = pack_pats(corpus, out, resume=True)
    assert rep.resumed >= 3
    a, b = json.loads((out / "store.json").read_text()), json.loads((store / "store.json").read_text())
    assert a["checksums"] == b["checksums"]


def test_broken_interval_fails_or_is_skipped(tmp_path):
    root = make_synthetic_pats(tmp_path / "data", speakers=("oliver",), n_per_speaker=5, seed=1)
    bad = root / "processed" / "oliver" / "oliver_00001.h5"
    bad.write_bytes(bad.read_bytes()[:1500])
    with pytest.raises(GesturekitError, match="oliver_00001.h5"):
        pack_pats(root, tmp_path / "s1")
    rep = pack_pats(root, tmp_path / "s2", skip_broken=True)
    assert [s["name"] for s in rep.skipped] == ["oliver_00001"]
    assert sum(rep.written.values()) == 3
    assert PackedStore(tmp_path / "s2").meta["skipped"][0]["name"] == "oliver_00001"
