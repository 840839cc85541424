"""gesturekit's BVH reader and writer: every Euler order, gimbal lock, depth-first files, position
channels below the root, files written by a third-party tool (pybvh), and malformed files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from gesturekit.errors import FormatError
from gesturekit.io.bvh import EULER_ORDERS, depth_first, read_bvh, write_bvh
from gesturekit.skeleton import forward_kinematics

# a tree whose index order is not depth first: 1 and 2 hang from 0, 3 from 1, 4 from 2
NAMES = ["hips", "left", "right", "left_tip", "right_tip"]
PARENTS = [-1, 0, 0, 1, 2]
OFFSETS = np.array([[0.0, 0, 0], [10, 0, 0], [-10, 0, 0], [0, -20, 3], [0, -20, -3]])


def angle_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rotation angle of ``a^T b`` (radians), any leading axes."""
    cos = (np.trace(np.swapaxes(a, -1, -2) @ b, axis1=-2, axis2=-1) - 1) / 2
    return np.arccos(np.clip(cos, -1, 1))


def random_motion(n: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    rot = Rotation.random(n * len(NAMES), random_state=seed).as_matrix().reshape(n, len(NAMES), 3, 3)
    return rot, rng.normal(size=(n, 3)) * 50


def test_depth_first_order() -> None:
    assert depth_first(PARENTS) == [0, 1, 3, 2, 4]
    with pytest.raises(ValueError, match="one root"):
        depth_first([-1, -1])


@pytest.mark.parametrize("order", EULER_ORDERS)
def test_write_read_round_trip_every_order(tmp_path: Path, order: str) -> None:
    rot, root = random_motion()
    # gimbal lock: the middle angle at +-90 degrees
    rot[0, 1] = Rotation.from_euler(order, [30, 90, -40], degrees=True).as_matrix()
    rot[1, 2] = Rotation.from_euler(order, [10, -90, 70], degrees=True).as_matrix()
    path = write_bvh(tmp_path / "m.bvh", NAMES, PARENTS, OFFSETS, rot, root, 24.0, order=order)
    m = read_bvh(path)
    assert m.joint_names == [NAMES[j] for j in depth_first(PARENTS)]
    assert m.parents == [-1, 0, 1, 0, 3] and m.n_frames == 40 and m.fps == pytest.approx(24.0, rel=1e-12)
    assert m.rotation_order(0) == order and m.rotation_order(4) == order
    idx = [m.joint_names.index(n) for n in NAMES]
    assert angle_between(m.local_rotations()[:, idx], rot).max() < 1e-6
    expect = forward_kinematics(rot, PARENTS, OFFSETS, trans=root)
    np.testing.assert_allclose(m.positions()[:, idx], expect, atol=1e-4)
    assert set(m.end_sites) == {m.joint_names.index("left_tip"), m.joint_names.index("right_tip")}


def test_channels_declare_the_order(tmp_path: Path) -> None:
    rot = Rotation.from_euler("ZXY", [[20, 30, 40]], degrees=True).as_matrix()[None].repeat(2, 1)[:, :2]
    path = write_bvh(tmp_path / "o.bvh", ["a", "b"], [-1, 0], np.eye(3)[:2], rot, np.zeros((1, 3)), 30.0)
    text = path.read_text()
    assert "CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation" in text
    assert "CHANNELS 3 Zrotation Xrotation Yrotation" in text
    values = np.array(text.split("Frame Time:")[1].split()[1:], dtype=float)
    np.testing.assert_allclose(values, [0, 0, 0, 20, 30, 40, 20, 30, 40], atol=1e-6)


def test_reads_what_pybvh_writes(tmp_path: Path) -> None:
    pybvh = pytest.importorskip("pybvh")
    rot, root = random_motion(12, seed=3)
    ours = write_bvh(tmp_path / "ours.bvh", NAMES, PARENTS, OFFSETS, rot, root, 30.0, order="XYZ")
    theirs = tmp_path / "theirs.bvh"
    b = pybvh.read_bvh_file(ours)
    b.change_euler_order("YXZ", inplace=True)  # a different order, written by the third-party writer
    pybvh.write_bvh_file(b, theirs)
    m = read_bvh(theirs)
    assert m.rotation_order(1) == "YXZ" and m.n_frames == 12
    np.testing.assert_allclose(m.positions(), b.joint_positions(), atol=1e-4)
    idx = [m.joint_names.index(n) for n in NAMES]
    assert angle_between(m.local_rotations()[:, idx], rot).max() < 1e-5


def test_position_channels_below_the_root(tmp_path: Path) -> None:
    text = """HIERARCHY
ROOT a
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT b
  {
    OFFSET 1 0 0
    CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 1 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.5
1 2 3 90 0 0 5 0 0 0 0 0
0 0 0 0 0 0 2 0 0 0 0 0
"""
    path = tmp_path / "p.bvh"
    path.write_text(text)
    m = read_bvh(path)
    assert m.fps == 2.0 and m.end_sites[1].tolist() == [0, 1, 0]
    # frame 0: root at (1, 2, 3) turned 90 degrees about z, so b's translation (5, 0, 0) points along +y
    np.testing.assert_allclose(m.positions()[0], [[1, 2, 3], [1, 7, 3]], atol=1e-9)
    np.testing.assert_allclose(m.positions()[1], [[0, 0, 0], [2, 0, 0]], atol=1e-9)


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda t: t.replace("HIERARCHY", "HIERARCH"), "line 1: expected HIERARCHY"),
        (lambda t: t.replace("CHANNELS 3 Zrotation", "CHANNELS 4 Zrotation", 1), "CHANNELS says 4 but lists 3"),
        (lambda t: t.replace("CHANNELS 3 Zrotation Xrotation", "CHANNELS 2 Zrotation", 1), "0 or 3 rotation"),
        (lambda t: t.replace("Zrotation", "Qrotation", 1), "unknown channel(s) ['Qrotation']"),
        (lambda t: t.split("MOTION")[0], "no MOTION section"),
        (lambda t: t.rsplit("\n", 3)[0] + "\n", "MOTION has"),
        (lambda t: t.replace("Frames: 3", "Frames: 4"), "4 frames x 9 channels need 36"),
        (lambda t: t.replace("OFFSET 1.000000", "OFFSET one", 1), "OFFSET values are not numbers"),
        (lambda t: t.replace("Frame Time: ", "Frame Time: -"), "Frame Time must be positive"),
        (lambda t: t.replace("}\nMOTION", "MOTION"), "block(s) open"),
    ],
)
def test_malformed_files_name_the_file_and_problem(tmp_path: Path, edit, problem: str) -> None:
    rot = np.broadcast_to(np.eye(3), (3, 2, 3, 3))
    good = write_bvh(tmp_path / "g.bvh", ["a", "b"], [-1, 0], np.eye(3)[:2], rot, np.zeros((3, 3)), 30.0)
    bad = tmp_path / "bad.bvh"
    bad.write_text(edit(good.read_text()))
    with pytest.raises(FormatError) as err:
        read_bvh(bad)
    assert str(err.value).startswith(f"{bad}: ") and problem in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="BVH file not found"):
        read_bvh(tmp_path / "nope.bvh")


def test_writer_checks_shapes(tmp_path: Path) -> None:
    rot, root = random_motion(5)
    with pytest.raises(ValueError, match="shapes do not agree"):
        write_bvh(tmp_path / "x.bvh", NAMES, PARENTS, OFFSETS, rot, root[:4], 30.0)
    with pytest.raises(ValueError, match="Euler order"):
        write_bvh(tmp_path / "x.bvh", NAMES, PARENTS, OFFSETS, rot, root, 30.0, order="XXY")
    assert not (tmp_path / "x.bvh").exists()
