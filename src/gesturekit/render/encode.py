"""MP4 encoding and probing with the static ffmpeg that ``imageio-ffmpeg`` installs from PyPI.

Frames are streamed as raw RGB to ffmpeg's stdin (H.264, yuv420p, +faststart so browsers can
play the file while it loads); an audio file (any format ffmpeg reads) is cut to the video's
time span and muxed in as AAC. :func:`probe` reads stream types and durations from ``ffmpeg -i``.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gesturekit.errors import GesturekitError
from gesturekit.extras import require
from gesturekit.fsutil import atomic_path


class RenderError(GesturekitError):
    """ffmpeg is missing or failed."""


def ffmpeg_exe() -> str:
    return require("imageio_ffmpeg", "encoding MP4 videos").get_ffmpeg_exe()


def encode_mp4(
    path: str | Path,
    chunks: Iterable[np.ndarray],
    size: tuple[int, int],
    fps: float,
    audio: str | Path | None = None,
    audio_start: float = 0.0,
    duration: float | None = None,
    crf: int = 23,
) -> Path:
    """Write RGB frame chunks ``(n, H, W, 3)`` uint8 (``size`` = (W, H), both even) to an MP4, atomically."""
    path = Path(path)
    w, h = size
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", f"{fps:.6g}", "-i", "-"]  # fmt: skip
    if audio is not None:
        cmd += ["-ss", f"{audio_start:.6f}"]
        if duration is not None:
            cmd += ["-t", f"{duration:.6f}"]
        cmd += ["-i", str(audio)]
    cmd += ["-map", "0:v:0"]
    if audio is not None:
        cmd += ["-map", "1:a:0", "-c:a", "aac", "-b:a", "128k"]
    cmd += ["-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), "-pix_fmt", "yuv420p",
            "-movflags", "+faststart"]  # fmt: skip
    if duration is not None:
        cmd += ["-t", f"{duration:.6f}"]
    with atomic_path(path) as tmp:
        cmd += ["-f", "mp4", str(tmp)]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdin is not None
        try:
            for chunk in chunks:
                if chunk.shape[1:] != (h, w, 3) or chunk.dtype != np.uint8:
                    raise RenderError(
                        f"frame chunk {chunk.shape} {chunk.dtype} does not match {w}x{h} RGB uint8"
                    )
                proc.stdin.write(np.ascontiguousarray(chunk).tobytes())
            proc.stdin.close()
        except BrokenPipeError:
            pass
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if proc.wait() != 0:
            raise RenderError(f"{path}: ffmpeg failed: {err.strip()[-500:]}")
    return path


@dataclass
class ProbeResult:
    duration: float | None
    video_streams: int
    audio_streams: int
    video_codec: str | None
    audio_codec: str | None
    frames: int | None = None


def _hms(s: str) -> float:
    h, m, sec = s.split(":")
    return int(h) * 3600 + int(m) * 60 + float(sec)


def probe(path: str | Path, count_frames: bool = False) -> ProbeResult:
    """Streams and container duration of a media file, parsed from ``ffmpeg -i``.

    With ``count_frames`` the video is decoded to count its frames (proves it plays).
    """
    path = Path(path)
    if not path.exists():
        raise RenderError(f"{path}: file not found")
    cmd = [ffmpeg_exe(), "-hide_banner", "-i", str(path)]
    if count_frames:
        cmd += ["-map", "0:v:0", "-f", "null", "-"]
    out = subprocess.run(cmd, capture_output=True, text=True).stderr
    head = re.split(r"\n(?:Stream mapping|Output #)", out)[0]  # the input's description only
    dur = re.search(r"Duration: (\d+:\d+:\d+(?:\.\d+)?)", head)
    video = re.findall(r"Stream #\S+.*?: Video: (\w+)", head)
    audio = re.findall(r"Stream #\S+.*?: Audio: (\w+)", head)
    frames = None
    if count_frames:
        m = re.findall(r"frame=\s*(\d+)", out)
        frames = int(m[-1]) if m else 0
    return ProbeResult(
        duration=_hms(dur.group(1)) if dur else None,
        video_streams=len(video), audio_streams=len(audio),
        video_codec=video[0] if video else None, audio_codec=audio[0] if audio else None, frames=frames,
    )  # fmt: skip
