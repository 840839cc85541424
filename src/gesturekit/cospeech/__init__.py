"""Co-speech gestures: data, models, training, sampling, metrics, live generation."""

from typing import Any


def __getattr__(name: str) -> Any:
    # lazy, so that importing a light submodule does not load torch and the pipeline
    if name == "StreamingGenerator":
        from gesturekit.cospeech.inference.streaming import StreamingGenerator

        return StreamingGenerator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
