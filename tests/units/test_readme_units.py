"""The "Gestural units: classic convolutive NMF" README examples run as written (/tmp -> tmp_path)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.usefixtures("one_thread")


def _section() -> str:
    text = (REPO / "README.md").read_text()
    start = text.index("## Gestural units: classic convolutive NMF")
    end = text.index("\n## ", start + 5)
    return text[start:end]


def test_readme_cli_examples(cli, mngu0_dir, tmp_path: Path, monkeypatch) -> None:
    block = re.search(r"```bash\n(.*?)```", _section(), re.S).group(1).replace("\\\n", " ")
    monkeypatch.chdir(REPO)
    commands = [ln for ln in block.splitlines() if ln.startswith("gesturekit ")]
    assert len(commands) == 3
    outs = []
    for line in commands:
        argv = shlex.split(line.replace("/tmp/", f"{tmp_path}/"))[1:]
        r = cli(*argv)
        assert r.code == 0, (line, r)
        outs.append(r.out)
    metrics = json.loads((tmp_path / "cnmf_mngu0" / "metrics.json").read_text())
    assert metrics["train"]["files"] == 6 and metrics["val"]["files"] == 2
    assert metrics["train"]["mean_channel_r"] >= 0.95 and metrics["val"]["mean_channel_r"] >= 0.9
    ev = json.loads(outs[1])
    assert ev["per_file"][0]["name"] == "mngu0_s1_1222" and ev["mean_channel_r"] >= 0.9
    assert sorted(p.name for p in (tmp_path / "cnmf_figs").glob("*.png")) == [
        "gestures.png", "reconstruction_mngu0_s1_0008.png", "scores_mngu0_s1_0008.png",
    ]  # fmt: skip


def test_readme_python_example(mngu0_dir, monkeypatch, capsys) -> None:
    code = re.search(r"```python\n(.*?)```", _section(), re.S).group(1)
    monkeypatch.chdir(REPO)
    exec(compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    # each print is followed by the comment saying what it prints
    expected = [ln.split("#")[-1].strip() for ln in code.splitlines() if ln.startswith("print(")]
    assert printed == expected
