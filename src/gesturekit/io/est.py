"""Edinburgh Speech Tools track files (``EST_File Track``), ASCII or binary, as used by the
original MOCHA-TIMIT and mngu0 ``.ema`` releases.

The text header (``key value`` lines ended by ``EST_Header_End``) gives ``DataType``
(``ascii`` or ``binary``), ``ByteOrder`` (``10`` big-endian, ``01`` little-endian), ``NumFrames``,
``NumChannels``, ``BreaksPresent`` and ``Channel_N name``. Each frame then holds the time, the
break flag when breaks are present (0 marks a frame with no values: it becomes NaN), and the
channel values (float32 in binary files). Channel names come from the header; the rate from the
frame times. Units: MOCHA coil names (``ui_x`` ... ``bn_y``) are in 1/100 mm and converted to mm;
mngu0 ``*_px/_py/_pz`` positions are mm; anything else is ``unknown`` unless ``units`` is given.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gesturekit.errors import FormatError
from gesturekit.io._text import parse_table
from gesturekit.io.finish import ReadOptions, reader
from gesturekit.io.mocha import MOCHA_FILE_CHANNELS, frame_rate_from_times
from gesturekit.records import EMARecording

MAGIC = b"EST_File Track"
END = b"EST_Header_End"
_BYTE_ORDERS = {"10": ">", "01": "<", "big": ">", "little": "<", "msb": ">", "lsb": "<",
                "bigendian": ">", "littleendian": "<"}  # fmt: skip


def _is_est(path: Path, head: bytes) -> bool:
    return head.startswith(MAGIC)


def read_est_header(path: Path, raw: bytes) -> tuple[dict[str, str], int]:
    """The header as a dict and the byte offset where the frames start."""
    if not raw.startswith(MAGIC):
        raise FormatError(path, f"not an EST track: the file does not start with '{MAGIC.decode()}'")
    end = raw.find(END)
    if end < 0:
        raise FormatError(path, "EST header never ends (no EST_Header_End line; truncated file?)")
    nl = raw.find(b"\n", end)
    body_at = len(raw) if nl < 0 else nl + 1
    header: dict[str, str] = {}
    for line in raw[len(MAGIC) : end].decode("latin-1").splitlines():
        parts = line.strip().split(None, 1)
        if parts:
            header[parts[0]] = parts[1].strip() if len(parts) > 1 else ""
    return header, body_at


def _int_key(path: Path, header: dict[str, str], key: str) -> int:
    if key not in header:
        raise FormatError(path, f"EST header has no {key}")
    try:
        return int(header[key])
    except ValueError:
        raise FormatError(path, f"EST header {key} is not an integer: {header[key]!r}") from None


def _units_for(names: list[str]) -> tuple[str, float]:
    if set(names) <= set(MOCHA_FILE_CHANNELS) | {"?_x", "?_y"}:
        return "mm", 0.01
    if names and all(n.endswith(("_px", "_py", "_pz")) for n in names):
        return "mm", 1.0
    return "unknown", 1.0


def _parse(path: Path, opts: ReadOptions) -> EMARecording:
    raw = path.read_bytes()
    header, body_at = read_est_header(path, raw)
    n_ch = _int_key(path, header, "NumChannels")
    n_frames = _int_key(path, header, "NumFrames")
    if header.get("NumAuxChannels", "0").strip() not in ("0", ""):
        raise FormatError(
            path,
            f"EST tracks with auxiliary channels are not supported (NumAuxChannels {header['NumAuxChannels']})",
        )
    breaks = header.get("BreaksPresent", "true").lower() in ("true", "1", "yes")
    names = [header.get(f"Channel_{i}", f"ch{i}") for i in range(n_ch)]
    dtype_key = header.get("DataType", "ascii").lower()
    width = 1 + int(breaks) + n_ch
    if dtype_key == "ascii":
        table = parse_table(path, raw[body_at:].decode("latin-1"), width, what="EST track")
    elif dtype_key == "binary":
        order = header.get("ByteOrder", "").lower()
        if order not in _BYTE_ORDERS:
            raise FormatError(path, f"binary EST track with unknown ByteOrder {header.get('ByteOrder')!r}")
        body = raw[body_at:]
        need = n_frames * width * 4
        if len(body) < need:
            raise FormatError(
                path,
                f"truncated binary EST track: {len(body)} data bytes for NumFrames {n_frames} x "
                f"{width} float32 values ({need} bytes)",
            )
        table = np.frombuffer(body[:need], dtype=_BYTE_ORDERS[order] + "f4").reshape(n_frames, width)
        with np.errstate(invalid="ignore", over="ignore"):
            table = table.astype(np.float64)
    else:
        raise FormatError(path, f"unknown EST DataType {header.get('DataType')!r} (expected ascii or binary)")
    if table.shape[0] != n_frames:
        raise FormatError(
            path, f"EST header says NumFrames {n_frames} but the file holds {table.shape[0]} frames"
        )
    times = table[:, 0]
    try:
        rate = frame_rate_from_times(path, times)
    except FormatError as exc:
        hint = " (wrong ByteOrder?)" if dtype_key == "binary" else ""
        raise FormatError(path, exc.problem + hint) from None
    units, scale = _units_for(names)
    data = table[:, 1 + int(breaks) :] * scale
    rec = EMARecording(
        data=data.astype(np.float32),
        rate_hz=rate,
        channels=names,
        units=units,
        path=path,
        format="est-track",
        speaker=path.stem.split("_")[0] if "_" in path.stem else None,
        utterance=path.stem,
        extra={"time": times},
    )
    if breaks:
        off = table[:, 1] == 0
        if off.any():
            rec.data[off] = np.nan
            rec.repairs.append(f"{int(off.sum())} frames marked as breaks set to NaN")
    return rec


read_est_track = reader(_parse)
read_est_track.__doc__ = "Read an Edinburgh Speech Tools track (ascii or binary); options: see io.finish."


def write_est_track(
    path: str | Path,
    data: np.ndarray,
    rate_hz: float,
    channels: list[str],
    *,
    binary: bool = True,
    byte_order: str = "01",
) -> None:
    """Write an EST track (used by tests and for interchange), atomically."""
    from gesturekit.fsutil import atomic_write_bytes

    data = np.asarray(data, dtype=np.float32)
    t = (np.arange(data.shape[0]) / rate_hz).astype(np.float32)
    frames = np.column_stack([t, np.ones_like(t), data]).astype(np.float32)
    lines = ["EST_File Track", f"DataType {'binary' if binary else 'ascii'}"]
    if binary:
        lines.append(f"ByteOrder {byte_order}")
    lines += [f"NumFrames {data.shape[0]}", f"NumChannels {data.shape[1]}", "NumAuxChannels 0",
              "EqualSpace 1", "BreaksPresent true", "CommentChar ;"]  # fmt: skip
    lines += [f"Channel_{i} {c}" for i, c in enumerate(channels)]
    lines.append("EST_Header_End")
    head = ("\n".join(lines) + "\n").encode("ascii")
    if binary:
        body = frames.astype(_BYTE_ORDERS[byte_order] + "f4").tobytes()
    else:
        body = "".join(" ".join(f"{v:.6f}" for v in row) + "\n" for row in frames).encode("ascii")
    atomic_write_bytes(path, head + body)


from gesturekit.io.ema import EMAReader, register_ema_reader  # noqa: E402

register_ema_reader(EMAReader("est-track", (".ema", ".est", ".trk"), _is_est, read_est_track))
