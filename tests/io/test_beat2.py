"""BEAT2: the real sample read for real; 6-D rotations; the generic skeleton's forward kinematics."""

from __future__ import annotations

import numpy as np
import pytest

from gesturekit.errors import FormatError
from gesturekit.features.rotations import (
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    rot6d_to_matrix,
)
from gesturekit.io.beat2 import beat2_positions, find_takes, read_beat2_take
from gesturekit.skeleton import BEAT2_OFFSETS, BEAT2_PARENTS, SKELETONS, forward_kinematics


def test_real_sample(beat2_dir):
    takes = find_takes(beat2_dir)
    assert [t.name for t in takes] == ["2_scott_0_1_1"]
    clip = read_beat2_take(takes[0])
    assert clip.speaker == "scott" and clip.dataset == "beat2" and clip.skeleton == "beat2"
    assert clip.streams["pose/axis_angle"].shape == (1906, 165)
    assert clip.streams["pose/rot6d"].shape == (1906, 330)
    assert clip.streams["pose/trans"].shape == (1906, 3)
    assert clip.streams["face/expressions"].shape == (1906, 100)
    assert clip.pose_rate_hz == 30.0 and abs(clip.duration - 63.533) < 0.01
    assert clip.audio.rate_hz == 16000 and abs(clip.audio.duration - 64.097) < 0.01
    assert len(clip.words) == 220 and len(clip.phones) == 684
    first = clip.words.nonempty().segments[0]
    assert first.label.lower() == "the" and abs(first.start - 1.42) < 0.02
    # the 6-D representation maps back to the same rotations
    aa = clip.streams["pose/axis_angle"].reshape(-1, 55, 3)
    r = rot6d_to_matrix(clip.streams["pose/rot6d"].reshape(-1, 55, 6))
    np.testing.assert_allclose(r, axis_angle_to_matrix(aa), atol=1e-5)
    pos = beat2_positions(clip)
    assert pos.shape == (1906, 55, 3) and np.all(np.isfinite(pos))
    # bone lengths are the generic ones in every frame (rigid skeleton)
    lengths = np.linalg.norm(pos[:, 1:] - pos[:, BEAT2_PARENTS[1:]], axis=-1)
    np.testing.assert_allclose(
        lengths, np.broadcast_to(np.linalg.norm(BEAT2_OFFSETS[1:], axis=-1), lengths.shape), atol=1e-6
    )
    # the head stays above the pelvis for a standing speaker
    assert np.mean(pos[:, 15, 1] > pos[:, 0, 1]) > 0.99


def test_rotation_round_trip():
    rng = np.random.default_rng(0)
    aa = rng.normal(size=(500, 3))
    aa *= (rng.uniform(0, np.pi - 1e-3, size=500) / np.linalg.norm(aa, axis=-1))[:, None]
    back = matrix_to_axis_angle(axis_angle_to_matrix(aa))
    np.testing.assert_allclose(back, aa, atol=1e-6)
    r = axis_angle_to_matrix(aa)
    np.testing.assert_allclose(r @ np.swapaxes(r, -1, -2), np.broadcast_to(np.eye(3), r.shape), atol=1e-10)


def test_forward_kinematics_rest_and_elbow():
    rest = forward_kinematics(np.zeros((1, 165)))[0]
    np.testing.assert_allclose(rest[20], rest[18] + BEAT2_OFFSETS[20])  # wrist = elbow + offset in rest pose
    # bend the left elbow 90 degrees about y: the wrist moves off the x axis of the arm
    aa = np.zeros((1, 55, 3))
    aa[0, 18] = [0, np.pi / 2, 0]
    bent = forward_kinematics(aa)[0]
    np.testing.assert_allclose(
        np.linalg.norm(bent[20] - bent[18]), np.linalg.norm(BEAT2_OFFSETS[20]), atol=1e-9
    )
    assert not np.allclose(bent[20], rest[20])
    assert SKELETONS["beat2"].n_joints == 55 and SKELETONS["beat2"].dims == 3


def test_broken_npz(tmp_path):
    p = tmp_path / "1_x_0_0_0.npz"
    np.savez(p, poses=np.full((10, 165), np.nan, np.float32))
    with pytest.raises(FormatError, match=r"1_x_0_0_0\.npz.*non-finite"):
        read_beat2_take(p)
    np.savez(p, poses=np.zeros((10, 99), np.float32))
    with pytest.raises(FormatError, match=r"\(T, 165\)"):
        read_beat2_take(p)
