"""Run `agentlog ARGS` and SIGKILL it at its Nth write: `python killpoint.py N TORN ARGS...`.

Every `os.write` (log lines) and `os.replace` (the import state) counts; at the Nth the
process kills itself, after writing half of the bytes when TORN is 1 (a write cut short,
as a kill during a large write can leave it). N = 0 never kills; the number of writes is
printed to stderr at exit (`writes=K`), so a test can pick a point in the run. Batches of
two files make a run open and close several write-ahead intents.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys

kill_at, torn, args = int(sys.argv[1]), sys.argv[2] == "1", sys.argv[3:]
count = 0
real_write, real_replace = os.write, os.replace


def _due() -> bool:
    global count
    count += 1
    return count == kill_at


def write(fd: int, data: bytes) -> int:
    if _due():
        if torn and len(data) > 1:
            real_write(fd, bytes(data[: len(data) // 2]))
        os.kill(os.getpid(), signal.SIGKILL)
    return real_write(fd, data)


def replace(src, dst) -> None:
    if _due():
        os.kill(os.getpid(), signal.SIGKILL)
    real_replace(src, dst)


os.write, os.replace = write, replace
atexit.register(lambda: print(f"writes={count}", file=sys.stderr))

from agentlog.capture import incremental  # noqa: E402
from agentlog.cli import main  # noqa: E402

incremental.BATCH_FILES = 2
sys.argv = ["agentlog", *args]
main()
