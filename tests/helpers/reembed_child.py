"""A writer process that re-embeds a collection and is killed (SIGKILL) at a chosen point, for tests/test_reembed.py.

    python reembed_child.py DB_PATH BATCH_SIZE POINT [SLEEP]

POINT: "-" (run to the end, or until the parent kills it), or FUNCTION:CALL:WHEN, e.g.
"write_progress:2:after": the process kills itself with SIGKILL right after the second call of
gyeol.engine.reembed's write_progress returns ("before": just before that call starts).
SLEEP: seconds the new model sleeps per batch (slows the run for kills at random times).
Prints "ready" just before reembed starts and "done" when it returns.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from reembed_models import NewModel, OldModel


def _kill_at(module, name: str, call: int, when: str) -> None:
    original = getattr(module, name)
    calls = [0]

    def wrapper(*args, **kwargs):
        calls[0] += 1
        if calls[0] == call and when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        out = original(*args, **kwargs)
        if calls[0] == call and when == "after":
            os.kill(os.getpid(), signal.SIGKILL)
        return out

    setattr(module, name, wrapper)


def main(path: str, batch_size: int, point: str, sleep: float) -> None:
    import gyeol
    import gyeol.engine.reembed as reembed_module

    if point != "-":
        name, call, when = point.split(":")
        _kill_at(reembed_module, name, int(call), when)
    new = NewModel(sleep=sleep)
    with gyeol.connect(path) as db:
        col = db.get_collection("docs", embedder=OldModel())
        print("ready", flush=True)
        col.reembed(new, batch_size=batch_size, progress=False)
        print("done", flush=True)
    time.sleep(0)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]) if len(sys.argv) > 4 else 0.0)
