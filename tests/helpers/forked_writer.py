"""Forked writers for tests/test_crash.py: run a list of operations, report each acknowledged one
through a pipe, and die by SIGKILL at a delay or at an injected call.

The child is forked from the test process (gyeol already imported), so a kill costs a fork,
not an interpreter start. Protocol on the pipe, one line each: "r <calls>" once the writer is
open, "a <i>" after operation i returned, "d <calls>" after a complete run and close, "e <traceback>"
if anything raised. <calls> counts the KILL_POINTS calls made so far.
"""

from __future__ import annotations

import os
import select
import signal
import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

import gyeol

ROUND_TIMEOUT = 30.0  # a child that neither finishes nor dies in this time is a hang: fail


# the calls that change what a reopen finds (fsync changes nothing a SIGKILL can see: test_fsync.py)
KILL_POINTS = ("replace", "unlink", "rename", "rmdir", "mkdir")


def no_fsync(fd: int) -> None:
    """SIGKILL keeps the page cache, so fsync matters only for power loss (test_fsync.py checks it)."""


def _inject_kill(at: int, after: bool) -> dict[str, int]:
    """Make the at-th call of any KILL_POINTS function SIGKILL this process (before or after it runs)."""
    calls = {"n": 0}
    for fn_name in KILL_POINTS:
        real = getattr(os, fn_name)

        def wrapped(*args: Any, _real=real, **kwargs: Any) -> Any:
            calls["n"] += 1
            if calls["n"] == at and not after:
                os.kill(os.getpid(), signal.SIGKILL)
            out = _real(*args, **kwargs)
            if calls["n"] == at and after:
                os.kill(os.getpid(), signal.SIGKILL)
            return out

        setattr(os, fn_name, wrapped)
    return calls


def _child(path: Path, ops: list, out: int, kill_at: int, kill_after: bool,
           make_writer: Callable[[Path], Any]) -> None:
    """The forked writer: never returns (os._exit), so pytest's own machinery never runs here."""
    status = 0
    try:
        # no tqdm bar here: tqdm's write lock is a semaphore shared with the parent across the fork, and a
        # child killed while holding it left the parent's next bar waiting forever (a hung test run)
        gyeol.set_progress(False)
        calls = _inject_kill(kill_at, kill_after)  # kill_at 0: only count the calls
        w = make_writer(path)
        os.write(out, f"r {calls['n']}\n".encode())
        for i, op in enumerate(ops):
            op.run(w)
            os.write(out, f"a {i}\n".encode())
        w.db.close()
        os.write(out, f"d {calls['n']}\n".encode())
    except BaseException:
        os.write(out, ("e " + traceback.format_exc().replace("\n", "\\n") + "\n").encode())
        status = 3
    os._exit(status)


@dataclass
class Outcome:
    acks: int  # operations acknowledged
    killed: bool
    open_s: float  # fork to ready
    run_s: float  # ready to done (complete rounds only)
    calls_at_ready: int  # kill-point calls made by the open (connect)
    calls: int  # kill-point calls of a complete round


def run_round(path: Path, ops: list, make_writer: Callable[[Path], Any], *, delay: float | None, kill_at: int,
              kill_after: bool) -> Outcome:
    """Fork a writer (make_writer(path)) running ops; kill it delay seconds after the fork, or let it run
    (or kill itself at kill-point call kill_at). Each op has run(writer); the writer has .db."""
    read_end, write_end = os.pipe()
    t0 = time.monotonic()
    with warnings.catch_warnings():  # Python 3.12+ warns on forking a threaded process; the child only
        warnings.simplefilter("ignore", DeprecationWarning)  # writes files and exits through os._exit
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read_end)
        _child(path, ops, write_end, kill_at, kill_after, make_writer)
    os.close(write_end)
    buf, ready_at, done, error = b"", None, None, None
    deadline = t0 + ROUND_TIMEOUT
    kill_time = None if delay is None else t0 + delay
    try:
        while True:
            now = time.monotonic()
            if kill_time is not None and now >= kill_time:
                os.kill(pid, signal.SIGKILL)
                kill_time = None
            wait = deadline - now if kill_time is None else min(deadline, kill_time) - now
            readable, _, _ = select.select([read_end], [], [], max(0.0, wait))
            if not readable:
                if time.monotonic() >= deadline:
                    os.kill(pid, signal.SIGKILL)
                    pytest.fail(f"the writer neither finished nor died in {ROUND_TIMEOUT} s")
                continue
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            buf += chunk
            if ready_at is None and buf.startswith(b"r "):
                ready_at = time.monotonic()
    finally:
        os.close(read_end)
        _, status = os.waitpid(pid, 0)
    acks, calls_at_ready = 0, 0
    for line in buf.decode().splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "a":
            assert int(rest) == acks, f"acknowledgements out of order: {buf!r}"
            acks += 1
        elif kind == "r":
            calls_at_ready = int(rest)
        elif kind == "d":
            done = (time.monotonic(), int(rest))
        elif kind == "e":
            error = rest.replace("\\n", "\n")
    if error is not None:
        pytest.fail(f"the writer raised before it was killed:\n{error}")
    by_kill = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert by_kill or (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0), f"the writer ended with status {status}"
    killed = by_kill and done is None  # a kill that lands after "done" found nothing left to interrupt
    open_s = (ready_at or time.monotonic()) - t0
    run_s = done[0] - ready_at if done and ready_at else 0.0
    return Outcome(acks, killed, open_s, run_s, calls_at_ready, done[1] if done else 0)
