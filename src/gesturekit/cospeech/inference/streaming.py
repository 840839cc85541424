"""Live generation: speech pushed in chunks, the poses of each frame out as soon as they are final.

``gen = StreamingGenerator.from_run(run_dir); poses = gen.push(chunk)`` ... ``gen.flush()``. The
model must be causal (``model_options.causal``; the ``ccnce_stream`` preset). For the same audio
the concatenated outputs equal :meth:`GesturePipeline.__call__ <gesturekit.cospeech.inference.pipeline.
GesturePipeline.__call__>` (``cospeech generate``) for any chunking, to float rounding: every
step is the offline one on the frames now available.

- Front end: pose frame ``i`` reads the ``log_mel_400`` row nearest its time (rows every 160
  samples, each a 512-sample window starting there). Only those rows are computed, each once its
  whole window is in; the samples from the next needed row on are kept (under 2,000 samples).
- Frame ``i`` exists only once the recording lasts ``(i + 1) / fps`` (offline, an ``n``-sample
  recording has ``floor(n / 16000 * fps)`` frames), so a frame waits for ``1 / fps`` of audio
  after its time, or for its log-mel window when that ends later; a model ``lookahead`` of ``L``
  frames adds ``L / fps``. :attr:`StreamingGenerator.lookahead_ms` is the largest such wait.
- Model: the causal convolutions keep their last ``(kernel - 1) * dilation`` inputs between
  pushes (:func:`~gesturekit.cospeech.models.layers.stream_caches`); BatchNorm uses its training
  statistics, LayerNorm and the cluster mixture are per frame. With a lookahead the model gets
  audio frame ``i + L`` as its input ``i``, as :func:`~gesturekit.cospeech.models.generators.
  lookahead_shift` does offline.
- :meth:`flush`: the last frames of a recording (log-mel rows past the end repeat the last whole
  one; a recording under 513 samples is zero-padded, as offline) and, for a lookahead, the last
  audio frame repeated, as generation pads a recording.

A push costs O(chunk): the kept state is bounded (sample tail, conv tails).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gesturekit.cospeech.data.speech_inputs import HOP, SR, mel_rows, min_samples, n_frames_for_samples
from gesturekit.cospeech.inference.pipeline import GesturePipeline
from gesturekit.cospeech.models.layers import stream_caches
from gesturekit.errors import ConfigError, DataError
from gesturekit.features.audio import frame_magnitude, log_mel_400_rows
from gesturekit.precision import autocast

WINDOW = 512  # samples of one log_mel_400 analysis frame (n_fft)


class StreamingGenerator:
    """Poses from speech pushed chunk by chunk (float32 mono 16 kHz), with a causal model."""

    sample_rate = SR

    def __init__(self, pipe: GesturePipeline) -> None:
        model = pipe.model
        if not getattr(model, "causal", False):
            where = f"{pipe.source}: " if pipe.source is not None else ""
            raise ConfigError(
                f"{where}this model is not causal: live generation needs a model trained with "
                "model_options.causal (gesturekit cospeech fit --config ccnce_stream ...)"
            )
        self.pipe, self.model = pipe, model
        self.fps = pipe.fps
        self.lookahead_frames = int(model.lookahead)
        self.lookahead_ms = self._lookahead_ms()
        self.reset()

    @classmethod
    def from_run(cls, run: str | Path, device: str = "cpu", precision: str | None = None) -> StreamingGenerator:
        """The trained causal model in the run folder (or ``model`` checkpoint) ``run``; ``precision``
        as :class:`~gesturekit.cospeech.inference.pipeline.GesturePipeline`'s."""
        return cls(GesturePipeline.load(run, device, precision=precision))

    def reset(self) -> None:
        """Start a new recording (drops all state)."""
        self._tail = np.zeros(0, np.float32)  # samples from self._tail_start on
        self._tail_start = 0
        self._samples = 0  # samples received
        self._frames = 0  # pose frames whose features are made
        self._fed = 0  # model inputs fed (frame i + lookahead each)
        self._last: np.ndarray | None = None  # the last normalised feature frame
        self._cache: dict[Any, torch.Tensor] = {}
        self._flushed = False

    # -- timing -------------------------------------------------------------------------------
    def _ready_at(self, frames: np.ndarray) -> np.ndarray:
        """Samples needed before pose frame ``i`` exists and has its log-mel row."""
        exists = np.ceil((frames + 1) * (SR / self.fps) - 1e-9).astype(np.int64)
        return np.maximum(exists, mel_rows(frames, self.fps) * HOP + WINDOW)

    def _lookahead_ms(self) -> float:
        i = np.arange(int(np.ceil(10 * self.fps)))  # the pattern of frame and row times repeats within 1 s
        wait = self._ready_at(i + self.lookahead_frames) / SR - i / self.fps
        return float(wait.max() * 1000.0)

    # -- input checks -------------------------------------------------------------------------
    def _check(self, chunk: Any, sample_rate: int) -> np.ndarray:
        if self._flushed:
            raise DataError("push after flush(): the recording has ended; call reset() to start a new one")
        if int(sample_rate) != SR:
            raise DataError(f"chunk at {sample_rate} Hz: the generator takes {SR} Hz audio (resample first)")
        if not isinstance(chunk, np.ndarray):
            raise DataError(f"chunk must be a NumPy float32 array, got {type(chunk).__name__}")
        if chunk.dtype != np.float32:
            raise DataError(f"chunk has dtype {chunk.dtype}: the generator takes float32 samples in [-1, 1]")
        if chunk.ndim == 2 and chunk.shape[1] == 1:
            chunk = chunk[:, 0]
        if chunk.ndim != 1:
            channels = chunk.shape[1] if chunk.ndim == 2 else None
            what = f"{channels} channels" if channels else f"shape {chunk.shape}"
            raise DataError(f"chunk has {what}: the generator takes mono audio, (samples,) or (samples, 1)")
        bad = ~np.isfinite(chunk)
        if bad.any():
            kinds = ("NaN" if np.isnan(chunk).any() else "") + ("inf" if np.isinf(chunk).any() else "")
            kinds = "NaN and inf" if kinds == "NaNinf" else kinds
            raise DataError(
                f"chunk has {int(bad.sum())} non-finite samples ({kinds}, first at sample "
                f"{int(np.flatnonzero(bad)[0])}); nothing of it was used"
            )
        return chunk

    # -- streaming ----------------------------------------------------------------------------
    def push(self, chunk: np.ndarray, sample_rate: int = SR) -> np.ndarray:
        """Add ``chunk`` (float32 mono samples at 16 kHz, any length) and return the poses
        ``(frames, joints, dims)`` that became final with it (possibly 0 frames)."""
        chunk = self._check(chunk, sample_rate)
        self._tail = np.concatenate([self._tail, chunk])
        self._samples += len(chunk)
        # frames ready now: monotone in i, so count the ready prefix of the next few candidates
        top = n_frames_for_samples(self._samples, SR, self.fps)
        cand = np.arange(self._frames, top)
        ready = int(np.searchsorted(self._ready_at(cand), self._samples, side="right"))
        return self._advance(self._frames + ready, clamp=None)

    def flush(self) -> np.ndarray:
        """End the recording: the remaining poses ``(frames, joints, dims)``. Pushing after it is an error."""
        if self._flushed:
            raise DataError("flush() was already called; call reset() to start a new recording")
        n = n_frames_for_samples(self._samples, SR, self.fps)
        if n < 1:
            raise DataError(f"the recording ({self._samples} samples) is shorter than one pose frame")
        need = min_samples(SR)
        if self._samples < need:  # offline zero-pads a recording this short
            self._tail = np.concatenate([self._tail, np.zeros(need - self._samples, np.float32)])
        last_row = (max(self._samples, need) - WINDOW) // HOP
        out = self._advance(n, clamp=last_row)
        pad = n - self._fed  # model inputs past the end: the last audio frame, as offline
        if pad > 0:
            out = np.concatenate([out, self._run(np.repeat(self._last, pad, 0))])
        self._flushed = True
        return out

    def _advance(self, upto: int, clamp: int | None) -> np.ndarray:
        """Make the features of frames ``self._frames .. upto - 1``, feed the model what they allow."""
        frames = np.arange(self._frames, upto)
        rows = mel_rows(frames, self.fps)
        if clamp is not None:
            rows = np.minimum(rows, clamp)
        if len(frames):
            starts = rows * HOP - self._tail_start
            mag = frame_magnitude(self._tail[starts[:, None] + np.arange(WINDOW)], 400)
            feats = self.pipe.audio_norm.transform(log_mel_400_rows(mag))
            self._last = feats[-1:]
            self._frames = upto
            # keep the samples from the next frame's row (or the last whole row, if earlier) on
            keep = min(int(mel_rows(np.array([upto]), self.fps)[0]), max(0, (self._samples - WINDOW) // HOP))
            drop = keep * HOP - self._tail_start
            if drop > 0:
                self._tail, self._tail_start = self._tail[drop:], keep * HOP
            feats = feats[max(0, self.lookahead_frames - int(frames[0])) :]  # model input i is frame i + L
        else:
            feats = np.zeros((0, self.pipe.audio_norm.n_out), np.float32)
        return self._run(feats)

    @torch.inference_mode()
    def _run(self, feats: np.ndarray) -> np.ndarray:
        """Normalised audio frames (the model's next inputs) -> poses ``(frames, joints, dims)``."""
        if len(feats):
            stream_caches(self.model, self._cache)
            self.model.streaming = True
            try:
                x = torch.as_tensor(feats, device=self.pipe.device)[None]
                with autocast(self.pipe.precision, self.pipe.device):
                    out = self.model(x, None)[0][0].float().cpu().numpy()
            finally:
                stream_caches(self.model, None)
                self.model.streaming = False
            self._fed += len(feats)
        else:
            out = np.zeros((0, self.pipe.pose_norm.n_out), np.float32)
        return self.pipe.pose_format.to_joints(self.pipe.pose_norm.inverse_transform(out))


def replay(gen: StreamingGenerator, samples: np.ndarray, chunk: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Push a whole 16 kHz recording in chunks of ``chunk`` samples, as a live source would, timing
    each push (wall and process CPU time) -> ``(poses, figures)``; ``flush`` is timed apart.

    Figures (ms): ``compute_p50/p95/max_ms`` over the pushes, ``cpu_p50/p95_ms`` the same in process
    CPU time (above wall time when more than one core worked), ``flush_ms``, ``lookahead_ms``,
    ``latency_ms`` (lookahead + p95 compute: how long after a frame's time its pose is out),
    ``realtime_factor`` (all compute over the recording's duration).
    """
    if chunk < 1:
        raise ConfigError(f"chunk must be at least 1 sample, got {chunk}")
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    outs, wall, cpu = [], [], []
    for start in range(0, len(samples), chunk):
        piece = samples[start : start + chunk]
        t0, c0 = time.perf_counter(), time.process_time()
        outs.append(gen.push(piece))
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    t0 = time.perf_counter()
    outs.append(gen.flush())
    flush = time.perf_counter() - t0
    w, c = np.array(wall) * 1000.0, np.array(cpu) * 1000.0
    p95 = float(np.percentile(w, 95))
    figures = {
        "chunks": len(wall), "chunk_ms": chunk / SR * 1000.0, "audio_s": len(samples) / SR,
        "compute_p50_ms": float(np.percentile(w, 50)), "compute_p95_ms": p95, "compute_max_ms": float(w.max()),
        "cpu_p50_ms": float(np.percentile(c, 50)), "cpu_p95_ms": float(np.percentile(c, 95)),
        "wall_total_s": float(w.sum() / 1000.0 + flush), "cpu_total_s": float(c.sum() / 1000.0),
        "flush_ms": flush * 1000.0, "lookahead_ms": gen.lookahead_ms, "latency_ms": gen.lookahead_ms + p95,
        "realtime_factor": float((w.sum() / 1000.0 + flush) / (len(samples) / SR)),
    }  # fmt: skip
    return np.concatenate(outs), figures
