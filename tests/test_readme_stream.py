"""The README's "Live generation" example runs as written (``/tmp/`` -> tmp_path)."""

from __future__ import annotations

import re
import shlex

from conftest import REPO

TITLE = "## Live generation"


def _section() -> str:
    text = (REPO / "README.md").read_text()
    start = text.index(TITLE)
    return text[start : text.find("\n## ", start + 5)]


def test_readme_live_generation_example(cli, beat2_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    section = _section()
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1).replace("\\\n", " ")
    commands = [ln for ln in block.splitlines() if ln.startswith("gesturekit ")]
    assert len(commands) == 2
    for line in commands:
        argv = shlex.split(line.replace("/tmp/", f"{tmp_path}/"))[1:]
        r = cli(*argv)
        assert r.code == 0, (line, r)
    assert "lookahead 66.7 ms" in r.out
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    exec(compile(code.replace("/tmp/", f"{tmp_path}/"), "README.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed[-2:] == ["15.0 66.7", "(930, 55, 3)"]
