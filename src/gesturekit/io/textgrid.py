"""Praat TextGrid files (long and short text formats, UTF-8 or UTF-16) into segment tiers.

The short format is the long one without its labels, so both are read by one tokenizer that
keeps only numbers, quoted strings and ``<exists>`` flags.
"""

from __future__ import annotations

import re
from pathlib import Path

from gesturekit.errors import FormatError
from gesturekit.records import Segment, SegmentTier

_TOKEN = re.compile(
    r'"((?:[^"]|"")*)"'  # a string; "" is an escaped quote
    r"|\[\s*\d*\s*\]"  # item [3]: indices of the long format (skipped)
    r"|(?<![\w.])(-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)(?![\w.])"  # a number
    r"|<(exists|absent)>"
)


def _decode(raw: bytes, path: Path) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _tokens(text: str) -> list[str | float]:
    out: list[str | float] = []
    for m in _TOKEN.finditer(text):
        if m.group(1) is not None:
            out.append(m.group(1).replace('""', '"'))
        elif m.group(2) is not None:
            out.append(float(m.group(2)))
        elif m.group(3) is not None:
            out.append("<" + m.group(3) + ">")
    return out


def read_textgrid(path: str | Path) -> dict[str, SegmentTier]:
    """All tiers of a TextGrid by name. Point tiers become zero-length segments."""
    path = Path(path)
    if not path.exists():
        raise FormatError(path, "TextGrid not found")
    toks = _tokens(_decode(path.read_bytes(), path))
    pos = 0

    def take(kind: type) -> str | float:
        nonlocal pos
        if pos >= len(toks):
            raise FormatError(path, "TextGrid ends early (truncated file?)")
        tok = toks[pos]
        pos += 1
        if kind is float and not isinstance(tok, float):
            raise FormatError(path, f"malformed TextGrid: expected a number, found {tok!r}")
        if kind is str and not isinstance(tok, str):
            raise FormatError(path, f"malformed TextGrid: expected a string, found {tok!r}")
        return tok

    if len(toks) < 2 or toks[0] != "ooTextFile" or toks[1] != "TextGrid":
        raise FormatError(path, 'not a Praat text TextGrid (no File type = "ooTextFile" header)')
    pos = 2
    take(float)
    take(float)
    if take(str) != "<exists>":
        return {}
    n_tiers = int(take(float))
    tiers: dict[str, SegmentTier] = {}
    for _ in range(n_tiers):
        cls = take(str)
        name = str(take(str))
        take(float)
        take(float)
        n = int(take(float))
        segs: list[Segment] = []
        if cls == "IntervalTier":
            for _ in range(n):
                start, end, label = float(take(float)), float(take(float)), str(take(str))
                if end < start:
                    raise FormatError(path, f"tier '{name}': interval ends before it starts ({start} > {end})")
                segs.append(Segment(label.strip(), start, end))
        elif cls == "TextTier":
            for _ in range(n):
                t, label = float(take(float)), str(take(str))
                segs.append(Segment(label.strip(), t, t))
        else:
            raise FormatError(path, f"unknown tier class {cls!r}")
        tiers[name] = SegmentTier(name, segs)
    return tiers


def read_words_phones(path: str | Path) -> tuple[SegmentTier | None, SegmentTier | None]:
    """The ``words`` and ``phones`` tiers (matched case-insensitively), silence kept."""
    tiers = read_textgrid(path)
    by_lower = {k.lower(): v for k, v in tiers.items()}
    return by_lower.get("words"), by_lower.get("phones")
