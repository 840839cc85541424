from pathlib import Path

import pytest

from gesturekit.errors import FormatError
from gesturekit.io.textgrid import read_textgrid, read_words_phones

SHORT = '''File type = "ooTextFile"
Object class = "TextGrid"

0
2.5
<exists>
2
"IntervalTier"
"words"
0
2.5
2
0
1.2
"say ""hi"""
1.2
2.5
""
"TextTier"
"beats"
0
2.5
1
0.75
"b"
'''


def test_short_format_with_escaped_quotes_and_point_tier(tmp_path: Path) -> None:
    p = tmp_path / "s.TextGrid"
    p.write_text(SHORT)
    tiers = read_textgrid(p)
    assert tiers["words"].labels() == ['say "hi"', ""]
    assert tiers["words"].segments[0].end == 1.2
    assert tiers["beats"].segments[0].start == tiers["beats"].segments[0].end == 0.75


def test_utf16_file(tmp_path: Path) -> None:
    p = tmp_path / "u.TextGrid"
    p.write_bytes(SHORT.replace("say", "héllo").encode("utf-16"))
    assert read_textgrid(p)["words"].labels()[0] == 'héllo "hi"'


def test_truncated_and_foreign_files_are_clear_errors(tmp_path: Path) -> None:
    p = tmp_path / "t.TextGrid"
    p.write_text(SHORT[: len(SHORT) // 2])
    with pytest.raises(FormatError, match="ends early"):
        read_textgrid(p)
    q = tmp_path / "x.TextGrid"
    q.write_text("hello world\n")
    with pytest.raises(FormatError, match="ooTextFile"):
        read_textgrid(q)


def test_real_beat2_textgrid(beat2_dir: Path) -> None:
    words, phones = read_words_phones(beat2_dir / "2_scott_0_1_1.TextGrid")
    assert len(words) == 220 and len(phones) == 684
    spoken = words.nonempty()
    assert spoken.labels()[:5] == ["the", "first", "thing", "i", "like"]
    assert spoken.segments[0].start == pytest.approx(1.42)
    assert words.segments[-1].end == pytest.approx(64.097375)
    labels = words.frame_labels(n_frames=60, rate_hz=30.0)
    assert labels[42] == "" and labels[43] == "the"
