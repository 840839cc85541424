"""SMPL-X rotations (what a BEAT2 model generates) are evaluated and drawn as joint positions."""

from __future__ import annotations

import numpy as np
import pytest

from gesturekit.cospeech.evaluation.fgd import FGDRecipe
from gesturekit.cospeech.evaluation.metrics import EvalOptions, evaluate_file
from gesturekit.io.samples import SampleItem, Samples, write_samples
from gesturekit.skeleton import (
    BEAT2,
    BEAT2_JOINTS,
    BEAT2_PARENTS,
    Skeleton,
    forward_kinematics,
    looks_like_rotations,
    needs_kinematics,
    to_positions,
)

SMALL = FGDRecipe(window=16, hop=8, channels=16, latent=8, epochs=2)
# how a BEAT2-format model names its samples (see cospeech.inference.sampling): skeleton "smplx6d", units "rad"
MODEL_SKELETON = Skeleton("smplx6d", BEAT2_JOINTS, BEAT2_PARENTS, 3)


@pytest.fixture(scope="module")
def beat2_rotations(beat2_dir) -> np.ndarray:
    """``(240, 55, 3)`` axis-angle of the BEAT2 sample at 15 fps (every second frame, 16 s)."""
    from gesturekit.io.beat2 import read_beat2_take

    clip = read_beat2_take(beat2_dir / "2_scott_0_1_1.npz", audio=False)
    aa = np.asarray(clip.streams["pose/axis_angle"], dtype=np.float64)
    return aa.reshape(len(aa), 55, 3)[:480:2]


def test_rotations_and_positions_are_told_apart(beat2_rotations):
    pos = to_positions(beat2_rotations)
    assert pos.shape == (240, 55, 3)
    assert looks_like_rotations(beat2_rotations) and not looks_like_rotations(pos)
    assert needs_kinematics(MODEL_SKELETON, beat2_rotations, "rad")
    assert needs_kinematics(BEAT2, beat2_rotations, "")  # decided from the data
    assert not needs_kinematics(BEAT2, pos, "")
    assert not needs_kinematics(BEAT2, beat2_rotations, "m")  # the file says positions
    six = np.concatenate([np.eye(3)[:, :2].T.reshape(6)] * 55).reshape(1, 55, 6).repeat(3, axis=0)
    np.testing.assert_allclose(to_positions(six)[0], forward_kinematics(np.zeros((1, 55, 3)))[0], atol=1e-12)


def _write(path, gen, gt, skeleton, units, audio):
    items = [
        SampleItem(f"take{i}", "scott", g, r, start_s=i * len(g) / 15, audio_path=str(audio))
        for i, (g, r) in enumerate(zip(gen, gt, strict=True))
    ]
    return write_samples(path, Samples(items, 15.0, skeleton, units=units, model="m"))


def test_rotation_samples_are_scored_on_forward_kinematics_positions(beat2_rotations, beat2_dir, tmp_path):
    gt = [beat2_rotations[:120], beat2_rotations[120:]]
    noise = np.random.default_rng(0).normal(0, 0.05, beat2_rotations.shape)
    gen = [g + noise[: len(g)] for g in gt]
    wav = beat2_dir / "2_scott_0_1_1.wav"
    rot = _write(tmp_path / "rot.h5", gen, gt, MODEL_SKELETON, "rad", wav)
    pos = _write(
        tmp_path / "pos.h5", [to_positions(g) for g in gen], [to_positions(g) for g in gt], BEAT2, "m", wav
    )
    opt = EvalOptions(fgd_recipe=SMALL)
    a, b = evaluate_file(rot, opt), evaluate_file(pos, EvalOptions(fgd_recipe=SMALL))
    assert "forward kinematics" in a["meta"]["poses"] and a["meta"]["units"] == "m"
    assert b["meta"]["poses"] == "as stored"
    for k, v in a["overall"].items():  # the same numbers (the file stores float32: rounding differs)
        assert v == pytest.approx(b["overall"][k], rel=1e-4, abs=1e-6), k
    o = a["overall"]
    assert 0 < o["l1_units"] < 0.1  # metres: 0.05 rad of noise moves joints by centimetres
    assert 0 < o["pck"] < 1 and o["fgd"] > 0 and o["beat_consistency"] is not None
    same = _write(tmp_path / "same.h5", gt, gt, MODEL_SKELETON, "rad", wav)
    z = evaluate_file(same, EvalOptions(fgd_recipe=SMALL))["overall"]
    assert z["l1"] == 0 and z["pck"] == 1 and z["fid"] == pytest.approx(0, abs=1e-6)


def test_rendering_generated_rotations_draws_their_positions(beat2_rotations, tmp_path):
    from gesturekit.render.video import load_motion

    np.savez(  # the layout `cospeech generate` writes for a BEAT2-format model
        tmp_path / "poses.npz",
        poses=beat2_rotations.astype(np.float32),
        fps=np.float32(15),
        joint_names=np.array(BEAT2_JOINTS),
        parents=np.array(BEAT2_PARENTS, dtype=np.int64),
    )
    m = load_motion(tmp_path / "poses.npz")
    assert m.skeleton is BEAT2 and m.fps == 15
    np.testing.assert_allclose(
        m.clips[0].generated, to_positions(beat2_rotations.astype(np.float32)), atol=1e-9
    )
    s = load_motion(_write(tmp_path / "s.h5", [beat2_rotations], [beat2_rotations], MODEL_SKELETON, "rad", "x"))
    assert s.skeleton is BEAT2
    np.testing.assert_allclose(s.clips[0].ground_truth, to_positions(beat2_rotations.astype(np.float32)))


def test_an_fgd_encoder_of_another_skeleton_is_refused(beat2_rotations, beat2_dir, tmp_path):
    from evalfixtures import moving_poses
    from gesturekit.cospeech.evaluation.fgd import train_fgd_encoder
    from gesturekit.cospeech.evaluation.pose_metrics import metric_joints, root_joints
    from gesturekit.errors import DataError
    from gesturekit.skeleton import PATS

    pats_enc = train_fgd_encoder([moving_poses(60)], metric_joints(PATS), root_joints(PATS), SMALL)
    gt = [beat2_rotations[:120]]
    rot = _write(tmp_path / "rot.h5", gt, gt, MODEL_SKELETON, "rad", beat2_dir / "2_scott_0_1_1.wav")
    with pytest.raises(DataError, match="train an encoder on this skeleton"):
        evaluate_file(rot, EvalOptions(fgd_encoder=pats_enc))
