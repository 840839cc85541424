"""The compiled (Numba, CPU) backend of :mod:`gesturekit.units.ops`: private, called only there.

- :mod:`.conv`: the shared kernels (a direct "valid" convolution, ReLU with row peaks, padded
  windows);
- :mod:`.inference`: a frozen AE-CNMF's encode + reconstruct as one call per utterance, and the
  decoder of given scores (:class:`~.inference.FusedReconstruct`, :class:`~.inference.FusedDecoder`);
- :mod:`.training`: an AE-CNMF training step's loss and parameter gradients in two passes.

This module holds what they share: whether Numba is there (:data:`AVAILABLE`) and wanted
(:data:`ENABLED`; ``GESTUREKIT_FUSED=0`` turns the backend off), the thread count of a call
(:func:`numba_threads`), and the one-line notice of a first compile. It does not import Numba:
:mod:`gesturekit.units.ops` imports the kernel modules when it first dispatches to them. Numba
compiles each kernel on first use and caches it on disk (``cache=True``).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from gesturekit.extras import note_missing

#: Whether Numba is installed (an optional accelerator: without it every op takes the torch
#: backend). Numba itself is imported only with the kernel modules, when an op first needs them.
AVAILABLE = importlib.util.find_spec("numba") is not None

#: Whether :mod:`gesturekit.units.ops` dispatches to these kernels.
ENABLED = AVAILABLE and os.environ.get("GESTUREKIT_FUSED", "1") != "0"
if not AVAILABLE:
    note_missing("numba", "AE-CNMF training and inference take the slower torch path")

#: Frames per chunk at least: shorter utterances run as one chunk (a thread's wake-up and its
#: halo would cost more than it saves).
MIN_CHUNK_FRAMES = 256

log = logging.getLogger("gesturekit")
_announced: set[str] = set()


def announce_compile(what: str, seconds: int, *kernels: object) -> None:
    """Say so (once per process, on the ``gesturekit`` logger) when ``kernels`` have no on-disk
    cache for their current source yet: their first call compiles them, a silent pause otherwise."""
    if what in _announced:
        return
    _announced.add(what)
    try:  # Numba's cache index per function (an internal path; if it moves, say nothing)
        paths = [(k._cache._cache_file._index_path, k.py_func.__code__.co_filename) for k in kernels]  # type: ignore[attr-defined]
    except AttributeError:
        return
    fresh = all(os.path.exists(i) and os.path.getmtime(i) >= os.path.getmtime(f) for i, f in paths)
    if not fresh:
        log.info("compiling the %s (first use only: about %d s; cached on disk afterwards)", what, seconds)


@contextmanager
def numba_threads(n: int) -> Iterator[None]:
    """Numba's thread count set to ``n`` (at most its pool's size) for the block, then restored.

    Why: Numba keeps its own count (the core count at start), apart from torch's; the compiled
    kernels run on the count torch has (``--threads``, ``torch.set_num_threads``), and the
    caller's own Numba code keeps its setting.
    """
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(before)
