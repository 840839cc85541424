"""The corpus-source registry: PATS, BEAT2 and feature clips register themselves; detection asks
them in order; a new source is one registration."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from beat2_fixtures import write_take
from gesturekit.cospeech.data.synthetic import make_synthetic_corpus
from gesturekit.cospeech.data.types import write_clip_folder
from gesturekit.errors import FormatError
from gesturekit.io.pats_write import make_synthetic_pats
from gesturekit.store import pack_beat2, pack_clips, pack_pats
from gesturekit.store.sources import (
    CORPUS_SOURCES,
    CorpusSource,
    corpus_info,
    corpus_source,
    detect_format,
    register_corpus_source,
)


def test_the_three_sources_register_themselves_with_their_pack_and_pose_key() -> None:
    got = {name: (s.pack, s.pose_key, s.time_split) for name, s in CORPUS_SOURCES.items()}
    assert got == {
        "clips": (pack_clips, "pose/vector", False),
        "pats": (pack_pats, "pose/normalize", False),
        "beat2": (pack_beat2, "pose/rot6d", True),
    }


def test_detection_of_clips_beat2_stores_and_strangers(tmp_path: Path) -> None:
    corpus = make_synthetic_corpus(n_train=2, n_dev=1, n_test=1, frames=16)
    clips = write_clip_folder(tmp_path / "clips", corpus)
    assert detect_format(clips) == "clips"  # its clips/*.npz do not make it a BEAT2 folder
    assert corpus_source(clips).name == "clips"
    write_take(tmp_path / "beat2", "2_scott_0_1_1", seconds=1.0)
    assert detect_format(tmp_path / "beat2") == "beat2"
    pats = make_synthetic_pats(tmp_path / "pats" / "data", n_per_speaker=2, seed=0)
    assert detect_format(pats) == "pats" and corpus_info(pats)["format"] == "pats"
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "plan.json").write_text("{}")  # a pack interrupted half-way is a store too
    assert detect_format(tmp_path / "store") == "store"
    with pytest.raises(FormatError, match="a packed store, not a raw corpus folder"):
        corpus_source(tmp_path / "store")
    with pytest.raises(FormatError, match="info describes PATS and BEAT2 folders; this is a feature-clip"):
        corpus_info(clips)
    (tmp_path / "other").mkdir()
    with pytest.raises(FormatError, match="not a packed store"):
        detect_format(tmp_path / "other")
    with pytest.raises(FormatError, match="folder not found"):
        detect_format(tmp_path / "absent")


@pytest.fixture
def toy_source() -> Iterator[CorpusSource]:
    toy = CorpusSource(
        "toy", order=5, detect=lambda root: (root / "toy.txt").exists(), files=lambda root: [root / "toy.txt"],
        pack=pack_clips, pose_key="pose/toy", info=lambda root, speakers: {"format": "toy", "root": str(root)},
    )  # fmt: skip
    register_corpus_source(toy)
    yield toy
    del CORPUS_SOURCES["toy"]


def test_a_new_source_is_one_registration(tmp_path: Path, toy_source: CorpusSource) -> None:
    (tmp_path / "toy.txt").write_text("x")
    (tmp_path / "corpus.json").write_text("{}")  # a clip folder too: the lower order is asked first
    assert detect_format(tmp_path) == "toy"
    assert corpus_info(tmp_path) == {"format": "toy", "root": str(tmp_path)}
