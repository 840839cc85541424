from pathlib import Path

import pytest

from gesturekit.errors import FormatError
from gesturekit.io.labels import read_lab, read_prompts


def test_mocha_start_end_label(tmp_path: Path) -> None:
    p = tmp_path / "a.lab"
    p.write_text("0 0.25 sil\n0.25 0.28 breath\n\n0.28 0.35 dh\n")
    tier = read_lab(p)
    assert tier.labels() == ["sil", "breath", "dh"]
    assert tier.segments[1].start == 0.25 and tier.segments[2].end == 0.35


def test_festival_end_number_label(tmp_path: Path) -> None:
    p = tmp_path / "b.lab"
    p.write_text("signal x\nnfields 1\n#\n0.110 125 pau\n0.250 125 dh ;extra\n0.31 125 ax\n")
    tier = read_lab(p)
    assert tier.labels() == ["pau", ";extra", "ax"]  # the last token is the label
    assert [(s.start, s.end) for s in tier.segments] == [(0.0, 0.11), (0.11, 0.25), (0.25, 0.31)]


def test_bad_labels(tmp_path: Path) -> None:
    p = tmp_path / "c.lab"
    p.write_text("0 0.2 a\n0.2 x b\n")
    with pytest.raises(FormatError, match="line 2"):
        read_lab(p)
    p.write_text("0.5 0.2 a\n")
    with pytest.raises(FormatError, match="ends before it starts"):
        read_lab(p)
    p.write_text("")
    with pytest.raises(FormatError, match="empty"):
        read_lab(p)


def test_prompts(tmp_path: Path) -> None:
    p = tmp_path / "txt.done.data"
    p.write_text('( u_001 "Hello, \\"world\\"." )\n( u_002 "Bye." )\n')
    assert read_prompts(p) == {"u_001": 'Hello, "world".', "u_002": "Bye."}
    p.write_text("u_001 Hello\n")
    with pytest.raises(FormatError, match="line 1"):
        read_prompts(p)
