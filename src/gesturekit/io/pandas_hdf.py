"""Read a pandas DataFrame stored in pandas' *fixed* HDF5 layout without pandas and without pickle.

``df.to_hdf(file, key=K)`` (format ``fixed``, PyTables underneath) writes a group ``K`` with
attribute ``pandas_type = 'frame'`` and datasets ``axis0`` (column names), ``axis1`` (the
index), and per dtype block ``blockN_items`` (its column names) and ``blockN_values``. Numeric
blocks are plain arrays; object (string) blocks are a PyTables VLArray holding the *pickled*
numpy object array. We parse the structure with h5py and load those pickles with a restricted
unpickler that admits only what rebuilds a numpy object array (``numpy.ndarray``,
``numpy.dtype``, ``_reconstruct``, ``_codecs.encode``) and then checks that every element is a
plain ``str``, ``bytes``, ``int``, ``float`` or ``None``; anything else is refused.
Blocks flagged ``transposed`` are stored ``(rows, items)``.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from gesturekit.errors import FormatError

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only plain strings and numbers)")


def safe_unpickle_object_array(raw: bytes) -> np.ndarray:
    """Unpickle a numpy object array of plain str/bytes/int/float/None; refuse anything else."""
    try:
        obj = _SafeUnpickler(io.BytesIO(raw)).load()
    except Exception as exc:
        raise ValueError(f"not a plain pickled array ({exc})") from None
    arr = np.asarray(obj)
    if arr.dtype == object:
        for v in arr.ravel():
            if v is not None and not isinstance(v, str | bytes | int | float):
                raise ValueError(f"pickled array holds a {type(v).__name__}, not a plain string or number")
    return arr


def _text(v: Any) -> str:
    if isinstance(v, bytes | np.bytes_):
        return bytes(v).decode("utf-8", errors="replace")
    return "" if v is None else str(v)


def _attr(node: Any, name: str, default: Any = None) -> Any:
    v = node.attrs.get(name, default)
    return _text(v) if isinstance(v, bytes | np.bytes_) else v


def _is_empty(ds: Any) -> bool:
    # pandas writes an empty array as a 1-element placeholder plus a (pickled) ``shape`` attribute
    return "shape" in ds.attrs and _attr(ds, "CLASS") == "ARRAY"


def _read_array(ds: Any, path: Path, key: str) -> np.ndarray:
    if _is_empty(ds):
        return np.zeros(0, dtype=object)
    if _attr(ds, "CLASS") == "VLARRAY":
        rows = ds[()]
        if len(rows) != 1:
            raise FormatError(path, f"{key}: expected one pickled row, found {len(rows)}")
        try:
            arr = safe_unpickle_object_array(np.asarray(rows[0], dtype=np.uint8).tobytes())
        except ValueError as exc:
            raise FormatError(path, f"{key}: {exc}") from None
    else:
        arr = ds[()]
    if arr.dtype.kind == "S":
        arr = np.array([_text(v) for v in arr.ravel()], dtype=object).reshape(arr.shape)
    return arr


def read_pandas_frame(group: Any, path: str | Path) -> dict[str, np.ndarray]:
    """Columns of a fixed-format pandas DataFrame stored at the h5py ``group`` (name -> 1-D array).

    String columns come back as object arrays of ``str``; numeric ones keep their dtype.
    """
    path = Path(path)
    key = group.name
    ptype = _attr(group, "pandas_type")
    if ptype == "frame_table":
        raise FormatError(path, f"{key}: pandas 'table' format is not supported, expected the fixed format")
    if ptype != "frame":
        raise FormatError(path, f"{key}: not a pandas DataFrame in fixed HDF5 format (pandas_type={ptype!r})")
    try:
        columns = [_text(c) for c in _read_array(group["axis0"], path, f"{key}/axis0").ravel()]
        n_rows = 0 if _is_empty(group["axis1"]) else int(group["axis1"].shape[0])
        n_blocks = int(_attr(group, "nblocks", 0))
        out: dict[str, np.ndarray] = {}
        for b in range(n_blocks):
            items = [
                _text(c) for c in _read_array(group[f"block{b}_items"], path, f"{key}/block{b}_items").ravel()
            ]
            ds = group[f"block{b}_values"]
            vals = _read_array(ds, path, f"{key}/block{b}_values")
            if n_rows == 0 or vals.size == 0:
                vals = np.zeros((n_rows, len(items)), dtype=vals.dtype)
            elif vals.ndim == 1:
                vals = vals.reshape(-1, 1) if len(items) == 1 else vals.reshape(len(items), -1).T
            elif not int(_attr(ds, "transposed", 0)):
                vals = vals.T
            if vals.shape != (n_rows, len(items)):
                raise FormatError(
                    path, f"{key}/block{b}_values has shape {vals.shape}, expected ({n_rows}, {len(items)})"
                )
            for i, name in enumerate(items):
                out[name] = vals[:, i]
    except KeyError as exc:
        raise FormatError(path, f"{key}: incomplete pandas frame ({exc})") from None
    missing = [c for c in columns if c not in out]
    if missing:
        raise FormatError(path, f"{key}: columns {missing} have no data block")
    return {c: out[c] for c in columns}
