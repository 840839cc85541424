"""The README's co-speech data example runs as written (``/tmp/`` -> tmp_path), in bash."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import REPO, readme_section


def test_readme_cospeech_data_example(realdata, tmp_path):
    section = readme_section("## Co-speech data")
    script = re.search(r"```bash\n(.*?)```", section, re.S).group(1).replace("/tmp/", f"{tmp_path}/")
    bindir = tmp_path / "bin"  # `gesturekit` and `python` as this interpreter runs them
    bindir.mkdir()
    (bindir / "gesturekit").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m gesturekit "$@"\n')
    (bindir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    for f in bindir.iterdir():
        f.chmod(0o755)
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "GESTUREKIT_CACHE": str(tmp_path / "cache"),
           "PYTHONPATH": str(REPO / "src")}  # fmt: skip
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=REPO, env=env, capture_output=True,
                       text=True, timeout=900)  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    # the BEAT2 download layout: whole takes, one to train, one to test
    assert "whole takes from" in r.stdout
    store = json.loads(Path(tmp_path / "beat2.store" / "store.json").read_text())
    assert store["split_rule"] == "csv"
    assert {s: v["intervals"] for s, v in store["splits"].items()} == {"train": 1, "test": 1}
    assert store["splits"]["test"]["frames"]["pose/rot6d"] == 1804
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1).replace("/tmp/", f"{tmp_path}/")
    exec(compile(code, "README.md", "exec"), {})
