"""``gesturekit cospeech export``: motion out to animation tools (BVH, SMPL-X npz, CSV).

What can be exported comes from three inputs (:func:`load_motion`):

- a BEAT2 take ``.npz`` (:func:`gesturekit.io.beat2.read_beat2_npz`): SMPL-X rotations, ``trans``,
  ``betas``, ``expressions``;
- a ``poses.npz`` from ``cospeech generate``: joint positions, and for BEAT2 (SMPL-X) models the
  rotations (``rotations_axis_angle``); generated motion has no root translation (zeros);
- one interval of a samples file (``--interval ID``, ``--which generated|ground_truth``): joint
  positions (2-D PATS keypoints in pixels, or metres), or rotations where the file holds them.

And three formats (:func:`export_motion`):

- ``bvh``: the 55 SMPL-X joints under their SMPL-X names, OFFSETs from gesturekit's generic skeleton
  (:data:`gesturekit.skeleton.BEAT2_OFFSETS`; the subject's own bone lengths are in the SMPL-X model
  files, which gesturekit does not ship), root position channels from ``trans``, every joint's local
  rotation as ``Zrotation Xrotation Yrotation`` (:mod:`gesturekit.io.bvh`), in cm (default) or m;
- ``smplx-npz``: BEAT2's own layout (``poses (T, 165)``, ``trans``, ``betas (300,)``,
  ``expressions (T, 100)``, ``model``, ``gender``, ``mocap_frame_rate``), zeros where the source
  has no betas or expressions (SMPL-X loaders of the field read both keys);
- ``csv``: joint positions, one row per frame and joint: ``frame,joint,x,y`` (``,z`` for 3-D).

An input a format cannot carry is refused with a :class:`ConfigError` that says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gesturekit.errors import ConfigError, FormatError
from gesturekit.fsutil import atomic_path

FORMATS = ("bvh", "smplx-npz", "csv")
UNITS = {"cm": 100.0, "m": 1.0}
WHICH = ("generated", "ground_truth")
N_BETAS, N_EXPRESSIONS = 300, 100  # BEAT2's widths
SMPLX_MODEL, SMPLX_GENDER = "smplx2020", "neutral"  # BEAT2's body model


@dataclass
class Motion:
    """Motion read for export: SMPL-X rotations and/or joint positions, at ``fps``."""

    source: str  # what was read, for messages ("PATH", "PATH interval ID (generated)")
    fps: float
    rotations: np.ndarray | None = None  # (T, 55, 3) SMPL-X axis-angle
    trans: np.ndarray | None = None  # (T, 3) metres
    betas: np.ndarray | None = None
    expressions: np.ndarray | None = None
    positions: np.ndarray | None = None  # (T, J, D)
    joint_names: list[str] | None = None
    units: str = ""  # of the positions: px, m, ...
    model: str = SMPLX_MODEL  # the SMPL-X body model and gender the rotations are for
    gender: str = SMPLX_GENDER

    @property
    def n_frames(self) -> int:
        arr = self.rotations if self.rotations is not None else self.positions
        return 0 if arr is None else int(arr.shape[0])


def _is_smplx(names: list[str] | None) -> bool:
    from gesturekit.skeleton import BEAT2_JOINTS

    return names is not None and list(names) == BEAT2_JOINTS


def load_motion(path: str | Path, *, interval: str | None = None, which: str | None = None) -> Motion:
    """The motion in ``path`` (a BEAT2 take npz, a ``poses.npz`` or a samples file's interval)."""
    path = Path(path)
    if not path.is_file():
        raise FormatError(path, "input not found")
    if path.suffix.lower() in (".h5", ".hdf5"):
        return _from_samples(path, interval, which or "generated")
    if interval is not None or which is not None:
        raise ConfigError("--interval and --which choose an interval of a samples file (.h5), not of an npz")
    if path.suffix.lower() != ".npz":
        raise FormatError(path, "not an input export reads (a BEAT2 take .npz, a poses.npz or a samples .h5)")
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = set(z.files)
            poses_ndim = z["poses"].ndim if "poses" in keys else 0
    except Exception as exc:  # zipfile and numpy raise many kinds
        raise FormatError(path, f"unreadable npz ({type(exc).__name__}: {exc})") from None
    if poses_ndim == 3 and "joint_names" in keys:
        return _from_generated(path)
    if poses_ndim == 2:
        return _from_beat2(path)
    raise FormatError(
        path,
        "neither a BEAT2 take (poses (T, 165)) nor a generated poses.npz (poses, joint_names); "
        f"keys {sorted(keys)}",
    )


def _from_beat2(path: Path) -> Motion:
    from gesturekit.io.beat2 import N_JOINTS, read_beat2_npz
    from gesturekit.skeleton import BEAT2_JOINTS

    arr = read_beat2_npz(path, keep_dtypes=True)  # smplx-npz keeps the take's values bit for bit
    poses = np.asarray(arr["poses"])
    return Motion(
        str(path), float(arr["rate"]),  # type: ignore[arg-type]
        rotations=poses.reshape(len(poses), N_JOINTS, 3), trans=np.asarray(arr["trans"]),
        betas=arr.get("betas"), expressions=arr.get("expressions"), joint_names=BEAT2_JOINTS,  # type: ignore[arg-type]
        model=str(arr.get("model", SMPLX_MODEL)), gender=str(arr.get("gender", SMPLX_GENDER)),
    )  # fmt: skip


def _from_generated(path: Path) -> Motion:
    with np.load(path, allow_pickle=False) as z:
        poses = np.asarray(z["poses"], dtype=np.float64)
        names = [str(n) for n in z["joint_names"]]
        fps = float(z["fps"]) if "fps" in z.files else 0.0
        rot = (
            np.asarray(z["rotations_axis_angle"], dtype=np.float64)
            if "rotations_axis_angle" in z.files
            else None
        )
    if not fps > 0:
        raise FormatError(path, "poses.npz has no positive 'fps'")
    if poses.shape[1] != len(names):
        raise FormatError(path, f"'poses' has {poses.shape[1]} joints but 'joint_names' {len(names)}")
    if rot is not None and (rot.shape != (len(poses), 55, 3) or not _is_smplx(names)):
        raise FormatError(
            path, f"'rotations_axis_angle' must be ({len(poses)}, 55, 3) of SMPL-X joints, got {rot.shape}"
        )
    # generate writes PATS keypoints in pixels, SMPL-X forward kinematics in metres
    units = "px" if poses.shape[2] == 2 else "m"
    trans = None if rot is None else np.zeros((len(rot), 3))
    return Motion(str(path), fps, rotations=rot, trans=trans, positions=poses, joint_names=names, units=units)


def _from_samples(path: Path, interval: str | None, which: str) -> Motion:
    from gesturekit.features.rotations import rot6d_to_axis_angle
    from gesturekit.io.samples import read_samples
    from gesturekit.skeleton import needs_kinematics

    if which not in WHICH:
        raise ConfigError(f"--which must be one of {list(WHICH)}, got {which!r}")
    samples = read_samples(path)
    ids = [it.interval_id for it in samples.items]
    if interval is None:
        if len(ids) != 1:
            shown = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
            raise ConfigError(f"{path}: holds {len(ids)} intervals; choose one with --interval ID ({shown})")
        interval = ids[0]
    if interval not in ids:
        raise ConfigError(f"{path}: no interval {interval!r} (it has {len(ids)}: {', '.join(ids[:5])}, ...)")
    item = samples.items[ids.index(interval)]
    arr = item.generated if which == "generated" else item.ground_truth
    if arr is None:
        raise ConfigError(f"{path}: interval {interval} has no ground truth")
    arr = np.asarray(arr, dtype=np.float64)
    source = f"{path} interval {interval} ({which})"
    names = samples.skeleton.joints
    if needs_kinematics(samples.skeleton, arr, samples.units) and arr.shape[2] in (3, 6):
        rot = arr if arr.shape[2] == 3 else rot6d_to_axis_angle(arr)
        return Motion(source, samples.fps, rotations=rot, trans=np.zeros((len(rot), 3)), joint_names=names)
    return Motion(source, samples.fps, positions=arr, joint_names=names, units=samples.units)


def _refuse_without_rotations(m: Motion, fmt: str) -> None:
    if m.rotations is not None:
        return
    dims = 0 if m.positions is None else m.positions.shape[2]
    what = "2-D keypoints" if dims == 2 else f"{dims}-D joint positions"
    raise ConfigError(
        f"{m.source}: holds {what} without joint rotations, and {fmt} carries SMPL-X joint rotations "
        f"(positions cannot be turned back into rotations); export it with --format csv"
    )


def export_motion(m: Motion, fmt: str, out: str | Path, *, units: str | None = None) -> dict[str, Any]:
    """Write ``m`` as ``fmt`` to ``out`` (atomically); returns what was written."""
    from gesturekit.skeleton import BEAT2_JOINTS, BEAT2_OFFSETS, BEAT2_PARENTS

    out = Path(out)
    if fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {list(FORMATS)}, got {fmt!r}")
    if units is not None and fmt != "bvh":
        raise ConfigError(f"--units applies to bvh only ({fmt} keeps the source's units)")
    info: dict[str, Any] = {
        "input": m.source,
        "format": fmt,
        "out": str(out),
        "frames": m.n_frames,
        "fps": m.fps,
    }
    if fmt == "csv":
        if m.positions is None:
            raise ConfigError(
                f"{m.source}: holds SMPL-X joint rotations, not keypoints; "
                "export it with --format bvh or smplx-npz"
            )
        _write_csv(out, m.positions, m.joint_names or [str(j) for j in range(m.positions.shape[1])])
        return {
            **info,
            "joints": int(m.positions.shape[1]),
            "dims": int(m.positions.shape[2]),
            "units": m.units,
        }
    _refuse_without_rotations(m, fmt)
    assert m.rotations is not None
    n = len(m.rotations)
    trans = np.zeros((n, 3)) if m.trans is None else np.asarray(m.trans)
    if fmt == "bvh":
        from gesturekit.features.rotations import axis_angle_to_matrix
        from gesturekit.io.bvh import write_bvh

        units = units or "cm"
        if units not in UNITS:
            raise ConfigError(f"--units must be one of {list(UNITS)}, got {units!r}")
        scale = UNITS[units]
        write_bvh(out, BEAT2_JOINTS, BEAT2_PARENTS, BEAT2_OFFSETS * scale, axis_angle_to_matrix(m.rotations),
                  trans * scale, m.fps, order="ZXY")  # fmt: skip
        return {**info, "joints": len(BEAT2_JOINTS), "units": units, "euler_order": "ZXY"}
    # BEAT2's dtypes where the source has no array of its own (a take's own arrays are kept as they are)
    betas = np.zeros(N_BETAS, np.float32) if m.betas is None else np.asarray(m.betas)
    expr = np.zeros((n, N_EXPRESSIONS)) if m.expressions is None else np.asarray(m.expressions)
    poses = m.rotations.reshape(n, -1)
    rate = np.int32(round(m.fps)) if float(m.fps).is_integer() else np.float32(m.fps)
    with atomic_path(out) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, poses=poses if poses.dtype == np.float32 else poses.astype(np.float32), trans=trans,
                 betas=betas, expressions=expr, model=np.array(m.model), gender=np.array(m.gender),
                 mocap_frame_rate=rate)  # fmt: skip
    return {**info, "joints": 55, "units": "m", "zeros": [k for k, v in (("betas", m.betas), ("expressions",
            m.expressions)) if v is None]}  # fmt: skip


def _write_csv(out: Path, positions: np.ndarray, names: list[str]) -> None:
    n_t, n_j, dims = positions.shape
    axes = list("xyz"[:dims])
    rows = np.empty((n_t * n_j, 2 + dims), dtype=object)
    rows[:, 0] = np.repeat(np.arange(n_t), n_j)
    rows[:, 1] = np.tile(np.asarray(names, dtype=object), n_t)
    rows[:, 2:] = positions.reshape(n_t * n_j, dims)
    with atomic_path(out) as tmp:
        np.savetxt(tmp, rows, fmt=["%d", "%s"] + ["%.6g"] * dims, delimiter=",",
                   header=",".join(["frame", "joint", *axes]), comments="")  # fmt: skip


def export_file(
    input: str | Path,
    fmt: str,
    out: str | Path,
    *,
    units: str | None = None,
    interval: str | None = None,
    which: str | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Read ``input`` and write it as ``fmt`` to ``out``; an existing ``out`` needs ``overwrite``."""
    out = Path(out)
    if fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {list(FORMATS)}, got {fmt!r}")
    if out.exists() and not overwrite:
        raise ConfigError(f"{out} exists; pass --overwrite to replace it")
    if out.is_dir():
        raise ConfigError(f"{out} is a folder; --out names the file to write")
    return export_motion(load_motion(input, interval=interval, which=which), fmt, out, units=units)
