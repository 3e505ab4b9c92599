"""The hook's client side: hand the call to the resident guard (server.py), or run it here.

    agentlog hook claude-code PreToolUse < payload.json
      -> <log_dir>/state/guard-2.sock answers?  yes: print its reply (~25 ms a call)
                                              no:  hook.run in this process (~200 ms),
                                                   then start the server for the next calls

The native client (hook-client/, `agentlog-hook`) does the same without an interpreter and
speaks the same protocol; when no server takes its call it runs this one with
AGENTLOG_HOOK_UNSERVED set (`start` or `run`), so the call runs here without asking again.

Only modules the interpreter has loaded already are imported (`_socket` is built in), so a
served call costs an interpreter start and one round trip. The socket sits in the state
folder of the log dir named by --log-dir, AGENT_WORK_LOG_DIR or the default; the server
loads the settings itself, with this call's working directory and environment, so an
agentlog.toml or .env that names another log dir is honoured too (that call is then
served by the server that listens where the cheap lookup points, or runs here).

Exactly once: the server offers to take a request (`A`) before it touches anything and
runs it only when this side confirms (`G`). No offer in time (no server, refused, busy,
declined) -> the call runs here; confirmed and then no reply -> the call fails open (no
output, or the agent's fail-open reply; exit 0) and is logged, never run twice.

The wire format is bytes, so any language speaks it (`pack`): a message is an 8-byte
big-endian size, then items, each a 4-byte big-endian size and its bytes.
    request: PROTOCOL, cwd, payload, argc, argv..., KEY=VALUE (the environment)...
    reply:   exit code, stdout, stderr
"""

from __future__ import annotations

import os
import sys

PROTOCOL = 2  # 1: marshal
SOCKET = f"guard-{PROTOCOL}.sock"  # a guard of an older protocol is never asked: it idles out
DEFAULT_LOG_DIR = ".cache/agent-work-logs"  # config.py's default for log_dir
CONNECT_TIMEOUT_S = 1.0
ACK_TIMEOUT_S = 3.0  # the server is busy with other calls (one at a time)
REPLY_TIMEOUT_S = 600.0  # the server keeps [guard] timeout_ms itself and always answers
MAX_SOCKET_PATH = 100  # sun_path holds 104-108 bytes
UNSERVED = "AGENTLOG_HOOK_UNSERVED"  # set by the native client: it asked already, run here


class NotServed(Exception):
    """The server did not take the call: run it in this process (`start`: none listens)."""

    def __init__(self, reason: str, start: bool = False):
        super().__init__(reason)
        self.start = start


def main(argv: list[str]) -> int:
    from . import hook

    unserved = os.environ.pop(UNSERVED, None)  # not for the hook's settings nor the server
    try:
        raw = sys.stdin.buffer.read(hook.MAX_PAYLOAD + 1)
        if len(raw) > hook.MAX_PAYLOAD:  # cut down in this process: the server takes no such size
            from io import BytesIO

            return hook.run(argv, BytesIO(hook.read_payload(sys.stdin.buffer, raw)), sys.stdout)
    except (OSError, ValueError, AttributeError):
        return hook.run(argv)  # fails open the way it always did
    path, start = socket_path(argv), unserved == "start"
    if path is not None and unserved is None:
        try:
            code, out, err = ask(path, argv, raw)
        except NotServed as exc:
            start = exc.start
        except BaseException as exc:  # noqa: BLE001 - acked but no answer: fail open, never twice
            hook.log_failure(os.path.dirname(os.path.dirname(path)), argv, exc)
            _write(sys.stdout, hook.fail_open(argv).encode())
            return 0
        else:
            _write(sys.stdout, out)
            _write(sys.stderr, err)
            return code
    from io import BytesIO

    code = hook.run(argv, BytesIO(raw), sys.stdout)
    if start and path is not None:
        spawn(path)
    return code


def _write(stream, data: bytes) -> None:
    if data:
        try:
            stream.flush()
            stream.buffer.write(data)
            stream.buffer.flush()
        except (OSError, ValueError, AttributeError):
            pass


def socket_path(argv: list[str]) -> str | None:
    """Where this call's server listens; None when no server may be used."""
    if os.environ.get("AGENTLOG_GUARD_RESIDENT", "1") == "0" or not hasattr(os, "fork"):
        return None
    log_dir = os.environ.get("AGENT_WORK_LOG_DIR") or DEFAULT_LOG_DIR
    for i, arg in enumerate(argv):  # the last --log-dir wins, as in hook._parse
        if arg == "--log-dir" and i + 1 < len(argv):
            log_dir = argv[i + 1]
        elif arg.startswith("--log-dir="):
            log_dir = arg.split("=", 1)[1]
    try:
        path = os.path.join(os.path.abspath(log_dir), "state", SOCKET)
    except OSError:  # the working directory is gone
        return None
    return path if len(os.fsencode(path)) <= MAX_SOCKET_PATH else None


def pack(items: list[bytes]) -> bytes:
    """One message of the wire format (see above)."""
    body = b"".join(len(item).to_bytes(4, "big") + item for item in items)
    return len(body).to_bytes(8, "big") + body


def unpack(body: bytes) -> list[bytes]:
    """A message's items (its body: what follows the size); ValueError when cut short."""
    items, at = [], 0
    while at < len(body):
        size = int.from_bytes(body[at : at + 4], "big")
        if at + 4 + size > len(body):
            raise ValueError(f"an item of {size} bytes at offset {at} runs past the message")
        items.append(body[at + 4 : at + 4 + size])
        at += 4 + size
    return items


def request(argv: list[str], raw: bytes) -> bytes:
    """This call as the server gets it: what hook.run needs to run it as in this process."""
    environ = [key + b"=" + value for key, value in os.environb.items()]
    argv_bytes = [os.fsencode(arg) for arg in argv]
    return pack([str(PROTOCOL).encode(), os.getcwdb(), raw, str(len(argv)).encode(), *argv_bytes, *environ])


def ask(path: str, argv: list[str], raw: bytes) -> tuple[int, bytes, bytes]:
    """One round trip; NotServed when the server never took the call."""
    import _socket

    try:
        if os.stat(path).st_uid != os.getuid():
            raise NotServed("the socket is not ours")  # our environment goes to no other user
    except OSError as exc:
        raise NotServed(str(exc), start=True) from None
    try:
        message = request(argv, raw)
    except OSError as exc:  # the working directory is gone
        raise NotServed(str(exc)) from None
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        try:
            sock.settimeout(CONNECT_TIMEOUT_S)
            sock.connect(path)
        except OSError as exc:  # refused: a stale socket of a server that died
            raise NotServed(str(exc), start=not isinstance(exc, TimeoutError)) from None
        try:
            sock.sendall(message)
            sock.settimeout(ACK_TIMEOUT_S)
            ack = sock.recv(1)
            if ack != b"A":
                raise NotServed(f"declined: {ack!r}")
            sock.sendall(b"G")  # from here the call is the server's: it runs only on this byte
        except OSError as exc:
            raise NotServed(str(exc)) from None
        sock.settimeout(REPLY_TIMEOUT_S)
        code, out, err = unpack(read_message(sock))
        return int(code), out, err
    finally:
        sock.close()


def read_message(sock) -> bytes:
    """The body of one message from `sock`; ConnectionError when it ends first."""
    head = recv_exactly(sock, 8)
    return recv_exactly(sock, int.from_bytes(head, "big"))


def recv_exactly(sock, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise ConnectionError(f"the other side went away {left} bytes short")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def spawn(path: str) -> None:
    """Start the server detached (double fork, own session, no stdio); never raises."""
    if not os.path.isdir(os.path.dirname(path)):
        return  # the log dir was not created (unwritable, or logging is off)
    try:
        pid = os.fork()
    except OSError:
        return
    if pid:
        try:
            os.waitpid(pid, 0)
        except OSError:
            pass
        return
    try:  # the child: never returns
        os.setsid()
        if os.fork() == 0:
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            os.closerange(3, 65536)  # the agent's pipes must not wait for the server
            os.chdir("/")
            os.execv(sys.executable, [sys.executable, "-P", "-m", "agentlog.guard.server", path])
    except BaseException:  # noqa: BLE001, S110 - the child only ever exits
        pass
    finally:
        os._exit(0)
