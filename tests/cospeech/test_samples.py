from pathlib import Path

import h5py
import numpy as np
import pytest

from gesturekit.errors import FormatError
from gesturekit.io.samples import SampleItem, Samples, read_samples, write_samples
from gesturekit.records import Segment
from gesturekit.skeleton import PATS, pats_flat_to_joints, pats_joints_to_flat


def test_pats_layout_is_x_then_y() -> None:
    flat = np.arange(104, dtype=float)[None]
    j = pats_flat_to_joints(flat)
    assert j.shape == (1, 52, 2) and j[0, 3, 0] == 3 and j[0, 3, 1] == 55
    np.testing.assert_array_equal(pats_joints_to_flat(j), flat)
    assert PATS.parents[PATS.joints.index("RWrist")] == PATS.joints.index("RElbow")


def test_samples_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    items = [
        SampleItem("b_id", "oliver", rng.normal(size=(20, 52, 2)).astype(np.float32),
                   rng.normal(size=(20, 52, 2)).astype(np.float32),
                   words=[Segment("héllo", 0.1, 0.4)], audio_path="x.mp3"),
        SampleItem("a_id", "seth", rng.normal(size=(7, 52, 2)).astype(np.float32)),
    ]  # fmt: skip
    write_samples(tmp_path / "s.h5", Samples(items, fps=15, skeleton=PATS, model="m"))
    back = read_samples(tmp_path / "s.h5")
    assert [it.interval_id for it in back.items] == ["b_id", "a_id"]
    assert back.skeleton is PATS and back.fps == 15 and back.speakers() == ["oliver", "seth"]
    np.testing.assert_array_equal(back.items[0].ground_truth, items[0].ground_truth)
    assert back.items[0].words == [Segment("héllo", 0.1, 0.4)] and back.items[1].ground_truth is None


def test_foreign_file_is_rejected(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["a"] = 1
    with pytest.raises(FormatError, match="not a gesturekit samples"):
        read_samples(tmp_path / "x.h5")
    (tmp_path / "y.h5").write_text("nope")
    with pytest.raises(FormatError, match="HDF5"):
        read_samples(tmp_path / "y.h5")
