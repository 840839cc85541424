from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gesturekit.config import load_config, save_config
from gesturekit.errors import ConfigError


@dataclass
class Optim:
    lr: float = 1e-3
    name: str = "adam"


@dataclass
class Cfg:
    epochs: int = 5
    sparse: bool = False
    layers: list[int] = field(default_factory=lambda: [3, 3])
    optim: Optim = field(default_factory=Optim)
    note: str | None = None


def test_defaults_file_overrides_flags_in_order(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("epochs: 7\noptim:\n  lr: 0.5\n")
    cfg = load_config(Cfg, f, ["optim.name=sgd", "layers=[1, 2, 3]", "epochs=9"], epochs=11)
    assert cfg.epochs == 11
    assert cfg.optim.lr == 0.5 and cfg.optim.name == "sgd"
    assert cfg.layers == [1, 2, 3]
    assert load_config(Cfg).epochs == 5


def test_flags_that_are_none_are_ignored_and_dunder_is_dotted() -> None:
    cfg = load_config(Cfg, None, [], epochs=None, optim__lr=0.25)
    assert cfg.epochs == 5 and cfg.optim.lr == 0.25


def test_unknown_key_and_bad_type_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="epoch"):
        load_config(Cfg, None, ["epoch=3"])
    with pytest.raises(ConfigError, match="integer"):
        load_config(Cfg, None, ["epochs=many"])
    with pytest.raises(ConfigError, match="true/false"):
        load_config(Cfg, None, ["sparse=maybe"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(Cfg, bad)


def test_saved_config_loads_back_identically(tmp_path: Path) -> None:
    cfg = load_config(Cfg, None, ["optim.lr=0.01", "note=hello"])
    save_config(cfg, tmp_path / "config.yaml")
    assert load_config(Cfg, tmp_path / "config.yaml") == cfg
