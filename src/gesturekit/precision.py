"""Numeric precision of every model and path: one option, ``fp32`` or ``bf16``.

The option is the config key ``precision`` and the flag ``--precision`` of ``cospeech fit``,
``cospeech sample``, ``cospeech generate``, ``cospeech stream`` and ``units fit``. This module owns
the names, the default, the run-time check of whether a device computes bfloat16 fast, and the
autocast context every path enters:

- ``bf16`` is mixed precision: :func:`autocast` is ``torch.autocast(device, torch.bfloat16)``, so
  matrix products and convolutions run in bfloat16 while the weights, their gradients and the
  optimiser state stay float32 (the master copy), and so do the losses, the reductions autocast
  keeps in float32 and the normalisation statistics (BatchNorm's running buffers are float32);
  code that must stay float32 inside a bf16 region (contrastive similarities, the cluster
  softmax; docs/precision.md says what and why) enters :func:`float32`.
- On a CPU without bfloat16 instructions (``avx512_bf16`` or ``amx_bf16``; oneDNN then emulates
  bfloat16, many times slower than float32) or a GPU without bf16 support, ``bf16`` computes in
  float32, with one log line (:func:`resolve_precision`).

``DEFAULT_PRECISION`` is the one line to change to make ``bf16`` the default everywhere.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from pathlib import Path
from typing import Any

import torch

from gesturekit.errors import ConfigError

log = logging.getLogger("gesturekit")

PRECISIONS = ("fp32", "bf16")
#: what every path computes in when nothing says otherwise (``"bf16"`` after its quality check)
DEFAULT_PRECISION = "fp32"

_CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo: native bfloat16 dot products
_told: set[str] = set()  # fallback reasons already logged (one line per process)


def check_precision(value: str | None) -> str:
    """``value`` (None: the default) as one of :data:`PRECISIONS`, or a :class:`ConfigError`."""
    name = DEFAULT_PRECISION if value is None or value == "" else str(value).lower()
    if name not in PRECISIONS:
        raise ConfigError(f"precision must be one of {list(PRECISIONS)}, got {value!r}")
    return name


def cpu_flags(path: str | Path = "/proc/cpuinfo") -> set[str]:
    """The CPU feature flags the kernel reports (empty where there is no such file)."""
    try:
        text = Path(path).read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


@functools.cache
def cpu_bf16_support() -> tuple[bool, str]:
    """Whether this CPU computes bfloat16 matrix products and convolutions faster than float32,
    and why not. oneDNN must take bf16 (``torch.ops.mkldnn._is_mkldnn_bf16_supported``, true from
    AVX-512 on) and the CPU must have native bf16 dot products: oneDNN's AVX-512 emulation of
    bf16 without them is no faster than float32, and without AVX-512 torch falls back to scalar
    kernels (measured here on an AVX2 CPU: a 256-square linear layer 14x slower in bf16)."""
    capability = torch.backends.cpu.get_cpu_capability()
    try:
        onednn = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        onednn = False
    flags = cpu_flags()
    native = sorted(f for f in _CPU_BF16_FLAGS if f in flags)
    if onednn and native:
        return True, f"{capability}, {'/'.join(native)}"
    return False, (
        f"this CPU has no bfloat16 fast path (torch CPU capability {capability}; "
        f"oneDNN bf16 {'yes' if onednn else 'no'}; flags avx512_bf16/amx_bf16 {'/'.join(native) or 'absent'})"
    )


def bf16_support(device: torch.device) -> tuple[bool, str]:
    """``(fast, reason)``: whether ``device`` computes bfloat16 fast (see :func:`cpu_bf16_support`)."""
    if device.type == "cuda":
        ok = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        return ok, "CUDA bf16" if ok else "this GPU has no bfloat16 support"
    if device.type == "cpu":
        return cpu_bf16_support()
    return False, f"bfloat16 autocast is not set up for device type {device.type!r}"


def resolve_precision(requested: str | None, device: torch.device | str) -> str:
    """What a path computes in on ``device`` when ``requested`` is asked for: ``bf16`` where the
    device supports it, else ``fp32`` with one log line (once per process and reason)."""
    name = check_precision(requested)
    if name == "fp32":
        return name
    fast, why = bf16_support(torch.device(device))
    if fast:
        return name
    if why not in _told:
        _told.add(why)
        log.info("precision bf16: %s; computing in fp32", why)
    return "fp32"


def autocast(precision: str, device: torch.device | str) -> contextlib.AbstractContextManager[Any]:
    """The context a forward pass runs in: bfloat16 autocast for ``"bf16"``, nothing for ``"fp32"``.

    ``precision`` is a resolved one (:func:`resolve_precision`); the backward pass needs no context.
    """
    if precision != "bf16":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)


def float32(x: torch.Tensor) -> contextlib.AbstractContextManager[Any]:
    """A region computed in float32 inside a bf16 one (autocast off for ``x``'s device); cast the
    region's inputs with ``.float()`` (a no-op in fp32 runs)."""
    if not torch.is_autocast_enabled(x.device.type):
        return contextlib.nullcontext()
    return torch.autocast(x.device.type, enabled=False)
