"""Dataclass configs: defaults in code, YAML files on top, CLI overrides last.

``load_config(TrainConfig, "run.yaml", ["optim.lr=3e-4"], epochs=10)`` resolves a config in
that order; :func:`save_config` writes the resolved result into every run folder so that a
run can always be repeated. Unknown keys and values of the wrong type are errors, not ignored.

The config file may also be a preset shipped inside the package (``gesturekit/configs/*.yaml``
and ``gesturekit/configs/units/*.yaml``), named by its file name without ``.yaml``
(``ae_mngu0``, ``ccnce_fullwidth``): :func:`resolve_config` is the one lookup every
``--config`` goes through, so an installed wheel needs no source checkout.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from gesturekit.errors import ConfigError
from gesturekit.fsutil import atomic_write_text

T = TypeVar("T")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Convert ``value`` to the annotated type ``tp`` or raise a ConfigError naming ``key``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(f"config key '{key}': {value!r} fits none of {tp}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"config key '{key}': {value!r} is not one of {list(args)}")
        return value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}': expected a mapping, got {value!r}")
        return _build(tp, value, prefix=key + ".")
    if origin in (list, tuple):
        if isinstance(value, str):
            value = yaml.safe_load(value)
        if not isinstance(value, (list, tuple)):
            value = [value]
        inner = args[0] if args else Any
        items = [_coerce(v, inner, key) for v in value]
        return items if origin is list else tuple(items)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}': expected a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "on", "false", "no", "0", "off"):
            return value.lower() in ("true", "yes", "1", "on")
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ConfigError(f"config key '{key}': expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError(f"config key '{key}': expected an integer, got {value!r}")
        if isinstance(value, float) and value.is_integer():
            return int(value)
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"config key '{key}': expected an integer, got {value!r}") from None
    if tp is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"config key '{key}': expected a number, got {value!r}") from None
    if tp is str:
        return str(value)
    if tp is Path:
        return Path(value)
    return value


def _build(cls: type[T], values: dict[str, Any], prefix: str = "") -> T:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"unknown config key(s) {[prefix + u for u in unknown]}; known: {sorted(names)}")
    kwargs = {k: _coerce(v, hints[k], prefix + k) for k, v in values.items()}
    return cls(**kwargs)


def config_from_dict(cls: type[T], values: dict[str, Any], prefix: str = "") -> T:
    """``cls`` from a mapping: values coerced to the annotated types; an unknown key (named, with
    ``prefix`` before it) or a missing required one is a :class:`ConfigError`."""
    no_default = (dataclasses.MISSING, dataclasses.MISSING)
    missing = sorted(
        f.name
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.name not in values and (f.default, f.default_factory) == no_default
    )
    if missing:
        raise ConfigError(f"missing config key(s) {[prefix + m for m in missing]}")
    return _build(cls, values, prefix)


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A plain dict (paths as strings, tuples as lists) that YAML and JSON can hold."""

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, Path):
            return str(v)
        return v

    return plain(cfg)


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = tree
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override '{dotted}': '{p}' is not a section")
    node[parts[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """``"a.b=3"`` -> ``("a.b", 3)``; the value is read as YAML (numbers, lists, booleans)."""
    if "=" not in text:
        raise ConfigError(f"override '{text}' must look like key=value")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


_PRESET_SUFFIXES = (".yaml", ".yml")


def presets() -> dict[str, Traversable]:
    """The presets shipped in ``gesturekit/configs`` (and its sub-folders), by name (the file's stem)."""
    found: dict[str, Traversable] = {}

    def walk(folder: Traversable) -> None:
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.is_dir():
                walk(entry)
            elif entry.name.endswith(_PRESET_SUFFIXES):
                name = entry.name.rsplit(".", 1)[0]
                # Names are the user's handle on a preset, so two files may not share one.
                if name in found:
                    raise ConfigError(f"two shipped presets are both named '{name}' (gesturekit/configs)")
                found[name] = entry

    walk(resources.files("gesturekit") / "configs")
    return found


def resolve_config(spec: str | Path) -> Path | Traversable:
    """The file that ``--config SPEC`` means: an existing file, else a shipped preset by name.

    A bare name (no folder part; ``.yaml`` optional) that is not a file here is looked up among
    the presets; anything else that does not exist is an error that lists the preset names.
    """
    path = Path(spec)
    if path.is_file():
        return path
    known = presets()
    text = str(spec)
    bare = path.name == text
    name = text.rsplit(".", 1)[0] if text.endswith(_PRESET_SUFFIXES) else text
    if bare and name in known:
        return known[name]
    listed = ", ".join(sorted(known))
    if bare and not text.endswith(_PRESET_SUFFIXES):
        raise ConfigError(f"--config {text}: no such preset or file; shipped presets: {listed}")
    raise ConfigError(f"{spec}: config file not found (a shipped preset is named without a folder: {listed})")


def load_config(
    cls: type[T],
    path: str | Path | None = None,
    overrides: list[str] | None = None,
    **flags: Any,
) -> T:
    """Resolve a config of type ``cls``: defaults < YAML file < ``key=value`` overrides < flags.

    ``path`` is a file or the name of a shipped preset (:func:`resolve_config`).

    A ``cls`` with a static ``upgrade_config(values, where)`` gets the file's mapping through it
    first (older key names made current). ``flags`` whose value is ``None`` are ignored (an option
    the user did not give); their names may be dotted with ``__`` (``optim__lr=1e-3``).
    """
    tree: dict[str, Any] = config_to_dict(cls())
    if path is not None:
        path = resolve_config(path)
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc})") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: a config file must hold a mapping of keys to values")
        upgrade = getattr(cls, "upgrade_config", None)  # renames keys of files older gesturekits wrote
        if upgrade is not None:
            loaded = upgrade(loaded, str(path))
        _merge(tree, loaded)
    for text in overrides or []:
        key, value = parse_override(text)
        _set_dotted(tree, key, value)
    for name, value in flags.items():
        if value is not None:
            _set_dotted(tree, name.replace("__", "."), value)
    return _build(cls, tree)


def _merge(base: dict[str, Any], new: dict[str, Any]) -> None:
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        else:
            base[k] = v


def save_config(cfg: Any, path: str | Path) -> None:
    """Write the resolved config as YAML (atomically)."""
    atomic_write_text(path, yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
