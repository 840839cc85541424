"""``cospeech export``: round trips of the real BEAT2 take and of generated motion through BVH (a
third-party reader's rotations and forward kinematics, and gesturekit's own reader) and SMPL-X npz
(back through ``io.beat2``), CSV keypoints, and the inputs a format cannot carry."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from beat2_fixtures import write_take
from gesturekit.cospeech.inference.export import export_file, load_motion
from gesturekit.errors import ConfigError
from gesturekit.features.rotations import axis_angle_to_matrix
from gesturekit.io.beat2 import read_beat2_take
from gesturekit.io.bvh import read_bvh
from gesturekit.io.samples import SampleItem, Samples, write_samples
from gesturekit.skeleton import BEAT2, BEAT2_JOINTS, PATS, forward_kinematics


def angle_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    cos = (np.trace(np.swapaxes(a, -1, -2) @ b, axis1=-2, axis2=-1) - 1) / 2
    return np.arccos(np.clip(cos, -1, 1))


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    """A ``poses.npz`` written by ``generate`` with a small model trained on a BEAT2 folder."""
    from gesturekit.cospeech.inference.pipeline import GesturePipeline
    from gesturekit.cospeech.inference.sampling import generate_file
    from gesturekit.cospeech.training.fit import FitConfig, fit

    root = tmp_path_factory.mktemp("gen")
    take = write_take(root / "beat2", "2_scott_0_1_1", seconds=12.0, seed=0)
    cfg = FitConfig(model="nearest-neighbour", window=16, hop=8, num_clusters=0, seed=1)
    fit(cfg, root / "beat2", None, root / "run", device="cpu")
    generate_file(GesturePipeline.load(root / "run"), take["wav"], None, root / "out")
    return root / "out" / "poses.npz"


def check_bvh(bvh: Path, rotations: np.ndarray, trans: np.ndarray, fps: float, scale: float) -> None:
    """The BVH's rotations and forward kinematics, by pybvh and by gesturekit's reader, equal the input's."""
    pybvh = pytest.importorskip("pybvh", reason="the test-only BVH reader (pip install pybvh; the dev extra)")
    b = pybvh.read_bvh_file(bvh)
    assert b.frame_count == len(rotations) and b.fps == pytest.approx(fps, rel=1e-9)
    assert sorted(b.joint_names) == sorted(BEAT2_JOINTS) and set(b.euler_orders) == {"ZXY"}
    idx = [b.joint_names.index(n) for n in BEAT2_JOINTS]
    local = pybvh.rotations.euler_to_rotmat(b.joint_angles, b.euler_orders)[:, idx]
    assert angle_between(local, axis_angle_to_matrix(rotations)).max() < 1e-3
    expect = forward_kinematics(rotations, trans=trans) * scale
    np.testing.assert_allclose(b.joint_positions()[:, idx], expect, atol=1e-3 * scale)  # pybvh's own FK
    ours = read_bvh(bvh)
    assert ours.n_frames == len(rotations) and ours.fps == pytest.approx(fps, rel=1e-9)
    idx = [ours.joint_names.index(n) for n in BEAT2_JOINTS]
    assert angle_between(ours.local_rotations()[:, idx], axis_angle_to_matrix(rotations)).max() < 1e-3
    np.testing.assert_allclose(ours.positions()[:, idx], expect, atol=1e-3 * scale)


@pytest.mark.parametrize(("units", "scale"), [("cm", 100.0), ("m", 1.0)])
def test_real_beat2_take_to_bvh(beat2_dir: Path, tmp_path: Path, cli, units: str, scale: float) -> None:
    take = beat2_dir / "2_scott_0_1_1.npz"
    out = tmp_path / "scott.bvh"
    r = cli("cospeech", "export", take, "--format", "bvh", "--units", units, "--out", out)
    assert r.code == 0, r
    info = json.loads(r.out)
    assert info["frames"] == 1906 and info["fps"] == 30.0 and info["units"] == units
    clip = read_beat2_take(take, audio=False)
    rot = clip.streams["pose/axis_angle"].reshape(-1, 55, 3)
    assert np.abs(clip.streams["pose/trans"]).max() > 0.01  # the root really moves
    check_bvh(out, rot, clip.streams["pose/trans"], 30.0, scale)


def test_generated_poses_to_bvh(generated: Path, tmp_path: Path) -> None:
    with np.load(generated) as z:
        rot, fps = z["rotations_axis_angle"], float(z["fps"])
        positions = z["poses"]
    assert fps == 15.0 and np.abs(rot).max() > 0.05
    info = export_file(generated, "bvh", tmp_path / "gen.bvh")
    assert info["units"] == "cm" and info["frames"] == len(rot)
    check_bvh(tmp_path / "gen.bvh", rot, np.zeros((len(rot), 3)), fps, 100.0)
    # the positions generate wrote are the same forward kinematics
    b = read_bvh(tmp_path / "gen.bvh")
    idx = [b.joint_names.index(n) for n in BEAT2_JOINTS]
    np.testing.assert_allclose(b.positions()[:, idx] / 100.0, positions, atol=1e-4)


def test_real_take_to_smplx_npz_reloads_equal(beat2_dir: Path, tmp_path: Path) -> None:
    take = beat2_dir / "2_scott_0_1_1.npz"
    out = tmp_path / "2_scott_0_1_1.npz"
    export_file(take, "smplx-npz", out)
    a, b = read_beat2_take(take, audio=False), read_beat2_take(out, audio=False)
    assert a.streams.keys() == b.streams.keys() and a.rates == b.rates
    for k in a.streams:
        np.testing.assert_array_equal(a.streams[k], b.streams[k], err_msg=k)
    np.testing.assert_array_equal(a.extra["betas"], b.extra["betas"])
    with np.load(take) as src, np.load(out, allow_pickle=False) as z:
        assert set(z.files) == set(src.files)
        for k in src.files:
            assert z[k].dtype == src[k].dtype and z[k].shape == src[k].shape, k
            np.testing.assert_array_equal(z[k], src[k], err_msg=k)


def test_generated_to_smplx_npz(generated: Path, tmp_path: Path) -> None:
    out = tmp_path / "gen.npz"
    info = export_file(generated, "smplx-npz", out)
    assert info["zeros"] == ["betas", "expressions"]
    clip = read_beat2_take(out, audio=False)
    with np.load(generated) as z:
        rot = z["rotations_axis_angle"]
    np.testing.assert_array_equal(clip.streams["pose/axis_angle"], rot.reshape(len(rot), 165))
    assert clip.rates["pose/axis_angle"] == 15.0 and not clip.streams["pose/trans"].any()
    assert clip.streams["face/expressions"].shape == (len(rot), 100) and clip.extra["betas"].shape == (300,)


def pats_poses(tmp_path: Path) -> Path:
    """A poses.npz as ``generate`` writes it for a PATS model: 52 2-D keypoints in pixels."""
    rng = np.random.default_rng(0)
    poses = (rng.normal(size=(20, 52, 2)) * 40).astype(np.float32)
    path = tmp_path / "pats" / "poses.npz"
    path.parent.mkdir()
    np.savez(path, poses=poses, fps=np.float32(15), joint_names=np.array(PATS.joints),
             parents=np.array(PATS.parents))  # fmt: skip
    return path


def test_pats_keypoints_to_csv(tmp_path: Path, cli) -> None:
    import pandas as pd

    src = pats_poses(tmp_path)
    out = tmp_path / "k.csv"
    r = cli("cospeech", "export", src, "--format", "csv", "--out", out)
    assert r.code == 0, r
    assert json.loads(r.out)["units"] == "px"
    df = pd.read_csv(out)
    assert list(df.columns) == ["frame", "joint", "x", "y"] and len(df) == 20 * 52
    poses = np.load(src)["poses"]
    row = df[(df.frame == 7) & (df.joint == "RWrist")].iloc[0]
    np.testing.assert_allclose([row.x, row.y], poses[7, PATS.joints.index("RWrist")], rtol=1e-5)
    for fmt in ("bvh", "smplx-npz"):  # 2-D keypoints have no rotations
        r = cli("cospeech", "export", src, "--format", fmt, "--out", tmp_path / f"k.{fmt}")
        assert r.code == 1 and len(r.err.strip().splitlines()) == 1, r
        assert "holds 2-D keypoints without joint rotations" in r.err and "--format csv" in r.err
        assert not (tmp_path / f"k.{fmt}").exists()


def samples_file(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    items = [
        SampleItem("a", "oliver", rng.normal(size=(10, 52, 2)).astype(np.float32),
                   rng.normal(size=(10, 52, 2)).astype(np.float32)),
        SampleItem("b", "oliver", rng.normal(size=(12, 52, 2)).astype(np.float32)),
    ]  # fmt: skip
    return write_samples(tmp_path / "samples.h5", Samples(items, 15.0, PATS, "px", "test"))


def test_samples_interval_to_csv(tmp_path: Path) -> None:
    import pandas as pd

    path = samples_file(tmp_path)
    export_file(path, "csv", tmp_path / "a.csv", interval="a", which="ground_truth")
    df = pd.read_csv(tmp_path / "a.csv")
    from gesturekit.io.samples import read_samples

    gt = read_samples(path).items[0].ground_truth
    np.testing.assert_allclose(df[["x", "y"]].to_numpy().reshape(10, 52, 2), gt, rtol=1e-5)
    with pytest.raises(ConfigError, match=r"holds 2 intervals; choose one with --interval ID \(a, b\)"):
        load_motion(path)
    with pytest.raises(ConfigError, match="no interval 'c'"):
        load_motion(path, interval="c")
    with pytest.raises(ConfigError, match="interval b has no ground truth"):
        load_motion(path, interval="b", which="ground_truth")


def test_positions_without_rotations_are_refused(tmp_path: Path) -> None:
    """A samples file of a BEAT2 model holds joint positions (metres): no rotations for BVH/SMPL-X."""
    rot = np.random.default_rng(2).normal(size=(8, 55, 3)) * 0.2
    pos = forward_kinematics(rot).astype(np.float32)
    path = write_samples(tmp_path / "s.h5", Samples([SampleItem("x", "scott", pos)], 30.0, BEAT2, "m"))
    with pytest.raises(ConfigError) as err:
        export_file(path, "bvh", tmp_path / "x.bvh")
    assert "holds 3-D joint positions without joint rotations" in str(err.value)
    assert "positions cannot be turned back into rotations" in str(err.value)
    export_file(path, "csv", tmp_path / "x.csv")  # as positions they export
    # a samples file that holds the rotations themselves (units rad) exports them
    path = write_samples(tmp_path / "r.h5", Samples([SampleItem("x", "scott", rot.astype(np.float32))], 30.0,
                                                      BEAT2, "rad"))  # fmt: skip
    export_file(path, "bvh", tmp_path / "r.bvh", units="m")
    check_bvh(tmp_path / "r.bvh", rot.astype(np.float32), np.zeros((8, 3)), 30.0, 1.0)


def test_rotations_are_not_keypoints(tmp_path: Path) -> None:
    take = write_take(tmp_path, "2_scott_0_1_1", seconds=1.0)["npz"]
    with pytest.raises(ConfigError, match="holds SMPL-X joint rotations, not keypoints"):
        export_file(take, "csv", tmp_path / "t.csv")


def test_never_overwrites_without_asking(tmp_path: Path, cli) -> None:
    take = write_take(tmp_path, "2_scott_0_1_1", seconds=1.0)["npz"]
    out = tmp_path / "t.bvh"
    out.write_text("the user's file")
    r = cli("cospeech", "export", take, "--format", "bvh", "--out", out)
    assert r.code == 1 and "exists; pass --overwrite to replace it" in r.err, r
    assert out.read_text() == "the user's file"
    r = cli("cospeech", "export", take, "--format", "bvh", "--out", out, "--overwrite")
    assert r.code == 0 and read_bvh(out).n_frames == 30, r


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "smplx-npz", "--units", "m"], "--units applies to bvh only"),
        (["--format", "bvh", "--interval", "a"], "--interval and --which choose an interval of a samples file"),
    ],
)
def test_option_errors(tmp_path: Path, cli, args: list[str], message: str) -> None:
    take = write_take(tmp_path, "2_scott_0_1_1", seconds=1.0)["npz"]
    r = cli("cospeech", "export", take, "--out", tmp_path / "o", *args)
    assert r.code == 1 and message in r.err and len(r.err.strip().splitlines()) == 1, r


def test_inputs_that_are_not_motion(tmp_path: Path, cli) -> None:
    other = tmp_path / "other.npz"
    np.savez(other, x=np.zeros(3))
    r = cli("cospeech", "export", other, "--format", "bvh", "--out", tmp_path / "o.bvh")
    assert r.code == 1 and f"{other}: neither a BEAT2 take" in r.err, r
    txt = tmp_path / "notes.txt"
    txt.write_text("hi")
    r = cli("cospeech", "export", txt, "--format", "bvh", "--out", tmp_path / "o.bvh")
    assert r.code == 1 and "not an input export reads" in r.err, r
    r = cli("cospeech", "export", tmp_path / "missing.npz", "--format", "bvh", "--out", tmp_path / "o.bvh")
    assert r.code == 1 and "input not found" in r.err, r
