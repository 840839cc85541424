"""gesturekit: a toolkit for the gestures of speech.

Two pipelines share one foundation:

* ``gesturekit.units``: articulatory gestures (spatio-temporal kernels) and sparse gestural
  scores discovered in EMA kinematics by convolutive NMF, classic and neural.
* ``gesturekit.cospeech``: co-speech gesture generation from speech audio and transcript.

This module owns the public API: the names a user imports (``from gesturekit import ConvNMF,
UnitModel, GesturePipeline, read_ema``). Each is resolved from its module on first use (PEP 562),
so that ``import gesturekit`` stays fast and loads neither torch nor any model code.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# name -> "module:attribute". Everything outside gesturekit.cospeech.
_EXPORTS: dict[str, str] = {
    # errors
    "GesturekitError": "gesturekit.errors:GesturekitError",
    "FormatError": "gesturekit.errors:FormatError",
    "DataError": "gesturekit.errors:DataError",
    "ConfigError": "gesturekit.errors:ConfigError",
    # records and readers
    "EMARecording": "gesturekit.records:EMARecording",
    "CoSpeechClip": "gesturekit.records:CoSpeechClip",
    "Audio": "gesturekit.records:Audio",
    "Segment": "gesturekit.records:Segment",
    "SegmentTier": "gesturekit.records:SegmentTier",
    "read_ema": "gesturekit.io:read_ema",
    "load_recordings": "gesturekit.io:load_recordings",
    "find_ema_files": "gesturekit.io:find_ema_files",
    "open_corpus": "gesturekit.io.corpus:open_corpus",
    "save_split": "gesturekit.io.corpus:save_split",
    "load_split": "gesturekit.io.corpus:load_split",
    "read_audio": "gesturekit.io.audio:read_audio",
    "read_beat2_take": "gesturekit.io.beat2:read_beat2_take",
    "find_beat2_takes": "gesturekit.io.beat2:find_takes",
    "PatsCorpus": "gesturekit.io.pats:PatsCorpus",
    "read_pats_interval": "gesturekit.io.pats:read_pats_interval",
    "read_bvh": "gesturekit.io.bvh:read_bvh",
    # features
    "resample_recording": "gesturekit.features.resample:resample_recording",
    "Normalizer": "gesturekit.features.normalize:Normalizer",
    "log_mel_400": "gesturekit.features.audio:log_mel_400",
    "log_mel_512": "gesturekit.features.audio:log_mel_512",
    "read_transcript": "gesturekit.features.text:read_transcript",
    # skeletons
    "SKELETONS": "gesturekit.skeleton:SKELETONS",
    "forward_kinematics": "gesturekit.skeleton:forward_kinematics",
    # packed co-speech store
    "open_corpus_store": "gesturekit.store:open_corpus_store",
    "PackedStore": "gesturekit.store:PackedStore",
    "WindowDataset": "gesturekit.store:WindowDataset",
    "make_loader": "gesturekit.store:make_loader",
    # gestural units
    "ConvNMF": "gesturekit.units.cnmf:ConvNMF",
    "UnitModel": "gesturekit.units.model:UnitModel",
    "fit_units": "gesturekit.units.methods:fit_run",
    "fit_cnmf": "gesturekit.units.cnmf_method:fit_cnmf",
    "fit_neural": "gesturekit.units.neural.fit:fit_neural",
    "CNMFConfig": "gesturekit.units.cnmf_method:CNMFConfig",
    "NeuralUnitsConfig": "gesturekit.units.neural.config:NeuralUnitsConfig",
    # configs, model folders, report
    "load_config": "gesturekit.config:load_config",
    "save_config": "gesturekit.config:save_config",
    "write_model_folder": "gesturekit.model_card:write_model_folder",
    "build_report": "gesturekit.report:build_report",
}

# name -> "module:attribute" inside gesturekit.cospeech, in one place because its modules move.
_COSPEECH_EXPORTS: dict[str, str] = {
    "GesturePipeline": "gesturekit.cospeech.inference.pipeline:GesturePipeline",
    "StreamingGenerator": "gesturekit.cospeech.inference.streaming:StreamingGenerator",
    "fit_cospeech": "gesturekit.cospeech.training.fit:fit",
    "CoSpeechFitConfig": "gesturekit.cospeech.training.fit:FitConfig",
    "build_model": "gesturekit.cospeech.models:build_model",
    "evaluate_samples": "gesturekit.cospeech.evaluation.metrics:evaluate_samples",
    "evaluate_file": "gesturekit.cospeech.evaluation.metrics:evaluate_file",
    "EvalOptions": "gesturekit.cospeech.evaluation.metrics:EvalOptions",
    "Samples": "gesturekit.io.samples:Samples",
    "SampleItem": "gesturekit.io.samples:SampleItem",
    "read_samples": "gesturekit.io.samples:read_samples",
    "write_samples": "gesturekit.io.samples:write_samples",
    "export_file": "gesturekit.cospeech.inference.export:export_file",
}

_TARGETS: dict[str, str] = {**_EXPORTS, **_COSPEECH_EXPORTS}

__all__ = ["__version__", *_TARGETS]


def __getattr__(name: str) -> Any:
    target = _TARGETS.get(name)
    if target is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, _, attr = target.partition(":")
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value  # resolved once; later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_TARGETS})
