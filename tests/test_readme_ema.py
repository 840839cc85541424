"""The "Reading EMA" README examples run as written (outputs redirected from /tmp to tmp_path)."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

from conftest import REPO


def _section() -> str:
    text = (REPO / "README.md").read_text()
    start = text.index("## Reading EMA")
    end = text.index("\n## ", start + 5)
    return text[start:end]


def test_readme_python_example(mngu0_dir, mocha_dir, tmp_path: Path, monkeypatch) -> None:
    code = re.search(r"```python\n(.*?)```", _section(), re.S).group(1)
    monkeypatch.chdir(REPO)
    before = sorted(os.listdir(mngu0_dir))
    exec(compile(code.replace("/tmp/", f"{tmp_path}/"), "README.md", "exec"), {})
    assert (tmp_path / "mngu0_split.json").exists()
    assert sorted(os.listdir(mngu0_dir)) == before


def test_readme_cli_examples(cli, mngu0_dir, mocha_dir, tmp_path: Path, monkeypatch) -> None:
    block = re.search(r"```bash\n(.*?)```", _section(), re.S).group(1).replace("\\\n", " ")
    monkeypatch.chdir(REPO)
    commands = [ln for ln in block.splitlines() if ln.startswith("gesturekit ")]
    assert len(commands) == 4
    for line in commands:
        argv = shlex.split(line.replace("/tmp/", f"{tmp_path}/"))[1:]
        r = cli(*argv)
        assert r.code == 0, (line, r)
    assert (tmp_path / "mngu0_z" / "metadata.json").exists()
    assert (tmp_path / "fsew0_200" / "split.json").exists()
    assert (tmp_path / "mngu0_split_cli.json").exists()
