"""Parsing whitespace-separated numeric tables (ASCII EMA, XRMB, stats) with errors that name the line.

A ragged line, a truncated last line or a token that is not a number becomes a
:class:`~gesturekit.errors.FormatError` naming the file, the line number and what was wrong.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gesturekit.errors import FormatError


def read_text(path: Path, what: str = "file") -> str:
    """The file's text (UTF-8, Latin-1 fallback); an empty or binary file is an error."""
    raw = Path(path).read_bytes()
    if not raw.strip():
        raise FormatError(path, f"{what} is empty")
    if b"\x00" in raw[:4096]:
        raise FormatError(path, f"{what} is binary, expected ASCII text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def first_data_line(text: str) -> list[str]:
    """The tokens of the first non-blank line that does not start with ``#``."""
    for line in text.splitlines():
        toks = line.split()
        if toks and not toks[0].startswith("#"):
            return toks
    return []


def parse_table(
    path: Path,
    text: str,
    n_cols: int | None = None,
    *,
    what: str = "file",
    skip_comments: bool = False,
    first_line_no: int = 1,
) -> np.ndarray:
    """Parse numeric rows into a float64 ``(rows, cols)`` array.

    Every non-blank line must hold ``n_cols`` numbers (or as many as the first line when
    ``n_cols`` is None). ``nan``/``inf`` tokens are accepted (they are numbers) and reported by
    the caller.
    """
    fast = _fast_parse(text, n_cols, skip_comments)
    if fast is not None:
        return fast
    # the slow path finds and names the first bad line
    lines = text.splitlines()
    line_nos: list[int] = []
    rows: list[list[str]] = []
    for i, line in enumerate(lines):
        toks = line.split()
        if not toks or (skip_comments and toks[0].startswith("#")):
            continue
        rows.append(toks)
        line_nos.append(i + first_line_no)
    if not rows:
        raise FormatError(path, f"{what} has no data lines")
    widths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    expected = int(widths[0]) if n_cols is None else n_cols
    bad = np.flatnonzero(widths != expected)
    if bad.size:
        k = int(bad[0])
        truncated = k == len(rows) - 1 and widths[k] < expected
        kind = "truncated last line" if truncated else "ragged line"
        raise FormatError(
            path,
            f"{kind} {line_nos[k]}: {widths[k]} values, expected {expected} "
            f"({bad.size} bad line(s) in {len(rows)})",
        )
    flat = [t for r in rows for t in r]
    try:
        arr = np.array(flat, dtype=np.float64)
    except ValueError:
        for r, no in zip(rows, line_nos, strict=True):
            for t in r:
                try:
                    float(t)
                except ValueError:
                    raise FormatError(path, f"line {no}: {t[:40]!r} is not a number") from None
        raise
    return arr.reshape(len(rows), expected)


def _fast_parse(text: str, n_cols: int | None, skip_comments: bool) -> np.ndarray | None:
    """numpy's C parser for well-formed tables; None when anything is off (then explained)."""
    import io
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = np.loadtxt(
                io.StringIO(text), dtype=np.float64, ndmin=2, comments="#" if skip_comments else None
            )
    except ValueError:
        return None
    if arr.shape[0] == 0 or (n_cols is not None and arr.shape[1] != n_cols):
        return None
    return arr
