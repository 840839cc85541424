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


# --- presets shipped in the package (``--config NAME``) -------------------------------------------

REPO = Path(__file__).resolve().parents[1]
PRESETS = REPO / "src" / "gesturekit" / "configs"


def test_a_preset_is_found_by_name_and_equals_its_file() -> None:
    from gesturekit.units.methods import get_method

    cls = get_method("ae").config_cls
    by_name = load_config(cls, "ae_reference")  # (ae_mngu0 now equals the defaults)
    assert by_name == load_config(cls, PRESETS / "units" / "ae_reference.yaml")
    assert by_name != load_config(cls)  # the preset really changes something
    assert load_config(cls, "ae_reference.yaml") == by_name  # the suffix may be given


def test_presets_are_every_shipped_yaml_with_unique_names() -> None:
    from gesturekit.config import presets

    files = sorted(PRESETS.rglob("*.yaml"))
    assert files, PRESETS
    assert sorted(presets()) == sorted(f.stem for f in files)
    assert {"ae_mngu0", "vae_mngu0", "ae_reference", "ccnce", "ccnce_fullwidth"} <= set(presets())


def test_a_path_still_works_and_wins_over_a_preset_name(tmp_path: Path, monkeypatch) -> None:
    f = tmp_path / "mine.yaml"
    f.write_text("epochs: 3\n")
    assert load_config(Cfg, f).epochs == 3
    assert load_config(Cfg, str(f)).epochs == 3
    # a file in the working folder with a preset's bare name is the user's file
    (tmp_path / "ccnce.yaml").write_text("epochs: 4\n")
    monkeypatch.chdir(tmp_path)
    assert load_config(Cfg, "ccnce.yaml").epochs == 4
    assert load_config(Cfg, "mine.yaml").epochs == 3


def test_an_unknown_name_or_missing_file_is_an_error_that_lists_the_presets(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such preset") as exc:
        load_config(Cfg, "ae_mngu")
    for name in ("ae_mngu0", "ccnce_fullwidth", "vae_mngu0"):
        assert name in str(exc.value)
    with pytest.raises(ConfigError, match="not found") as exc:
        load_config(Cfg, tmp_path / "missing.yaml")
    assert "ae_mngu0" in str(exc.value) and "missing.yaml" in str(exc.value)


def test_cli_config_takes_a_preset_name_and_refuses_an_unknown_one(cli, tmp_path: Path) -> None:
    r = cli("units", "fit", "--method", "ae", "--config", "nope", "--data", tmp_path, "--out", tmp_path / "run")
    assert r.code == 1
    assert "--config nope" in r.err and "ae_mngu0" in r.err and "ccnce" in r.err
    assert not (tmp_path / "run").exists()
    r = cli("cospeech", "fit", "--config", "nope", "--data", tmp_path, "--out", tmp_path / "run2")
    assert r.code == 1 and "ccnce_fullwidth" in r.err
    # a known name gets past the config and on to the data (here: an empty folder)
    r = cli(
        "units", "fit", "--method", "vae", "--config", "vae_mngu0", "--data", tmp_path, "--out", tmp_path / "r3"
    )
    assert r.code == 1 and "holds no EMA files" in r.err, r.err


@pytest.mark.slow
def test_a_built_wheel_ships_every_preset(tmp_path: Path) -> None:
    """``pip wheel`` from a copy of the sources (the checkout gets no build folder)."""
    import shutil
    import subprocess
    import sys
    import zipfile

    proj = tmp_path / "proj"
    proj.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, proj / name)
    shutil.copytree(REPO / "src", proj / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path / "w"), str(proj)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = (tmp_path / "w").glob("gesturekit-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    want = {
        "gesturekit/" + p.relative_to(REPO / "src" / "gesturekit").as_posix() for p in PRESETS.rglob("*.yaml")
    }
    assert len(want) >= 11
    assert want <= shipped, sorted(want - shipped)
