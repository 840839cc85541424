"""Co-speech gestures, in rooms by job (the layout and the import direction: ``docs/design.md``).

- :mod:`~gesturekit.cospeech.data`: what a model reads (data types, store inputs, speech features);
- :mod:`~gesturekit.cospeech.models`: the networks, one config per model, the model bundle;
- :mod:`~gesturekit.cospeech.training`: ``fit`` on the shared training engine;
- :mod:`~gesturekit.cospeech.inference`: ``GesturePipeline``, sampling, live generation, export;
- :mod:`~gesturekit.cospeech.evaluation`: metrics of samples files, FGD, beat consistency.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    # lazy, so that importing a light submodule does not load torch and the pipeline
    if name == "StreamingGenerator":
        from gesturekit.cospeech.inference.streaming import StreamingGenerator

        return StreamingGenerator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
