"""Run `agentlog ARGS` and SIGKILL it at its Nth write: `python killpoint.py N TORN ARGS...`.

Every write of log lines to a file (the native appender's, counted through a stand-in)
and every `os.replace` (the import state) counts; at the Nth the process kills itself,
after writing half of the bytes when TORN is 1 (a write cut short, as a kill during a
large write can leave it). N = 0 never kills; the number of writes is
printed to stderr at exit (`writes=K`), so a test can pick a point in the run. Batches of
two files make a run open and close several write-ahead intents.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
from types import SimpleNamespace

kill_at, torn, args = int(sys.argv[1]), sys.argv[2] == "1", sys.argv[3:]
count = 0
real_replace = os.replace


def _due() -> bool:
    global count
    count += 1
    return count == kill_at


class CountingAppender:
    """Stands in for the native appender (the recorder then writes through it from
    Python): each file's write counts, and the Nth kills the process."""

    def __init__(self, root, **options) -> None:
        self.root, self.real = root, real_appender(root, **options)

    def _count(self, relpath: str, data: bytes) -> None:
        if _due():
            if torn and len(data) > 1:
                path = os.path.join(self.root, relpath)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "ab") as file:
                    file.write(data[: len(data) // 2])
            os.kill(os.getpid(), signal.SIGKILL)

    def append_many(self, relpaths, line: bytes) -> None:
        for relpath in relpaths:
            self._count(relpath, line)
            self.real.append_many((relpath,), line)

    def write_batch(self, batch) -> None:
        for relpath, lines in batch.items():
            self._count(relpath, b"".join(lines))
            self.real.write_batch({relpath: lines})

    def flush(self) -> None:
        self.real.flush()

    def close(self) -> None:
        self.real.close()


def replace(src, dst) -> None:
    if _due():
        os.kill(os.getpid(), signal.SIGKILL)
    real_replace(src, dst)


os.replace = replace
atexit.register(lambda: print(f"writes={count}", file=sys.stderr))

from agentlog.capture import incremental  # noqa: E402
from agentlog.store import writer  # noqa: E402

real_appender = writer._core.Appender
writer._core = SimpleNamespace(Appender=CountingAppender)
from agentlog.cli import main  # noqa: E402

incremental.BATCH_FILES = 2
sys.argv = ["agentlog", *args]
main()
