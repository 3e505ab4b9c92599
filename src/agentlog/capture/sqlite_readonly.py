"""Open an agent's SQLite store for reading without leaving a trace beside it.

Even a read-only connection to a database in WAL mode creates `-wal` and `-shm` files
next to it (and may checkpoint the user's WAL). A database with no WAL beside it is opened
`immutable=1`: nothing is created. One whose WAL holds pages not yet checkpointed is
copied (with its WAL) to a private folder first, so those pages are read too and the
user's files are never touched.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from urllib.parse import quote


@contextmanager
def open_readonly(path: Path) -> Iterator[sqlite3.Connection]:
    path = Path(path)
    wal = path.with_name(path.name + "-wal")
    with tempfile.TemporaryDirectory(prefix="agentlog-sqlite-") as scratch:
        if wal.exists() and wal.stat().st_size:
            copy = Path(scratch, path.name)
            shutil.copyfile(path, copy)
            shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
            uri = f"file:{quote(str(copy))}"  # our own copy: SQLite may write its -shm beside it
        else:
            uri = f"file:{quote(str(path.resolve()))}?mode=ro&immutable=1"
        connection = sqlite3.connect(uri, uri=True)
        try:
            yield connection
        finally:
            connection.close()
