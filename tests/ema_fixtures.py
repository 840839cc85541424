"""Writers of small, realistic EMA fixture files for the reader tests (not a test module)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from gesturekit.io.nema import NEMA_CHANNELS


def smooth_ema(frames: int, channels: int, seed: int = 0) -> np.ndarray:
    """Slow, smooth trajectories (sums of low-frequency sines), float64 ``(frames, channels)``."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames)[:, None] / 200.0
    f = rng.uniform(0.5, 4.0, (3, channels))
    ph = rng.uniform(0, 2 * np.pi, (3, channels))
    return sum(np.sin(2 * np.pi * f[k] * t + ph[k]) for k in range(3)) / 2.0


def write_wav(path: Path, seconds: float, rate: int = 16000) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = int(round(seconds * rate))
    sf.write(str(path), (0.1 * np.sin(np.arange(n) * 0.05)).astype(np.float32), rate)


def write_cmu_speaker(root: Path, spk: str, utts: dict[str, int], seed: int = 0) -> Path:
    """``root/cin_us_<spk>/`` with nema/*.ema, wav/, lab/ (festival layout), etc/txt.done.data, ema.stats."""
    d = root / f"cin_us_{spk}"
    (d / "nema").mkdir(parents=True)
    (d / "lab").mkdir()
    (d / "etc").mkdir()
    prompts = []
    for k, (utt, frames) in enumerate(utts.items()):
        x = smooth_ema(frames, 12, seed + k)
        np.savetxt(d / "nema" / f"{utt}.ema", x, fmt="%.6f")
        write_wav(d / "wav" / f"{utt}.wav", frames / 200.0 + 0.02)
        dur = frames / 200.0
        lab = ["separator ;", "nfields 1", "#"]
        lab += [f"{dur * 0.2:.4f} 125 pau", f"{dur * 0.6:.4f} 125 hh", f"{dur:.4f} 125 ay"]
        (d / "lab" / f"{utt}.lab").write_text("\n".join(lab) + "\n")
        prompts.append(f'( {utt} "Prompt number {k} for {spk}." )')
    (d / "etc" / "txt.done.data").write_text("\n".join(prompts) + "\n")
    stats = np.column_stack([np.linspace(-20, 20, 12), np.linspace(1, 6, 12)])
    np.savetxt(d / "ema.stats", stats, fmt="%.4f")
    return d


def est_header(n_frames: int, channels: list[str], dtype: str, byte_order: str | None) -> bytes:
    lines = ["EST_File Track", f"DataType {dtype}"]
    if byte_order:
        lines.append(f"ByteOrder {byte_order}")
    lines += [f"NumFrames {n_frames}", f"NumChannels {len(channels)}", "NumAuxChannels 0", "EqualSpace 1",
              "BreaksPresent true", "CommentChar ;"]  # fmt: skip
    lines += [f"Channel_{i} {c}" for i, c in enumerate(channels)]
    lines.append("EST_Header_End")
    return ("\n".join(lines) + "\n").encode("ascii")


def hprc_struct(frames: int = 300, audio_s: float = 3.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """An MVIEW struct array (AUDIO + 8 sensors at 100 Hz) and the sensors' (T, 8, 6) signals."""
    rng = np.random.default_rng(seed)
    fields = ["NAME", "SRATE", "SIGNAL", "SOURCE", "SENTENCE", "WORDS", "PHONES", "LABELS"]
    arr = np.zeros((1, 9), dtype=[(f, object) for f in fields])
    words = np.zeros((1, 2), dtype=[("LABEL", object), ("OFFS", object)])
    for i, (w, a, b) in enumerate([("the", 0.3, 0.5), ("birch", 0.5, 0.9)]):
        words[0, i]["LABEL"], words[0, i]["OFFS"] = w, np.array([[a, b]])
    phones = np.zeros((1, 4), dtype=[("LABEL", object), ("OFFS", object)])
    for i, (p, a, b) in enumerate([("sp", 0.0, 0.3), ("DH", 0.3, 0.4), ("AH0", 0.4, 0.5), ("B", 0.5, 0.6)]):
        phones[0, i]["LABEL"], phones[0, i]["OFFS"] = p, np.array([[a, b]])
    n_audio = int(audio_s * 44100)
    arr[0, 0]["NAME"], arr[0, 0]["SRATE"] = "AUDIO", 44100.0
    arr[0, 0]["SIGNAL"] = (0.05 * rng.standard_normal((n_audio, 1))).astype(np.float32)
    arr[0, 0]["SENTENCE"] = "The birch canoe slid on the smooth planks."
    arr[0, 0]["WORDS"], arr[0, 0]["PHONES"] = words, phones
    sig = np.concatenate([smooth_ema(frames, 24, seed) * 5, rng.uniform(-90, 90, (frames, 24))], axis=1)
    sig = sig.reshape(frames, 2, 8, 3).transpose(0, 2, 1, 3).reshape(frames, 8, 6)
    for i, name in enumerate(["TR", "TB", "TT", "UL", "LL", "ML", "JAW", "JAWL"], start=1):
        arr[0, i]["NAME"], arr[0, i]["SRATE"], arr[0, i]["SIGNAL"] = name, 100.0, sig[:, i - 1, :]
        arr[0, i]["SOURCE"], arr[0, i]["SENTENCE"] = "WAVE", ""
        arr[0, i]["WORDS"], arr[0, i]["PHONES"], arr[0, i]["LABELS"] = np.zeros((0, 0)), np.zeros((0, 0)), ""
    arr[0, 0]["SOURCE"], arr[0, 0]["LABELS"] = "WAVE", ""
    return arr, sig


def write_hprc_mat(path: Path, frames: int, audio_s: float, seed: int = 0) -> np.ndarray:
    """An HPRC ``.mat`` (variable named like the file) whose AUDIO element lasts ``audio_s``; the signals."""
    import scipy.io

    arr, sig = hprc_struct(frames=frames, audio_s=audio_s, seed=seed)
    scipy.io.savemat(str(path), {path.stem: arr})
    return sig


def write_mocha_ema(path: Path, frames: int, seed: int = 0) -> np.ndarray:
    """A MOCHA ASCII ``.ema`` at 500 Hz (time, present flag, 20 coil values in 1/100 mm); the table."""
    t = np.arange(frames) / 500.0
    table = np.column_stack([t, np.ones(frames), smooth_ema(frames, 20, seed) * 1000])
    np.savetxt(path, table, fmt="%.6f")
    return table


__all__ = [
    "NEMA_CHANNELS", "est_header", "hprc_struct", "smooth_ema", "write_cmu_speaker", "write_hprc_mat",
    "write_mocha_ema", "write_wav",
]  # fmt: skip
