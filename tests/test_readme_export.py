"""The README's export and model-folder examples run as written (``/tmp/`` -> tmp_path)."""

from __future__ import annotations

import re
import shlex

import numpy as np

from conftest import REPO, readme_section
from gesturekit.io.beat2 import read_beat2_take
from gesturekit.io.bvh import read_bvh
from gesturekit.skeleton import BEAT2_JOINTS, forward_kinematics

SECTIONS = ("## Export to animation tools", "## Model folders: config.json and model card")


def test_readme_export_and_model_folder_examples(cli, beat2_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    block = re.search(r"```bash\n(.*?)```", readme_section(SECTIONS[0]), re.S).group(1)
    lines = [ln for ln in block.replace("\\\n", " ").splitlines() if ln.startswith("gesturekit ")]
    assert len(lines) >= 7
    for line in lines:
        r = cli(*shlex.split(line.replace("/tmp/", f"{tmp_path}/"))[1:])
        assert r.code == 0, (line, r)
    out = tmp_path / "gk_export"
    bvh = read_bvh(out / "scott.bvh")
    take = read_beat2_take(beat2_dir / "2_scott_0_1_1.npz", audio=False)
    assert bvh.n_frames == 1906 and abs(bvh.fps - 30) < 1e-9
    idx = [bvh.joint_names.index(n) for n in BEAT2_JOINTS]
    expect = 100 * forward_kinematics(take.streams["pose/axis_angle"], trans=take.streams["pose/trans"])
    np.testing.assert_allclose(bvh.positions()[:, idx], expect, atol=1e-3)
    same = read_beat2_take(out / "scott_smplx.npz", audio=False)
    np.testing.assert_array_equal(same.streams["pose/axis_angle"], take.streams["pose/axis_angle"])
    gen = read_bvh(out / "gen.bvh")
    assert gen.n_frames == len(np.load(out / "gen" / "poses.npz")["poses"]) and abs(gen.fps - 15) < 1e-9
    assert (out / "test.csv").read_text().startswith("frame,joint,x,y,z\n")
    code = re.search(r"```python\n(.*?)```", readme_section(SECTIONS[1]), re.S).group(1)
    capsys.readouterr()
    exec(compile(code.replace("/tmp/", f"{tmp_path}/"), "README.md", "exec"), {})
    assert capsys.readouterr().out.split() == ["nearest-neighbour", "15.0"]
    assert "non-commercial research only" in (out / "run" / "README.md").read_text()
