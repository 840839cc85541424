import json
import os
from pathlib import Path

import numpy as np
import pytest

from ema_fixtures import write_cmu_speaker
from gesturekit.errors import DataError
from gesturekit.io.corpus import load_split, make_split, open_corpus, save_split


@pytest.fixture
def cmu_root(tmp_path: Path) -> Path:
    root = tmp_path / "emadata"
    write_cmu_speaker(root, "aaa0", {f"aaa0_{i:03d}": 60 + i for i in range(10)}, seed=0)
    write_cmu_speaker(root, "bbb0", {f"bbb0_{i:03d}": 50 + i for i in range(5)}, seed=100)
    (root / "cin_us_bbb0" / "nema" / "bbb0_000.npy").write_bytes(b"")  # a converted copy: ignored
    return root


def test_cmu_layout_and_speaker_filter(cmu_root: Path) -> None:
    c = open_corpus(cmu_root)
    assert c.layout == "cmu" and len(c) == 15 and c.speakers == ["aaa0", "bbb0"]
    assert all(i.path.suffix == ".ema" for i in c.items)
    only = open_corpus(cmu_root, speakers=["BBB0"])
    assert len(only) == 5 and only.speakers == ["bbb0"]
    recs = only.load()
    assert [r.speaker for r in recs] == ["bbb0"] * 5
    assert all(r.ema_stats and r.audio and r.phones and r.prompt for r in recs)
    with pytest.raises(DataError, match=r"no utterances of speaker\(s\) \['zzz'\]; the corpus has"):
        open_corpus(cmu_root, speakers=["zzz"])
    one = open_corpus(cmu_root / "cin_us_aaa0")
    assert one.layout == "cmu" and len(one) == 10


def test_flat_folder(mngu0_dir: Path, mocha_dir: Path) -> None:
    c = open_corpus([mngu0_dir, mocha_dir])
    assert c.layout == "flat" and len(c) == 9 and c.speakers == ["fsew0", "mngu0"]


def test_split_is_reproducible_stratified_and_complete(cmu_root: Path) -> None:
    c = open_corpus(cmu_root)
    a, b = make_split(c, (0.6, 0.2, 0.2), seed=5), make_split(c, (0.6, 0.2, 0.2), seed=5)
    assert a.parts == b.parts
    assert make_split(c, (0.6, 0.2, 0.2), seed=6).parts != a.parts
    ids = sorted(sum(a.parts.values(), []))
    assert ids == sorted(i.id for i in c.items)  # every utterance exactly once
    for spk, n in (("aaa0", 10), ("bbb0", 5)):
        per = {k: sum(spk in i for i in v) for k, v in a.parts.items()}
        assert sum(per.values()) == n and per["validation"] >= 1 and per["test"] >= 1
    # order of discovery does not matter, only the ids and the seed
    c.items.reverse()
    assert make_split(c, (0.6, 0.2, 0.2), seed=5).parts == a.parts
    with pytest.raises(DataError, match="summing to 1"):
        make_split(c, (0.5, 0.2, 0.2))


def test_save_split_beside_a_writable_corpus_and_never_into_read_only(cmu_root: Path, tmp_path: Path) -> None:
    c = open_corpus(cmu_root)
    s = c.split(seed=1)
    path = save_split(s, c)
    assert path is not None and path.parent == cmu_root
    assert load_split(path).parts == s.parts and json.loads(path.read_text())["seed"] == 1
    assert save_split(s, c) == path  # the same split again: fine
    with pytest.raises(DataError, match="exists with a different split"):
        save_split(c.split(seed=2), c, path=path)
    # a read-only corpus folder: nothing written, nothing fails; an explicit path works
    ro = tmp_path / "ro"
    write_cmu_speaker(ro, "ccc0", {"ccc0_001": 40, "ccc0_002": 40, "ccc0_003": 40})
    os.chmod(ro, 0o555)
    try:
        rc = open_corpus(ro)
        before = sorted(os.listdir(ro))
        assert save_split(rc.split(seed=0), rc) is None
        assert sorted(os.listdir(ro)) == before
        out = save_split(rc.split(seed=0), rc, path=tmp_path / "splits" / "ccc.json")
        assert out.exists()
    finally:
        os.chmod(ro, 0o755)


def test_a_read_only_real_corpus_is_never_written(mngu0_dir: Path, read_only_copy) -> None:
    ro = read_only_copy(mngu0_dir)  # read-only whatever ../shared is on this machine
    before = {p.name: p.stat().st_mtime_ns for p in ro.iterdir()}
    c = open_corpus(ro)
    assert len(c) == 8
    assert save_split(c.split(seed=0), c) is None
    assert {p.name: p.stat().st_mtime_ns for p in ro.iterdir()} == before
    assert np.isfinite(c.load()[0].data).all()


def test_find_ema_files_reads_only_nema_in_a_cmu_tree(cmu_root: Path) -> None:
    from gesturekit.io import find_ema_files, load_recordings

    np.save(cmu_root / "cin_us_aaa0" / "lab" / "aaa0_000.npy", np.arange(5))  # converted labels
    (cmu_root / ".hidden").mkdir()
    files = find_ema_files([cmu_root])
    assert len(files) == 15 and all(f.parent.name == "nema" and f.suffix == ".ema" for f in files)
    assert len(load_recordings([cmu_root / "cin_us_bbb0"])) == 5


def test_find_ema_files_skips_hidden_files_in_a_flat_folder(tmp_path: Path) -> None:
    from gesturekit.io import find_ema_files

    np.save(tmp_path / "a_1.npy", np.zeros((5, 12)))
    np.save(tmp_path / ".a_1.npy.tmp.npy", np.zeros((5, 12)))
    (tmp_path / ".cache").mkdir()
    np.save(tmp_path / ".cache" / "b_1.npy", np.zeros((5, 12)))
    assert [f.name for f in find_ema_files([tmp_path])] == ["a_1.npy"]
