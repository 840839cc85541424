from pathlib import Path

from conftest import run_cli_subprocess


def test_help_lists_commands(cli) -> None:
    r = cli("--help")
    assert r.code == 0 and "demo" in r.out


def test_version_in_a_fresh_process() -> None:
    r = run_cli_subprocess("--version")
    assert r.code == 0 and r.out.startswith("gesturekit ")


def test_demo_refuses_to_overwrite(cli, tmp_path: Path) -> None:
    out = tmp_path / "demo"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    r = cli("demo", "--out", out, "--quick")
    assert r.code == 1 and "not empty" in r.err and "Traceback" not in r.err
    assert (out / "mine.txt").read_text() == "keep"
