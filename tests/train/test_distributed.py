"""``distributed_run``: the process group is always torn down, on success and on error.

Two real Gloo ranks (subprocesses with torchrun's variables) train a DDP model inside the
context manager; after it, no group is left for interpreter shutdown to destroy (the source of
the "terminate called without an active exception" aborts of issue 14).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

WORKER = textwrap.dedent(
    """
    import sys, torch, torch.distributed as dist
    from gesturekit.train.distributed import distributed_run, wrap_ddp

    def body(info, fail):
        model = wrap_ddp(torch.nn.Linear(4, 2), info)
        model(torch.randn(3, 4)).sum().backward()  # one DDP all-reduce
        if fail:  # e.g. a diverged loss: every rank raises
            raise ValueError("training fails")

    fail = sys.argv[1] == "fail"
    try:
        with distributed_run("cpu") as info:
            assert dist.is_initialized() and info.world_size == 2
            body(info, fail)
    except ValueError:
        print("raised", flush=True)
    print("initialized after:", dist.is_initialized(), flush=True)
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _two_ranks(tmp_path: Path, mode: str) -> list[subprocess.CompletedProcess]:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    port = str(_free_port())
    procs = []
    for rank in (0, 1):
        env = dict(os.environ, PYTHONPATH=str(REPO / "src"), RANK=str(rank), LOCAL_RANK=str(rank),
                   WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=port, OMP_NUM_THREADS="1")  # fmt: skip
        procs.append(subprocess.Popen([sys.executable, str(script), mode], env=env, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE))  # fmt: skip
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=120)
        out.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    return out


@pytest.mark.parametrize("mode", ["ok", "fail"])
def test_distributed_run_tears_the_group_down_on_success_and_on_error(tmp_path: Path, mode: str) -> None:
    results = _two_ranks(tmp_path, mode)
    for rank, r in enumerate(results):
        assert r.returncode == 0, (rank, r.stderr[-2000:])
        assert "initialized after: False" in r.stdout, (rank, r.stdout, r.stderr[-2000:])
        assert "terminate called" not in r.stderr
    assert all(("raised" in r.stdout) == (mode == "fail") for r in results)


def test_distributed_run_is_a_no_op_in_one_process() -> None:
    import torch.distributed as dist

    from gesturekit.train.distributed import distributed_run

    env = {k: os.environ.pop(k) for k in ("WORLD_SIZE", "RANK") if k in os.environ}
    try:
        with distributed_run("cpu") as info:
            assert not info.enabled and info.is_main
            assert not (dist.is_available() and dist.is_initialized())
    finally:
        os.environ.update(env)
