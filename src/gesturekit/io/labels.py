"""Phone label files (``.lab``) and CMU prompt lists (``etc/txt.done.data``).

Two ``.lab`` layouts are read: MOCHA's ``start end label`` lines, and festival/xlabel's
``end number label`` lines after a header ending in a ``#`` line (a segment starts where the
previous one ended, the first at 0). In both the last token of a line is the label.
"""

from __future__ import annotations

import re
from pathlib import Path

from gesturekit.errors import FormatError
from gesturekit.io._text import read_text
from gesturekit.records import Segment, SegmentTier


def read_lab(path: str | Path, name: str = "phones") -> SegmentTier:
    """Read a ``.lab`` file of either layout into a tier of segments (times in seconds)."""
    path = Path(path)
    if not path.exists():
        raise FormatError(path, "label file not found")
    lines = read_text(path, "label file").splitlines()
    hash_at = next((i for i, ln in enumerate(lines) if ln.strip() == "#"), None)
    festival = hash_at is not None
    body = lines[hash_at + 1 :] if festival else lines
    offset = (hash_at + 2) if festival else 1
    segs: list[Segment] = []
    prev_end = 0.0
    for i, line in enumerate(body):
        toks = line.split()
        if not toks or toks[0].startswith("#"):
            continue
        no = i + offset
        layout = "end number label" if festival else "start end label"
        if len(toks) < 3 and not (festival and len(toks) == 2):
            raise FormatError(path, f"line {no}: expected '{layout}', got {line.strip()!r}")
        try:
            times = [float(toks[0])] if festival else [float(toks[0]), float(toks[1])]
        except ValueError:
            raise FormatError(path, f"line {no}: expected '{layout}' with times in seconds") from None
        start, end = (prev_end, times[0]) if festival else (times[0], times[1])
        if end < start:
            raise FormatError(path, f"line {no}: segment ends before it starts ({start} > {end})")
        label = toks[-1]
        segs.append(Segment(label, start, end))
        prev_end = end
    if not segs:
        raise FormatError(path, "label file has no segments")
    return SegmentTier(name, segs)


_PROMPT = re.compile(r'^\(\s*(\S+)\s+"((?:[^"\\]|\\.)*)"\s*\)\s*$')


def read_prompts(path: str | Path) -> dict[str, str]:
    """CMU/festival prompt list: lines ``( utt_id "text" )`` -> ``{utt_id: text}``."""
    path = Path(path)
    out: dict[str, str] = {}
    for no, line in enumerate(read_text(path, "prompt list").splitlines(), 1):
        if not line.strip():
            continue
        m = _PROMPT.match(line.strip())
        if not m:
            raise FormatError(path, f'line {no}: expected ( utt_id "text" )')
        out[m.group(1)] = m.group(2).replace('\\"', '"')
    return out
