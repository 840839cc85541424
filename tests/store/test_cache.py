"""The store cache: packed once, reused, invalidated, never trusted half-made or foreign."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from beat2_fixtures import link_real_takes, write_split_csv, write_take
from gesturekit.errors import ConfigError, FormatError
from gesturekit.store import pack as pack_mod
from gesturekit.store.cache import open_corpus_store
from gesturekit.store.layout import STORE_JSON

REPO = Path(__file__).resolve().parents[2]


def _clip_folder(root: Path, n: int = 6, frames: int = 40, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    (root / "clips").mkdir(parents=True)
    recs = []
    for i in range(n):
        cid = f"c{i:04d}"
        np.savez(root / "clips" / f"{cid}.npz", pose=rng.normal(size=(frames, 6)).astype(np.float32),
                 audio=rng.normal(size=(frames, 4)).astype(np.float32),
                 text=rng.normal(size=(frames, 3)).astype(np.float32))  # fmt: skip
        recs.append({"id": cid, "speaker": "s1" if i % 2 else "s2", "split": "dev" if i == 0 else "train"})
    fmt = {"kind": "vector", "joint_names": ["a", "b"], "parents": [-1, 0], "dims": 3, "model_joints": []}
    meta = {"format": "gesturekit-feature-clips", "fps": 15.0, "pose_format": fmt, "text_features": "synthetic",
            "clips": recs}  # fmt: skip
    (root / "corpus.json").write_text(json.dumps(meta))
    return root


def _arrays(store) -> dict[str, np.ndarray]:
    return {f"{s}/{k}": np.asarray(store.array(s, k)) for s in store.splits for k in store.keys}


def test_real_takes_in_the_download_layout_split_by_whole_takes(realdata, tmp_path):
    lang = link_real_takes(realdata, tmp_path / "beat_english_v2.0.0")
    write_split_csv(lang, [("2_scott_0_1_1", "train"), ("2_scott_0_2_2", "test")])
    store = open_corpus_store(lang, cache=tmp_path / "cache")
    assert store.meta["split_rule"] == "csv" and store.meta["format"] == "beat2"
    assert store.splits == ["train", "test"]
    train, test = store.index("train"), store.index("test")
    assert train["names"] == ["2_scott_0_1_1"] and test["names"] == ["2_scott_0_2_2"]
    pose = store.keys.index("pose/rot6d")
    # the whole takes, at 30 fps: 1906 and 1804 frames (the test take is 902 frames at 15 fps)
    assert int(train["lengths"][0, pose]) == 1906 and int(test["lengths"][0, pose]) == 1804
    assert list(test["starts"]) == [0.0] and test["audio"][0].endswith("wave16k/2_scott_0_2_2.wav")
    assert store.meta["text_features"] == "words"
    words = np.asarray(store.array("test", "text/words"))
    assert words.shape == (1804, 64) and 0.5 < np.mean(np.abs(words).sum(1) > 0) < 1.0


def test_time_split_only_without_a_csv(tmp_path):
    write_take(tmp_path / "data", "2_scott_0_1_1", seconds=10.0)
    store = open_corpus_store(tmp_path / "data", cache=tmp_path / "cache", holdout=0.2, dev_fraction=0.1)
    assert store.meta["split_rule"] == "time"
    assert store.meta["time_split"] == {"holdout": 0.2, "dev_fraction": 0.1}
    pose = store.keys.index("pose/rot6d")
    lens = {s: int(store.index(s)["lengths"][0, pose]) for s in store.splits}
    assert lens == {"train": 210, "dev": 30, "test": 60}
    assert store.index("test")["starts"][0] == pytest.approx(8.0)
    # slices are cut from the whole take's streams: together they are the whole take's streams
    whole = open_corpus_store(tmp_path / "data", cache=tmp_path / "cache2", holdout=0.0, dev_fraction=0.0)
    joined = np.concatenate([np.asarray(store.array(s, "pose/rot6d")) for s in ("train", "dev", "test")])
    np.testing.assert_array_equal(joined, np.asarray(whole.array("train", "pose/rot6d")))


def test_cache_reuse_and_invalidation(tmp_path, caplog, monkeypatch):
    data = _clip_folder(tmp_path / "clips")
    cache = tmp_path / "cache"
    # the CLI's log set-up (runtime) stops propagation when an earlier test ran a command
    monkeypatch.setattr(logging.getLogger("gesturekit"), "propagate", True)
    caplog.set_level(logging.INFO, logger="gesturekit")
    first = open_corpus_store(data, cache=cache)
    assert first.meta["format"] == "clips" and first.meta["pose_format"]["kind"] == "vector"
    assert first.meta["text_features"] == "synthetic" and first.meta["split_rule"] == "clips"
    stamp = (first.path / STORE_JSON).stat().st_mtime_ns
    caplog.clear()
    again = open_corpus_store(data, cache=cache)
    assert again.path == first.path and (again.path / STORE_JSON).stat().st_mtime_ns == stamp
    assert not [r for r in caplog.records if "packing" in r.getMessage()]
    # a changed source is noticed and packed again
    z = dict(np.load(data / "clips" / "c0003.npz"))
    z["pose"] = z["pose"] + 1.0
    np.savez(data / "clips" / "c0003.npz", **z)
    caplog.clear()
    fresh = open_corpus_store(data, cache=cache)
    assert any("source files changed" in r.getMessage() for r in caplog.records)
    i = fresh.index("train")["names"].index("c0003")
    np.testing.assert_array_equal(fresh.interval("train", i)["pose/vector"], z["pose"])
    # a truncated array in the cache is noticed and packed again
    before = _arrays(fresh)["train/pose/vector"].copy()
    del fresh
    victim = next(first.path.glob("train/pose__vector.npy"))
    with victim.open("r+b") as fh:
        fh.truncate(victim.stat().st_size - 16)
    caplog.clear()
    repaired = open_corpus_store(data, cache=cache)
    assert any("truncated" in r.getMessage() for r in caplog.records)
    np.testing.assert_array_equal(_arrays(repaired)["train/pose/vector"], before)
    # a speaker subset is its own entry
    s1 = open_corpus_store(data, cache=cache, speakers=["s1"])
    assert s1.path != first.path and s1.speakers == ["s1"]


def test_foreign_and_misplaced_caches_are_refused(tmp_path):
    data = _clip_folder(tmp_path / "clips")
    cache = tmp_path / "cache"
    store = open_corpus_store(data, cache=cache)
    meta = json.loads((store.path / STORE_JSON).read_text())
    meta["cache"]["data"] = "/somewhere/else"
    (store.path / STORE_JSON).write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match=r"is the cache of /somewhere/else"):
        open_corpus_store(data, cache=cache)
    del meta["cache"]
    (store.path / STORE_JSON).write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match="not a cache entry"):
        open_corpus_store(data, cache=cache)
    (store.path / STORE_JSON).unlink()
    (store.path / "plan.json").unlink()
    with pytest.raises(ConfigError, match="not a gesturekit store cache entry"):
        open_corpus_store(data, cache=cache)
    assert (store.path / "train").exists()  # the user's folder was left alone
    with pytest.raises(ConfigError, match="must not be inside the data folder"):
        open_corpus_store(data, cache=data / "cache")


def test_a_given_store_is_used_as_it_is_or_refused(tmp_path):
    data = _clip_folder(tmp_path / "clips")
    store = open_corpus_store(data, cache=tmp_path / "cache")
    same = open_corpus_store(store.path)
    assert same.path == store.path
    victim = store.path / "train" / "text__features.npy"
    victim.unlink()
    with pytest.raises(FormatError, match=r"damaged store: train/text__features\.npy is missing"):
        open_corpus_store(store.path)
    (store.path / STORE_JSON).unlink()
    with pytest.raises(FormatError, match="unfinished store"):
        open_corpus_store(store.path)


def test_an_interrupted_pack_is_never_trusted_and_resumes_to_the_same_store(tmp_path, monkeypatch):
    data = _clip_folder(tmp_path / "clips", n=12)
    clean = _arrays(open_corpus_store(data, cache=tmp_path / "clean"))
    calls = {"n": 0}
    real = pack_mod._load_feature_clip

    def dies_after_some(src):
        calls["n"] += 1
        if calls["n"] > 12 + 5:  # the plan reads all 12 once; die in the middle of writing
            raise KeyboardInterrupt
        return real(src)

    monkeypatch.setattr(pack_mod, "_load_feature_clip", dies_after_some)
    with pytest.raises(KeyboardInterrupt):
        open_corpus_store(data, cache=tmp_path / "cache")
    entries = [p for p in (tmp_path / "cache" / "stores").iterdir() if p.is_dir()]
    assert len(entries) == 1 and not (entries[0] / STORE_JSON).exists()
    monkeypatch.setattr(pack_mod, "_load_feature_clip", real)
    resumed = open_corpus_store(data, cache=tmp_path / "cache")
    assert resumed.path == entries[0]
    got = _arrays(resumed)
    assert got.keys() == clean.keys()
    for k in clean:
        np.testing.assert_array_equal(got[k], clean[k])


def test_kill_9_during_a_pack_leaves_nothing_trusted(tmp_path):
    data = _clip_folder(tmp_path / "clips", n=400, frames=200)
    cache = tmp_path / "cache"
    code = (
        "from gesturekit.store.cache import open_corpus_store; "
        f"open_corpus_store({str(data)!r}, cache={str(cache)!r})"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    deadline = time.time() + 120
    progress = None
    while time.time() < deadline and proc.poll() is None:
        progress = (
            next((cache / "stores").glob("*/progress/train.jsonl"), None)
            if (cache / "stores").exists()
            else None
        )
        if progress is not None and progress.stat().st_size > 0:
            break
        time.sleep(0.01)
    killed = proc.poll() is None
    if killed:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    entries = [p for p in (cache / "stores").iterdir() if p.is_dir()]
    if killed:
        assert not (entries[0] / STORE_JSON).exists()
    store = open_corpus_store(data, cache=cache)
    clean = _arrays(open_corpus_store(data, cache=tmp_path / "clean"))
    got = _arrays(store)
    for k in clean:
        np.testing.assert_array_equal(got[k], clean[k])


def _rss_file_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssFile:"):
            return int(line.split()[1]) / 1024
    pytest.skip("no RssFile in /proc/self/status on this system")


def test_read_pages_are_given_back(tmp_path):
    from gesturekit.store import PackedStore, WindowDataset

    data = _clip_folder(tmp_path / "clips", n=4, frames=4000)
    big = np.random.default_rng(0).normal(size=(4000, 1600)).astype(np.float32)  # 25 MB per clip
    for i in range(4):
        z = dict(np.load(data / "clips" / f"c{i:04d}.npz"))
        np.savez(data / "clips" / f"c{i:04d}.npz", **{**z, "text": big})
    store = PackedStore(open_corpus_store(data, cache=tmp_path / "cache").path)
    base = _rss_file_mb()
    assert float(np.asarray(store.array("train", "text/features")).sum()) != 0.0
    assert _rss_file_mb() - base > 50  # 3 clips of 25 MB were read through the map
    store.release_pages()
    assert _rss_file_mb() - base < 10
    # reading windows releases by itself every release_every_bytes
    ds = WindowDataset(store, "train", time=4.0, fs=15.0, hop=1)
    ds.release_every_bytes = 8 << 20
    for start in range(0, len(ds), 64):
        ds.get_batch(np.arange(start, min(start + 64, len(ds))))
    assert _rss_file_mb() - base < 30


def test_a_truncated_array_file_is_named(tmp_path):
    from gesturekit.store.dataset import map_npy

    np.save(tmp_path / "a.npy", np.zeros((100, 4), np.float32))
    with (tmp_path / "a.npy").open("r+b") as fh:
        fh.truncate(500)
    with pytest.raises(FormatError, match=r"a\.npy.*truncated"):
        map_npy(tmp_path / "a.npy")
