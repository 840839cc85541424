"""Small BEAT2 takes written by the tests: npz + wav + TextGrid, flat or in the download layout."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

LAYOUT = {"npz": "smplxflame_30", "wav": "wave16k", "TextGrid": "textgrid"}


def write_textgrid(path: Path, words: Sequence[tuple[str, float, float]]) -> None:
    """A Praat TextGrid with one ``words`` tier of ``(label, start_s, end_s)``."""
    end = words[-1][2]
    lines = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "", "xmin = 0", f"xmax = {end}",
             "tiers? <exists>", "size = 1", "item []:", "    item [1]:", '        class = "IntervalTier"',
             '        name = "words"', "        xmin = 0", f"        xmax = {end}",
             f"        intervals: size = {len(words)}"]  # fmt: skip
    for i, (w, a, b) in enumerate(words, start=1):
        lines += [f"        intervals [{i}]:", f"            xmin = {a}", f"            xmax = {b}",
                  f'            text = "{w}"']  # fmt: skip
    path.write_text("\n".join(lines) + "\n")


def write_take(folder: Path, name: str, seconds: float = 4.0, *, seed: int = 0, layout: bool = False,
               textgrid: bool = True) -> dict[str, Path]:  # fmt: skip
    """One synthetic take ``name`` (30 fps motion, 16 kHz speech) under ``folder``; its paths."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 30)
    poses = (0.2 * np.cumsum(rng.normal(size=(n, 165)), axis=0) / np.sqrt(n)).astype(np.float32)
    t = np.arange(int(seconds * 16000)) / 16000
    wave = (0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 2 * t))).astype(np.float32)
    paths = {}
    for ext in ("npz", "wav", "TextGrid"):
        sub = folder / LAYOUT[ext] if layout else folder
        sub.mkdir(parents=True, exist_ok=True)
        paths[ext] = sub / f"{name}.{ext}"
    np.savez(paths["npz"], poses=poses, trans=np.zeros((n, 3), np.float32), betas=np.zeros(300, np.float32),
             mocap_frame_rate=np.array(30))  # fmt: skip
    sf.write(paths["wav"], wave, 16000)
    if textgrid:
        write_textgrid(paths["TextGrid"], [("", 0.0, 0.5), ("hello", 0.5, 1.2), ("world", 1.2, seconds)])
    else:
        del paths["TextGrid"]
    return paths


def write_split_csv(folder: Path, rows: Sequence[tuple[str, str]], *, header: str = "id,type") -> Path:
    path = folder / "train_test_split.csv"
    with path.open("w", newline="") as fh:
        fh.write(header + "\n")
        csv.writer(fh).writerows(rows)
    return path


def link_real_takes(realdata: Path, language_folder: Path) -> Path:
    """The two shared real takes in BEAT2's download layout (symbolic links, nothing copied)."""
    for src in (realdata / "beat2_sample" / "2_scott_0_1_1", realdata / "beat2_take2" / "2_scott_0_2_2"):
        for ext, sub in LAYOUT.items():
            d = language_folder / sub
            d.mkdir(parents=True, exist_ok=True)
            os.symlink(f"{src}.{ext}", d / f"{src.name}.{ext}")
    return language_folder
