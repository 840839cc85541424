"""EMA reading and resampling speed: frames per second for the ASCII parsers and the resampler.

Figures: MOCHA ASCII ``fsew0_001.ema`` (real, 966 x 22) and a synthetic 20 000-frame nema text
file parsed per second; a 60 s, 20-channel 500 Hz -> 200 Hz polyphase resample, in seconds.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from _common import main, median_time, parser

SHARED = Path(__file__).resolve().parents[2] / "shared" / "realdata"


def run(args: argparse.Namespace) -> dict[str, Any]:
    from gesturekit.features.resample import resample
    from gesturekit.io import read_ema

    figures: dict[str, Any] = {}
    mocha = SHARED / "mocha_timit_fsew0" / "fsew0_001.ema"
    if mocha.exists():
        t = median_time(lambda: read_ema(mocha, attach=False), repeats=10)
        figures["mocha_ascii_frames_per_s"] = 966 / t
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "long.ema"
        np.savetxt(path, np.random.default_rng(0).standard_normal((20000, 12)), fmt="%.6f")
        t = median_time(lambda: read_ema(path, attach=False), repeats=5)
        figures["nema_text_frames_per_s"] = 20000 / t
    x = np.random.default_rng(1).standard_normal((30000, 20)).astype(np.float32)
    figures["resample_60s_20ch_500_to_200_s"] = median_time(lambda: resample(x, 500.0, 200.0), repeats=5)
    return figures


if __name__ == "__main__":
    main("ema_read", run, parser(__doc__.splitlines()[0]))
