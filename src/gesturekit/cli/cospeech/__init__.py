"""``gesturekit cospeech ...``: co-speech gesture commands.

The group's subcommands come from the modules listed in SUBMODULES (data: info, features, pack;
model: fit, sample, generate; evaluate: evaluate, compare, render; export), each with
``register(subparsers)``; a module not built yet is skipped.
"""

from __future__ import annotations

import importlib
from typing import Any

from gesturekit.cli.common import add_group

SUBMODULES = ["data", "model", "evaluate", "export", "stream"]


def register(sub: Any) -> None:
    _, group = add_group(sub, "cospeech", "co-speech gestures: data, training, sampling, evaluation")
    for name in SUBMODULES:
        try:
            module = importlib.import_module(f"gesturekit.cli.cospeech.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"gesturekit.cli.cospeech.{name}":
                continue
            raise
        module.register(group)
