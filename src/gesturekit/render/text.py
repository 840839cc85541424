"""Burned-in text: labels and subtitles drawn once as bitmaps (PIL's default font) and pasted into frames."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from gesturekit.records import Segment


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without sized default fonts
        return ImageFont.load_default()


@lru_cache(maxsize=512)
def text_mask(parts: tuple[tuple[str, bool], ...], size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Bitmap of a line of ``(text, highlighted)`` parts: ``(alpha (h, w) float, highlight (h, w) bool)``.

    Cached: the returned arrays are shared, do not modify them.
    """
    font = _font(size)
    text = " ".join(p for p, _ in parts) or " "
    left, top, right, bottom = font.getbbox(text)
    w, h = max(1, right - min(0, left) + 2), max(1, bottom - min(0, top) + 2)
    alpha = Image.new("L", (w, h), 0)
    hi = Image.new("L", (w, h), 0)
    da, dh = ImageDraw.Draw(alpha), ImageDraw.Draw(hi)
    x = 0.0
    for i, (p, high) in enumerate(parts):
        piece = p + (" " if i < len(parts) - 1 else "")
        da.text((x, 0), piece, font=font, fill=255)
        if high:
            dh.text((x, 0), p, font=font, fill=255)
        x += font.getlength(piece)
    return np.asarray(alpha, dtype=np.float32) / 255.0, np.asarray(hi) > 0


@lru_cache(maxsize=512)
def fit_line(
    parts: tuple[tuple[str, bool], ...], width: int, size: int = 16, min_size: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`text_mask` of a line made to fit ``width`` pixels: a smaller font (down to
    ``min_size``), then fewer words, dropped from the end farther from the highlighted word."""
    while True:
        for s in range(size, min_size - 1, -2):
            alpha, hi = text_mask(parts, s)
            if alpha.shape[1] <= width:
                return alpha, hi
        if len(parts) <= 1:
            return alpha, hi  # one word wider than the frame: pasted clipped
        cur = next((i for i, (_, h) in enumerate(parts) if h), (len(parts) - 1) / 2)
        parts = parts[1:] if cur >= len(parts) - 1 - cur else parts[:-1]


def paste_text(
    frames: np.ndarray,
    alpha: np.ndarray,
    highlight: np.ndarray | None,
    x: int,
    y: int,
    color: tuple[int, int, int] = (0, 0, 0),
    highlight_color: tuple[int, int, int] = (200, 0, 0),
    index: np.ndarray | None = None,
) -> None:
    """Alpha-blend a text bitmap into ``frames`` ``(F, H, W, 3)`` at ``(x, y)`` (clipped).

    ``index`` selects the frames (default: all); only the text's rectangle is touched.
    """
    _, height, width, _ = frames.shape
    h, w = alpha.shape
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(width, x + w), min(height, y + h)
    if x1 <= x0 or y1 <= y0:
        return
    a = alpha[y0 - y : y1 - y, x0 - x : x1 - x][None, :, :, None]
    col = np.empty((y1 - y0, x1 - x0, 3), dtype=np.float32)
    col[:] = color
    if highlight is not None:
        col[highlight[y0 - y : y1 - y, x0 - x : x1 - x]] = highlight_color
    sel = slice(None) if index is None else index
    region = frames[sel, y0:y1, x0:x1].astype(np.float32)
    frames[sel, y0:y1, x0:x1] = np.rint(region * (1 - a) + col[None] * a).astype(np.uint8)


def subtitle_keys(
    words: list[Segment], times: np.ndarray, context: int = 3
) -> list[tuple[tuple[str, bool], ...]]:
    """Per frame time, the subtitle line: the spoken word highlighted with up to ``context`` words around it."""
    if not words:
        return [()] * len(times)
    starts = np.array([w.start for w in words])
    ends = np.array([w.end for w in words])
    keys: list[tuple[tuple[str, bool], ...]] = []
    for t in times:  # one cheap lookup per frame; drawing is cached per distinct line
        cur = np.nonzero((starts <= t) & (t < ends))[0]
        if len(cur) == 0:
            nxt = np.searchsorted(starts, t)
            if nxt > 0 and t - ends[nxt - 1] < 1.0:
                cur_i, active = nxt - 1, False
            else:
                keys.append(())
                continue
        else:
            cur_i, active = int(cur[0]), True
        lo, hi = max(0, cur_i - context), min(len(words), cur_i + context + 1)
        keys.append(
            tuple((words[k].label, active and k == cur_i) for k in range(lo, hi) if words[k].label.strip())
        )
    return keys
