"""Wisconsin X-ray Microbeam (XRMB) pellet tracks, ``.txy``.

ASCII, one frame a line: the time, then x y pairs for the pellets ``UL LL T1 T2 T3 T4 MNI MNM``
(upper lip, lower lip, four tongue pellets tip to back, mandible incisor and molar) at about
145.6 Hz. The value 1000000 marks a missing sample and becomes NaN (reported by the NaN policy).
Times in milliseconds (the XRMB convention) are recognised by their step and turned to seconds.
Coordinates are micrometres in the XRMB release and are converted to mm (``coord_scale``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from gesturekit.io._text import first_data_line, parse_table, read_text
from gesturekit.io.finish import ReadOptions, reader
from gesturekit.io.mocha import frame_rate_from_times
from gesturekit.io.nema import _all_numbers
from gesturekit.records import EMARecording

XRMB_PELLETS = ["ul", "ll", "t1", "t2", "t3", "t4", "mni", "mnm"]
XRMB_CHANNELS = [f"{p}_{a}" for p in XRMB_PELLETS for a in ("x", "y")]
XRMB_MISSING = 1000000.0
XRMB_N_COLUMNS = 1 + len(XRMB_CHANNELS)
MICROMETRE_TO_MM = 0.001
XRMB_NOMINAL_HZ = 145.6
log = logging.getLogger("gesturekit")


def _is_txy(path: Path, head: bytes) -> bool:
    if b"\x00" in head:
        return False
    toks = first_data_line(head.decode("latin-1"))
    return bool(toks) and _all_numbers(toks)


def _parse(path: Path, opts: ReadOptions) -> EMARecording:
    table = parse_table(path, read_text(path, "XRMB .txy file"), XRMB_N_COLUMNS, what="XRMB .txy file")
    times = table[:, 0]
    if times.size >= 2 and np.median(np.diff(times)) > 0.5:  # a step of ~6.9 means milliseconds
        times = times / 1000.0
    rate = frame_rate_from_times(path, times, tolerance=0.5)
    if not 0.8 * XRMB_NOMINAL_HZ <= rate <= 1.2 * XRMB_NOMINAL_HZ:
        log.warning("%s: frame rate %.4g Hz is far from XRMB's %.4g Hz; check the time column", path, rate,
                    XRMB_NOMINAL_HZ)  # fmt: skip
    coords = table[:, 1:]
    missing = coords == XRMB_MISSING
    data = np.where(missing, np.nan, coords * MICROMETRE_TO_MM)
    rec = EMARecording(
        data=data.astype(np.float32),
        rate_hz=rate,
        channels=list(XRMB_CHANNELS),
        units="mm",
        path=path,
        format="xrmb-txy",
        speaker=path.parent.name or None,
        utterance=path.stem,
        extra={"time": times},
    )
    if missing.any():
        rec.repairs.append(f"{int(missing.sum())} samples marked missing (1000000) set to NaN")
    return rec


read_xrmb_txy = reader(_parse)
read_xrmb_txy.__doc__ = "Read a Wisconsin XRMB ``.txy`` pellet file (mm out); options: see io.finish."

from gesturekit.io.ema import EMAReader, register_ema_reader  # noqa: E402

register_ema_reader(EMAReader("xrmb-txy", (".txy",), _is_txy, read_xrmb_txy))
