"""MOCHA-TIMIT ASCII EMA (``fsew0_001.ema``): 22 numbers a line at 500 Hz.

Column 1 is the time in seconds, column 2 a "present" flag (a frame flagged 0 becomes NaN),
columns 3-22 the 20 coil channels in 1/100 mm, converted here to mm. The file interleaves the
coils (``ui_x li_x ul_x ll_x tt_x ui_y li_y ul_y ll_y tt_y tb_x td_x v_x ?_x bn_x tb_y td_y v_y
?_y bn_y``, from MOCHAtools' ``MOCHAread.m``); the record reorders them into x/y pairs, the
nema articulators first (``td tb tt li ul ll``), then the velum ``v``, the two reference coils
(``ui`` upper incisor, the origin, and ``bn`` bridge of the nose) and the unused pair ``unk``.
``recording.select(NEMA_CHANNELS)`` gives the 12 channels nema data share.

Axes are kept as in the file: y is vertical (up), and x grows towards the back of the mouth
(in fsew0_001 the lips sit near x = -10 mm, the tongue tip near +11 mm and the dorsum near
+47 mm behind the upper incisor), i.e. the opposite sign of nema's "x anterior". Negate the
``_x`` channels to compare directions with nema data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gesturekit.errors import FormatError
from gesturekit.io._text import first_data_line, parse_table, read_text
from gesturekit.io.finish import ReadOptions, reader
from gesturekit.io.nema import _all_numbers
from gesturekit.records import EMARecording

MOCHA_FILE_CHANNELS = [
    "ui_x", "li_x", "ul_x", "ll_x", "tt_x", "ui_y", "li_y", "ul_y", "ll_y", "tt_y",
    "tb_x", "td_x", "v_x", "unk_x", "bn_x", "tb_y", "td_y", "v_y", "unk_y", "bn_y",
]  # fmt: skip
MOCHA_ARTICULATORS = ["td", "tb", "tt", "li", "ul", "ll", "v", "ui", "bn", "unk"]
MOCHA_CHANNELS = [f"{a}_{x}" for a in MOCHA_ARTICULATORS for x in ("x", "y")]
MOCHA_REFERENCE = ("ui", "bn")  # reference coils: upper incisor (origin) and bridge of nose
MOCHA_N_COLUMNS = 2 + len(MOCHA_FILE_CHANNELS)
_ORDER = [MOCHA_FILE_CHANNELS.index(c) for c in MOCHA_CHANNELS]


def _is_mocha_text(path: Path, head: bytes) -> bool:
    if head.startswith(b"EST_File") or b"\x00" in head:
        return False
    toks = first_data_line(head.decode("latin-1"))
    return len(toks) == MOCHA_N_COLUMNS and _all_numbers(toks)


def frame_rate_from_times(path: Path, times: np.ndarray, tolerance: float = 0.01) -> float:
    """The frame rate of equally spaced frame times; gaps or disorder are errors naming the frame."""
    if times.size < 2:
        raise FormatError(path, "need at least two frames to know the frame rate")
    if not np.all(np.isfinite(times)):
        raise FormatError(path, f"frame {int(np.flatnonzero(~np.isfinite(times))[0])}: time is not finite")
    dt = np.diff(times)
    step = float(np.median(dt))
    if step <= 0:
        raise FormatError(path, "frame times do not increase")
    off = np.flatnonzero(np.abs(dt - step) > tolerance * step)
    if off.size:
        k = int(off[0])
        raise FormatError(
            path,
            f"frame times are not equally spaced: {times[k]:.6g} -> {times[k + 1]:.6g} s at frame {k + 1} "
            f"(step {step:.6g} s; {off.size} irregular step(s))",
        )
    rate = (times.size - 1) / float(times[-1] - times[0])  # the span, robust to rounded times
    return float(np.round(rate, 3)) if abs(rate - round(rate)) > 1e-3 else float(round(rate))


def _parse(path: Path, opts: ReadOptions) -> EMARecording:
    table = parse_table(path, read_text(path, "MOCHA .ema file"), MOCHA_N_COLUMNS, what="MOCHA .ema file")
    times, present = table[:, 0], table[:, 1]
    rate = frame_rate_from_times(path, times)
    data = table[:, 2:][:, _ORDER] / 100.0  # 1/100 mm -> mm
    absent = present == 0
    data[absent] = np.nan
    rec = EMARecording(
        data=data.astype(np.float32),
        rate_hz=rate,
        channels=list(MOCHA_CHANNELS),
        units="mm",
        path=path,
        format="mocha-ascii",
        speaker=path.stem.split("_")[0] if "_" in path.stem else None,
        utterance=path.stem,
        extra={"time": times.astype(np.float64), "reference_coils": np.array(MOCHA_REFERENCE)},
    )
    if absent.any():
        rec.repairs.append(f"{int(absent.sum())} frames flagged not present set to NaN")
    return rec


read_mocha = reader(_parse)
read_mocha.__doc__ = "Read a MOCHA-TIMIT ASCII ``.ema`` (22 columns, mm out); options: see io.finish."

from gesturekit.io.ema import EMAReader, register_ema_reader  # noqa: E402

register_ema_reader(EMAReader("mocha-ascii", (".ema",), _is_mocha_text, read_mocha))
