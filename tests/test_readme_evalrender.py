"""The README's evaluation, rendering and report examples run as written (``/tmp/`` -> tmp_path)."""

from __future__ import annotations

import json
import re
import shlex

from conftest import REPO, readme_section
from gesturekit.render.encode import probe

SECTIONS = ("## Evaluating co-speech gestures", "## Rendering videos", "## The HTML report")


def _commands(section: str) -> list[str]:
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", section, re.S):
        lines += [ln for ln in block.replace("\\\n", " ").splitlines() if ln.startswith("gesturekit ")]
    return lines


def test_readme_evaluation_rendering_and_report_examples(cli, beat2_dir, mngu0_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    code = re.search(r"```python\n(.*?)```", readme_section(SECTIONS[0]), re.S).group(1)
    exec(compile(code.replace("/tmp/", f"{tmp_path}/"), "README.md", "exec"), {})
    outputs: dict[str, str] = {}
    for title in SECTIONS:
        commands = _commands(readme_section(title))
        assert commands, title
        for line in commands:
            argv = shlex.split(line.replace("/tmp/", f"{tmp_path}/"))[1:]
            r = cli(*argv)
            assert r.code == 0, (line, r)
            outputs[line] = r.out
    gk = tmp_path / "gk_eval"
    late = json.loads((gk / "late" / "eval.json").read_text())
    frozen = json.loads((gk / "frozen" / "eval.json").read_text())
    # the shipped encoder is named beside both FGD values; the frozen pose is the worse model
    assert late["meta"]["fgd_encoder"]["name"] == frozen["meta"]["fgd_encoder"]["name"]
    assert late["meta"]["fgd_encoder"]["weights_sha256"] in (gk / "fgd" / "encoder.json").read_text()
    assert frozen["overall"]["fgd"] > late["overall"]["fgd"] and frozen["overall"]["jerk"] == 0
    assert "forward kinematics" in late["meta"]["poses"]
    table = next(out for line, out in outputs.items() if " compare " in line)
    assert "| late |" in table and "FGD encoder: gk-poseae-w32-z32-seed0-" in table
    # the generated poses' video lasts as long as the recording, with its sound
    wav = probe(beat2_dir / "2_scott_0_1_1.wav")
    video = probe(gk / "generated" / "videos" / "poses.mp4")
    assert video.audio_streams == 1 and abs(video.duration - wav.duration) <= 1 / 15
    assert len(list((gk / "late" / "videos").glob("*.mp4"))) == 2
    html = (tmp_path / "gk_report" / "index.html").read_text()
    for text in ("cnmf_run", "gestural score", "late", "frozen", "Models compared", "<video"):
        assert text in html, text
