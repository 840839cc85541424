"""Per-speaker normalisation statistics in the PATS ``muvar`` layout.

A muvar file holds, for each modality key, ``<key>/mean`` and ``<key>/var`` float64 arrays of
shape ``(1, 1, D)``: mean and (population) variance over all frames of the speaker's training
data. The variance, not the standard deviation, is stored; normalise with
``(x - mean) / sqrt(var)``. ``../shared/realdata/pats_stats/muvar/<speaker>.h5`` are real ones.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gesturekit.errors import FormatError


def read_muvar(path: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{key: (mean (1, 1, D), var (1, 1, D))}`` for every key with both arrays."""
    import h5py

    path = Path(path)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    try:
        with h5py.File(path, "r") as f:
            means: dict[str, np.ndarray] = {}
            variances: dict[str, np.ndarray] = {}

            def visit(name: str, obj: object) -> None:
                if isinstance(obj, h5py.Dataset):
                    parent, _, leaf = name.rpartition("/")
                    if leaf == "mean":
                        means[parent] = np.asarray(obj[()], dtype=np.float64)
                    elif leaf == "var":
                        variances[parent] = np.asarray(obj[()], dtype=np.float64)

            f.visititems(visit)
    except OSError as exc:
        raise FormatError(path, f"unreadable statistics file ({exc})") from None
    for k, m in means.items():
        if k in variances:
            if m.shape != variances[k].shape or m.ndim != 3 or m.shape[:2] != (1, 1):
                raise FormatError(
                    path, f"{k}: mean/var must both be (1, 1, D), got {m.shape}, {variances[k].shape}"
                )
            out[k] = (m, variances[k])
    return out


def write_muvar(path: str | Path, stats: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """Write ``{key: (mean, var)}`` (any shape with D last) as ``(1, 1, D)`` float64, atomically."""
    import h5py

    from gesturekit.fsutil import atomic_path

    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for k, (m, v) in stats.items():
            f.create_dataset(f"{k}/mean", data=np.asarray(m, np.float64).reshape(1, 1, -1))
            f.create_dataset(f"{k}/var", data=np.asarray(v, np.float64).reshape(1, 1, -1))


def mean_var(arr: np.ndarray, chunk_bytes: int = 32 << 20) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population variance over the first axis of a (memory-mapped) array, in chunks of
    about ``chunk_bytes`` (float64), so memory does not grow with the array."""
    arr2 = arr.reshape(len(arr), -1)
    n = len(arr2)
    chunk = max(1, chunk_bytes // (8 * max(1, arr2.shape[1])))
    if n == 0:
        d = arr2.shape[1]
        return np.zeros(d), np.ones(d)
    s = np.zeros(arr2.shape[1])
    ss = np.zeros(arr2.shape[1])
    for i in range(0, n, chunk):
        block = np.asarray(arr2[i : i + chunk], dtype=np.float64)
        s += block.sum(0)
        ss += (block * block).sum(0)
    mean = s / n
    var = np.maximum(ss / n - mean * mean, 0.0)
    return mean, var
