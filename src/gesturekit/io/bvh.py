"""BVH motion files: gesturekit's one reader and writer.

A BVH file is a joint hierarchy (``ROOT``/``JOINT`` blocks with an ``OFFSET`` from the parent and
the joint's ``CHANNELS``; ``End Site`` blocks mark the tips) followed by ``MOTION``: ``Frames:``,
``Frame Time:`` (seconds) and one line of channel values per frame, the joints in the order the
hierarchy lists them (depth first). Rotation channels are Euler angles in degrees, applied in the
order the channels are listed (``Zrotation Xrotation Yrotation`` means ``R = Rz @ Rx @ Ry``, the
intrinsic ``ZXY`` of :mod:`scipy.spatial.transform`). A joint's world rotation is its parent's
times its own; a child sits at ``parent position + parent world rotation @ OFFSET`` -- the same
forward kinematics as :func:`gesturekit.skeleton.forward_kinematics`, which :meth:`BvhMotion.positions`
uses.

:func:`write_bvh` writes local rotation matrices and root positions of any tree (parents given
in any order that lists a parent before its children); :func:`read_bvh` reads any BVH whose
joints carry 3 rotation channels (and optionally 3 position channels).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from gesturekit.errors import FormatError
from gesturekit.fsutil import atomic_path

#: Euler orders a writer may declare (the three rotation channels, in file order).
EULER_ORDERS = ("XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX")
_POS = ("Xposition", "Yposition", "Zposition")


@dataclass
class BvhMotion:
    """A BVH file's content, joints in file order (depth first; End Sites not counted)."""

    joint_names: list[str]
    parents: list[int]
    offsets: np.ndarray  # (J, 3) in the file's units
    channels: list[list[str]]  # per joint, as declared
    frame_time: float
    motion: np.ndarray  # (T, total channels) as in the file (rotations in degrees)
    end_sites: dict[int, np.ndarray] = field(default_factory=dict)  # joint index -> End Site offset

    @property
    def n_frames(self) -> int:
        return int(self.motion.shape[0])

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    def _columns(self) -> list[int]:
        """The first motion column of each joint."""
        starts = np.cumsum([0] + [len(c) for c in self.channels])
        return [int(s) for s in starts[:-1]]

    def rotation_order(self, joint: int) -> str:
        """The joint's Euler order (``"ZXY"``: channels Zrotation, Xrotation, Yrotation)."""
        return "".join(c[0].upper() for c in self.channels[joint] if c.lower().endswith("rotation"))

    def local_rotations(self) -> np.ndarray:
        """``(T, J, 3, 3)`` local rotation matrices (identity for a joint without rotation channels)."""
        out = np.broadcast_to(np.eye(3), (self.n_frames, len(self.joint_names), 3, 3)).copy()
        for j, (start, chans) in enumerate(zip(self._columns(), self.channels, strict=True)):
            cols = [start + i for i, c in enumerate(chans) if c.lower().endswith("rotation")]
            if cols:  # a loop over joints; every frame at once
                out[:, j] = Rotation.from_euler(
                    self.rotation_order(j), self.motion[:, cols], degrees=True
                ).as_matrix()
        return out

    def translations(self) -> np.ndarray:
        """``(T, J, 3)`` each joint's translation from its parent: its position channels where it has
        them (the root's position), else its OFFSET."""
        out = np.broadcast_to(self.offsets, (self.n_frames, *self.offsets.shape)).copy()
        for j, (start, chans) in enumerate(zip(self._columns(), self.channels, strict=True)):
            for axis, name in enumerate(_POS):
                if name in chans:
                    out[:, j, axis] = self.motion[:, start + chans.index(name)]
        return out

    def positions(self) -> np.ndarray:
        """``(T, J, 3)`` world joint positions in the file's units."""
        from gesturekit.skeleton import forward_kinematics

        return forward_kinematics(self.local_rotations(), self.parents, self.translations())


def depth_first(parents: list[int]) -> list[int]:
    """Joint indices in the depth-first order a BVH hierarchy lists them (children in index order)."""
    children: dict[int, list[int]] = {}
    roots = []
    for j, p in enumerate(parents):
        (roots if p < 0 else children.setdefault(p, [])).append(j)
    if len(roots) != 1:
        raise ValueError(f"a BVH skeleton has one root, these parents give {len(roots)}")
    order, stack = [], roots[:]
    while stack:
        j = stack.pop()
        order.append(j)
        stack.extend(reversed(children.get(j, [])))
    if len(order) != len(parents):
        raise ValueError("the parents do not form one tree")
    return order


def write_bvh(
    path: str | Path,
    joint_names: list[str],
    parents: list[int],
    offsets: np.ndarray,
    rotations: np.ndarray,
    root_positions: np.ndarray,
    fps: float,
    *,
    order: str = "ZXY",
    end_sites: dict[int, np.ndarray] | None = None,
    decimals: int = 6,
) -> Path:
    """Write a BVH file atomically.

    ``rotations``: ``(T, J, 3, 3)`` local rotation matrices; ``root_positions``: ``(T, 3)``;
    ``offsets``: ``(J, 3)`` (the root's is written as given); all lengths in the file's units.
    Every joint gets three rotation channels in ``order``, the root also three position channels.
    ``end_sites``: joint -> End Site offset, for leaves (default: a leaf's own offset again).
    """
    order = order.upper()
    if order not in EULER_ORDERS:
        raise ValueError(f"Euler order must be one of {EULER_ORDERS}, got {order!r}")
    rotations = np.asarray(rotations, dtype=np.float64)
    n_t, n_j = rotations.shape[0], len(joint_names)
    if (
        rotations.shape != (n_t, n_j, 3, 3)
        or np.shape(root_positions) != (n_t, 3)
        or np.shape(offsets) != (n_j, 3)
    ):
        raise ValueError(
            f"shapes do not agree: rotations {rotations.shape}, root positions {np.shape(root_positions)}, "
            f"offsets {np.shape(offsets)} for {n_j} joints"
        )
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    dfs = depth_first(parents)
    rot_channels = " ".join(f"{a}rotation" for a in order)
    children = {j for j in parents if j >= 0}
    ends = dict(end_sites or {})
    fmt = f"{{:.{decimals}f}}"

    def vec(v: np.ndarray) -> str:
        return " ".join(fmt.format(float(x)) for x in v)

    lines = ["HIERARCHY"]
    depth = {}
    stack_close: list[int] = []  # joints whose block is open, innermost last
    for j in dfs:
        p = parents[j]
        depth[j] = 0 if p < 0 else depth[p] + 1
        while stack_close and stack_close[-1] != p:  # close the blocks of finished subtrees
            k = stack_close.pop()
            lines.append("  " * depth[k] + "}")
        ind = "  " * depth[j]
        if p < 0:
            lines += [f"ROOT {joint_names[j]}", "{", f"{ind}  OFFSET {vec(offsets[j])}",
                      f"{ind}  CHANNELS 6 Xposition Yposition Zposition {rot_channels}"]  # fmt: skip
        else:
            lines += [f"{ind}JOINT {joint_names[j]}", f"{ind}{{", f"{ind}  OFFSET {vec(offsets[j])}",
                      f"{ind}  CHANNELS 3 {rot_channels}"]  # fmt: skip
        if j not in children:
            tip = np.asarray(ends.get(j, offsets[j]), dtype=np.float64)
            lines += [f"{ind}  End Site", f"{ind}  {{", f"{ind}    OFFSET {vec(tip)}", f"{ind}  }}"]
        stack_close.append(j)
    while stack_close:
        k = stack_close.pop()
        lines.append("  " * depth[k] + "}")
    # Euler angles of every joint and frame at once; at gimbal lock scipy warns and sets the third
    # angle to 0, and the angles still give back the same matrix, so the warning is noise here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        euler = Rotation.from_matrix(rotations[:, dfs].reshape(-1, 3, 3)).as_euler(order, degrees=True)
    motion = np.concatenate([np.asarray(root_positions, dtype=np.float64), euler.reshape(n_t, n_j * 3)], axis=1)
    buf = io.StringIO()
    np.savetxt(buf, motion, fmt=f"%.{decimals}f")
    lines += ["MOTION", f"Frames: {n_t}", f"Frame Time: {1.0 / fps!r}"]
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n" + buf.getvalue(), encoding="ascii")
    return path


def read_bvh(path: str | Path) -> BvhMotion:
    """Read a BVH file; a malformed one is a :class:`FormatError` naming the line and the problem."""
    path = Path(path)
    if not path.is_file():
        raise FormatError(path, "BVH file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(path, f"not a text file ({exc.reason})") from None
    lines = text.splitlines()
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[list[str]] = []
    end_sites: dict[int, np.ndarray] = {}
    stack: list[int] = []  # open blocks: joint index, or -2 for an End Site
    pending: int | None = None  # a joint (or End Site) named but whose "{" is not read yet
    i = 0
    if not lines or lines[0].strip() != "HIERARCHY":
        raise FormatError(path, "line 1: expected HIERARCHY (not a BVH file)")
    for i in range(1, len(lines)):
        tok = lines[i].split()
        where = f"line {i + 1}"
        if not tok:
            continue
        key = tok[0]
        if key in ("ROOT", "JOINT"):
            if len(tok) < 2:
                raise FormatError(path, f"{where}: {key} without a name")
            if (key == "ROOT") != (not stack):
                raise FormatError(path, f"{where}: {key} {tok[1]} in the wrong place")
            names.append(" ".join(tok[1:]))
            parents.append(stack[-1] if stack else -1)
            offsets.append([0.0, 0.0, 0.0])
            channels.append([])
            pending = len(names) - 1
        elif key == "End" and tok[1:2] == ["Site"]:
            if not stack or stack[-1] < 0:
                raise FormatError(path, f"{where}: End Site outside a joint")
            end_sites[stack[-1]] = np.zeros(3)
            pending = -2
        elif key == "{":
            if pending is None:
                raise FormatError(path, f"{where}: '{{' without a ROOT, JOINT or End Site")
            stack.append(pending)
            pending = None
        elif key == "}":
            if not stack:
                raise FormatError(path, f"{where}: unmatched '}}'")
            stack.pop()
        elif key == "OFFSET":
            if not stack or len(tok) != 4:
                raise FormatError(path, f"{where}: OFFSET needs 3 numbers inside a block")
            try:
                v = [float(x) for x in tok[1:]]
            except ValueError:
                raise FormatError(path, f"{where}: OFFSET values are not numbers: {tok[1:]}") from None
            if stack[-1] == -2:
                end_sites[stack[-2]] = np.array(v)
            else:
                offsets[stack[-1]] = v
        elif key == "CHANNELS":
            if not stack or stack[-1] < 0:
                raise FormatError(path, f"{where}: CHANNELS outside a joint")
            try:
                n = int(tok[1])
            except (IndexError, ValueError):
                raise FormatError(path, f"{where}: CHANNELS needs a count") from None
            chans = tok[2:]
            if len(chans) != n:
                raise FormatError(path, f"{where}: CHANNELS says {n} but lists {len(chans)}")
            bad = [
                c for c in chans if c[:1].upper() not in "XYZ" or c[1:].lower() not in ("rotation", "position")
            ]
            if bad:
                raise FormatError(path, f"{where}: unknown channel(s) {bad}")
            n_rot = sum(c.lower().endswith("rotation") for c in chans)
            if n_rot not in (0, 3):
                raise FormatError(path, f"{where}: a joint needs 0 or 3 rotation channels, got {n_rot}")
            channels[stack[-1]] = chans
        elif key == "MOTION":
            break
        else:
            raise FormatError(path, f"{where}: unexpected {key!r} in the hierarchy")
    else:
        raise FormatError(path, "no MOTION section")
    if stack:
        raise FormatError(path, f"the hierarchy leaves {len(stack)} block(s) open")
    if not names:
        raise FormatError(path, "no joints in the hierarchy")
    header = {}
    for k in (i + 1, i + 2):
        if k >= len(lines) or ":" not in lines[k]:
            raise FormatError(path, f"line {k + 1}: expected 'Frames:' and 'Frame Time:' after MOTION")
        label, _, value = lines[k].partition(":")
        header[label.strip().lower()] = value.strip()
    try:
        n_frames, frame_time = int(header["frames"]), float(header["frame time"])
    except (KeyError, ValueError):
        raise FormatError(path, f"bad MOTION header {header}") from None
    if not frame_time > 0:
        raise FormatError(path, f"Frame Time must be positive, got {frame_time}")
    n_ch = sum(len(c) for c in channels)
    try:  # all frames at once
        values = np.array(" ".join(lines[i + 3 :]).split(), dtype=np.float64)
    except ValueError:
        raise FormatError(path, "MOTION holds values that are not numbers") from None
    if values.size != n_frames * n_ch:
        raise FormatError(
            path, f"MOTION has {values.size} values; {n_frames} frames x {n_ch} channels need {n_frames * n_ch}"
        )
    return BvhMotion(names, parents, np.array(offsets, dtype=np.float64).reshape(-1, 3), channels, frame_time,
                     values.reshape(n_frames, n_ch), end_sites)  # fmt: skip
