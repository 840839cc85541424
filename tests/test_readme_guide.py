"""The README stays a user's guide: at most 400 lines, and every relative link in it (and in docs/)
points at a file of the repository (and at a heading of it, for ``file.md#anchor``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import REPO

MAX_README_LINES = 400
DOCS = ["README.md", *sorted(p.relative_to(REPO).as_posix() for p in REPO.glob("docs/*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _anchors(md: Path) -> set[str]:
    """GitHub's heading ids: lower case, punctuation dropped, spaces as hyphens."""
    heads = re.findall(r"^#+\s+(.*?)\s*$", md.read_text(), re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in heads}


def _relative_links(md: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", md.read_text(), flags=re.S)  # links inside code are not links
    text = re.sub(r"`[^`\n]*`", "", text)
    return [t for t in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", t)]


def test_readme_is_at_most_400_lines() -> None:
    n = len((REPO / "README.md").read_text().splitlines())
    assert n <= MAX_README_LINES, f"README.md has {n} lines; move detail to docs/"


@pytest.mark.parametrize("doc", DOCS)
def test_every_relative_link_resolves(doc: str) -> None:
    md = REPO / doc
    broken = []
    for target in _relative_links(md):
        path, _, anchor = target.partition("#")
        dest = (md.parent / path).resolve() if path else md
        missing = not dest.is_file() or not dest.is_relative_to(REPO)
        if missing or (anchor and dest.suffix == ".md" and anchor not in _anchors(dest)):
            broken.append(target)
    assert not broken, f"{doc}: links to nothing: {broken}"


def test_the_link_check_catches_a_broken_link(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Title\n\n## Some part\n")
    md = tmp_path / "b.md"
    md.write_text("[ok](a.md#some-part) [gone](missing.md) [web](https://x.org) `[code](no.md)`\n")
    assert _relative_links(md) == ["a.md#some-part", "missing.md"]
    assert "some-part" in _anchors(tmp_path / "a.md")
