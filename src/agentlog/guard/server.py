"""The resident guard: answers `agentlog hook` calls with its imports already done.

    python -m agentlog.guard.server <log_dir>/state/guard-2.sock   # client.py starts it

One process per socket (a flock on state/guard-2.lock), one call at a time on the main
thread, each run by hook.run exactly as in the hook's own process: this call's working
directory and environment, its settings loaded afresh (what is built from them, the
recorder and the detectors, is kept while they are unchanged: kept.py), the same state files and
per-session lock, the same time budget (SIGALRM), the same output, and stderr returned to
the client. It exits after AGENTLOG_GUARD_IDLE_S seconds without a call (default 600),
on SIGTERM, when its socket is removed or replaced, or when agentlog's source changed
(it declines that call, which then runs in the client's process with the new code). The wire
format (length-prefixed bytes, which the native client speaks too) is client.py's.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import sys
import time

from . import client, hook

LOCK = f"guard-{client.PROTOCOL}.lock"  # named for the protocol, as the socket: a guard of
PID = f"guard-{client.PROTOCOL}.pid"  # an older one, still running, neither blocks nor removes them
DEFAULT_IDLE_S = 600.0
IO_TIMEOUT_S = 5.0
TICK_S = 2.0


def main(argv: list[str]) -> int:
    path = argv[0]
    state = os.path.dirname(path)
    lock = _lock(os.path.join(state, LOCK))
    if lock is None:
        return 0  # another server owns this socket
    _warm()
    stale()  # the sources as loaded
    signal.signal(signal.SIGTERM, _stop)
    try:
        os.unlink(path)  # a dead server's socket
    except FileNotFoundError:
        pass
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        server.bind(path)
    finally:
        os.umask(old_umask)
    server.listen(64)
    ino = os.stat(path).st_ino
    _write_pid(os.path.join(state, PID))
    try:
        serve(server, path, ino, float(os.environ.get("AGENTLOG_GUARD_IDLE_S") or DEFAULT_IDLE_S))
    except SystemExit:
        pass
    finally:
        server.close()
        if _ours(path, ino):
            os.unlink(path)
            _remove(os.path.join(state, PID))
    return 0


def serve(server: socket.socket, path: str, ino: int, idle_s: float) -> None:
    last = time.monotonic()
    while True:
        left = idle_s - (time.monotonic() - last)
        if left <= 0 or not _ours(path, ino):
            return
        server.settimeout(min(left, TICK_S))
        try:
            conn, _ = server.accept()
        except (TimeoutError, InterruptedError):
            continue
        with conn:
            try:
                answer(conn)
            except Exception:  # noqa: BLE001, S110 - one broken connection never stops the server
                pass
        last = time.monotonic()


def answer(conn: socket.socket) -> None:
    """One call: read it, offer to take it, run it on the client's confirmation, reply."""
    conn.settimeout(IO_TIMEOUT_S)
    size = int.from_bytes(client.recv_exactly(conn, 8), "big")
    if size > hook.MAX_PAYLOAD + 16 * 1024 * 1024:
        return
    call = _call(client.recv_exactly(conn, size))
    if call is None:
        conn.sendall(b"F")  # another protocol: the client runs it itself
        return
    argv, cwd, environ, raw = call
    try:
        os.chdir(cwd)
    except OSError:
        conn.sendall(b"F")  # the client runs it in its own directory
        return
    if stale():
        conn.sendall(b"F")  # agentlog was upgraded or edited: the call runs the new code
        raise SystemExit(0)
    os.environ.clear()
    os.environ.update(environ)
    conn.sendall(b"A")
    if conn.recv(1) != b"G":
        return  # the client gave up waiting and runs the call itself
    out, err = io.StringIO(), io.StringIO()
    hook._started = time.monotonic()  # the time budget counts from this call's start
    saved = sys.stderr
    sys.stderr = err
    try:
        code = hook.run(argv, io.BytesIO(raw), out)
    finally:
        sys.stderr = saved
    reply = [str(code).encode(), *(os.fsencode(text.getvalue()) for text in (out, err))]
    conn.sendall(client.pack(reply))


def _call(body: bytes) -> tuple[list[str], bytes, dict[str, str], bytes] | None:
    """A request's argv, working directory, environment and payload; None when it is not
    one of this protocol (an older or newer client)."""
    try:
        items = client.unpack(body)
        if items[0] != str(client.PROTOCOL).encode():
            return None
        cwd, raw, argc = items[1], items[2], int(items[3])
        argv, entries = items[4 : 4 + argc], items[4 + argc :]
    except (ValueError, IndexError):
        return None
    environ = dict(os.fsdecode(entry).partition("=")[::2] for entry in entries)
    return [os.fsdecode(arg) for arg in argv], cwd, environ, raw


_seen: dict[str, int] = {}


def stale() -> bool:
    """Whether a loaded agentlog module's source changed since this process first saw it."""
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None) if name.startswith("agentlog") else None
        if path:
            try:
                mtime = os.stat(path).st_mtime_ns
            except OSError:
                return True
            if _seen.setdefault(path, mtime) != mtime:
                return True
    return False


def _lock(path: str) -> int | None:
    import fcntl

    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return None
    return fd  # held (open) for the life of the process


def _warm() -> None:
    """Import what a call needs, once, before the socket exists."""
    from importlib import import_module

    for name in (
        "agentlog.config",
        "agentlog.events",
        "agentlog.recorder",
        "agentlog.agents",
        "agentlog.guard.config",
        "agentlog.guard.payloads",
        "agentlog.guard.state",
        "agentlog.guard.feed",
        "agentlog.guard.policies",
        "agentlog.capture.pricing",
        "agentlog.store.writer",
        "agentlog.watch.engine",
        "msgspec",
        "traceback",
    ):
        try:
            import_module(name)
        except Exception:  # noqa: BLE001, S110 - a call imports what it needs anyway
            pass
    try:
        from .. import agents, intel

        agents.load()  # every agent's module, ours and the plugins'
        intel.prepare()  # an error's first classification: ~20 ms of regexes
    except Exception:  # noqa: BLE001, S110 - a call imports what it needs anyway
        pass


def _ours(path: str, ino: int) -> bool:
    try:
        return os.stat(path).st_ino == ino
    except OSError:
        return False


def _write_pid(path: str) -> None:
    from ..store.atomic import replace_file

    replace_file(path, f"{os.getpid()}\n".encode(), durable=False)


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
