"""OpenCode: the SQLite store `~/.local/share/opencode/opencode.db` (current; the same path on
macOS, OpenCode follows XDG there too) and the JSON files it wrote before the database,
`storage/session/<project>/<session>.json` with `storage/message/<session>/*.json` and
`storage/part/<message>/*.json`.

One database holds every session: each session is its own attempt (its id, `ses_...`). A
message's `data` and a part's `data` are JSON. An assistant message is one model step:
its parts (`text`, `reasoning`, `tool` with `state.status/input/output`, bookkeeping
`step-start`/`step-finish`/`patch`...) become events once the message is complete
(`time.completed`, `finish` or `error`), or once its session is left alone for the open
window; the import remembers per session the last message it took, so an import adds only
messages written since. Tokens and cost are the message's own (`tokens {input, output,
reasoning, cache {read, write}}`, already disjoint; `cost` in USD, 0 on a subscription).

The database is the user's, in WAL mode: it is never written, and opening it must not
create `-wal`/`-shm` files beside it. While OpenCode runs those files exist and hold the
newest pages: the database is opened read-only (`mode=ro`) through them. Otherwise every
page is in the main file and it is opened `immutable=1`, which creates nothing.
"""

from __future__ import annotations

import copy
import json
import sqlite3
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

from ..events import now_iso
from ..capture.importers.base import Context, Importer, Mapper, _guarded, clip, safe_feed

OPENCODE = "OPENCODE"
_QUIET_PARTS = frozenset(
    {"step-start", "step-finish", "patch", "snapshot", "agent", "file", "compaction", "subtask", "retry"}
)
_DB_SUFFIX = ".db"


def open_readonly(db: Path) -> sqlite3.Connection:
    """The database, read-only, creating no file beside it (see the module's docstring)."""
    live = all(db.with_name(db.name + suffix).exists() for suffix in ("-wal", "-shm"))
    mode = "mode=ro" if live else "immutable=1"
    return sqlite3.connect(f"file:{quote(str(db.resolve()))}?{mode}", uri=True)


def _ms_iso(value: Any) -> str | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return now_iso(value / 1000)
    return None


def ready(message: dict[str, Any]) -> bool:
    """Is this message written to its end (an assistant message is filled in as it streams)?"""
    if message.get("role") != "assistant":
        return True
    time = message.get("time") if isinstance(message.get("time"), dict) else {}
    return bool(time.get("completed") or message.get("finish") or message.get("error"))


class OpenCodeMapper(Mapper):
    """One message with its parts (`{"message": data, "parts": [data...]}`) -> events."""

    executor = OPENCODE

    def feed(self, record: dict[str, Any], where: int | str) -> list[dict[str, Any]]:
        message, parts = record.get("message"), record.get("parts") or []
        if not isinstance(message, dict):
            self.ctx.skip("malformed_record")
            return []
        time = message.get("time") if isinstance(message.get("time"), dict) else {}
        ts = _ms_iso(time.get("created"))
        self.seen_time(ts)
        self.seen_time(_ms_iso(time.get("completed")))
        role = message.get("role")
        if role == "user":
            return self._user(message, parts, ts, where)
        if role == "assistant":
            return self._assistant(message, parts, ts, where)
        self.ctx.skip(f"unknown_role:{role}")
        return []

    def _user(self, message: dict[str, Any], parts: list[Any], ts: str | None, mid: Any) -> list[dict[str, Any]]:
        text = "\n".join(
            p["text"]
            for p in parts
            if isinstance(p, dict)
            and p.get("type") == "text"
            and isinstance(p.get("text"), str)
            and not p.get("synthetic")
        )
        self.state.pop("aborted", None)
        if not self.state.get("started") and self.lifecycle:
            return self.ensure_started(text or None, ts)
        return [self.event("followup_sent", {"message": text, "reason": "user"}, ts, key=mid)]

    def _assistant(self, message: dict[str, Any], parts: list[Any], ts: str | None, mid: Any) -> list[dict[str, Any]]:
        nested = message.get("model") if isinstance(message.get("model"), dict) else {}
        model = message.get("modelID") or nested.get("modelID")  # flat, or {providerID, modelID}
        if isinstance(model, str) and model:
            self.state["model"] = model
        events = self.ensure_started(None, ts)
        for index, part in enumerate(parts):
            events.extend(self._part(part, ts, (mid, index)))
        error = message.get("error")
        if isinstance(error, dict):
            data = error.get("data") if isinstance(error.get("data"), dict) else {}
            if error.get("name") == "MessageAbortedError":
                self.state["aborted"] = True
            else:
                text = clip(str(data.get("message") or error.get("name") or "OpenCode error"), 1000)
                events.append(
                    self.event(
                        "error", {"error_message": text, "error_category": error.get("name")}, ts, key=(mid, "error")
                    )
                )
        tokens = message.get("tokens")
        if isinstance(tokens, dict):
            cache = tokens.get("cache") if isinstance(tokens.get("cache"), dict) else {}
            data = {
                "input_tokens": _count(tokens.get("input")),
                "output_tokens": _count(tokens.get("output")),
                "reasoning_tokens": _count(tokens.get("reasoning")),
                "cache_read_tokens": _count(cache.get("read")),
                "cache_creation_tokens": _count(cache.get("write")),
            }
            cost = message.get("cost")
            if any(data.values()):
                data.update(
                    model=self.state.get("model"),
                    message_id=str(mid),
                    provider=message.get("providerID") or nested.get("providerID"),
                    cost_usd=cost if isinstance(cost, (int, float)) and not isinstance(cost, bool) else None,
                )
                events.append(self.usage(data, ts, key=("usage", mid)))
        if message.get("finish") == "stop":
            events.append(self.turn_complete(ts, mid))
        return events

    def _part(self, part: Any, ts: str | None, key: Any) -> list[dict[str, Any]]:
        if not isinstance(part, dict):
            self.ctx.skip("malformed_block")
            return []
        kind = part.get("type")
        if kind == "text" and part.get("text") and not part.get("synthetic"):
            return [self.event("agent_output", {"output": part["text"], "stream_type": "assistant"}, ts, key=key)]
        if kind == "reasoning" and part.get("text"):
            return [self.event("agent_thinking", {"thinking": part["text"]}, ts, key=key)]
        if kind == "tool":
            return self._tool(part, ts, key)
        if kind not in _QUIET_PARTS and kind not in ("text", "reasoning"):
            self.ctx.skip(f"unknown_part:{kind}")
        return []

    def _tool(self, part: dict[str, Any], ts: str | None, key: Any) -> list[dict[str, Any]]:
        state = part.get("state") if isinstance(part.get("state"), dict) else {}
        name, call_id = part.get("tool") or "unknown", part.get("callID")
        times = state.get("time") if isinstance(state.get("time"), dict) else {}
        start, end = _ms_iso(times.get("start")) or ts, _ms_iso(times.get("end")) or ts
        events = [
            self.event(
                "tool_call",
                {"tool_name": name, "tool_params": state.get("input"), "call_id": call_id},
                start,
                key=(key, "call"),
            )
        ]
        status = state.get("status")
        if status not in ("completed", "error"):
            return events  # the step ended with the call still pending or running: no result
        failed = status == "error"
        text = state.get("error") if failed else state.get("output")
        text = text if isinstance(text, str) else json.dumps(text)
        return events + self.tool_outcome(name, call_id, text, failed, end, (key, "result"), error_key=(key, "error"))

    def end_status(self) -> str:
        return "interrupted" if self.state.get("aborted") else super().end_status()


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


class OpenCodeImporter(Importer):
    name = "opencode"
    executor = OPENCODE
    default_path = "~/.local/share/opencode"
    pattern = "*"
    append_only = False  # a database, or JSON files rewritten in place
    cost = "transcript"

    def files(self, root: Path, **options: Any) -> list[Path]:
        """`opencode*.db` files, and the legacy session files (`storage/session/<project>/*.json`).
        OpenCode's own folder is looked into only there: its `snapshot/` git stores can hold
        hundreds of thousands of files that are none of these."""
        if root.is_file():
            return [root]
        own = [*root.glob("opencode*.db"), *root.glob("storage/session/*/*.json")]
        if own:
            top, outside = root.resolve(), options.get("outside")
            inside = [p for p in own if options.get("follow_symlinks") or p.resolve().is_relative_to(top)]
            if outside is not None:
                outside.extend(p for p in own if p not in inside)  # counted, as the walk counts them
            return sorted(p for p in inside if p.is_file())
        return [
            p
            for p in super().files(root, **options)
            if (p.suffix == _DB_SUFFIX and p.name.startswith("opencode"))
            or (p.suffix == ".json" and p.parent.parent.name == "session" and p.parent.parent.parent.name == "storage")
        ]

    def attempt_id(self, path: Path) -> str:
        return Path(path).stem  # a legacy session file is named by its session id

    def attempt_ids(self, path: Path) -> list[str]:
        if Path(path).suffix != _DB_SUFFIX:
            return [self.attempt_id(path)]
        try:
            with _closing(open_readonly(Path(path))) as db:
                return [row[0] for row in db.execute("SELECT id FROM session")]
        except sqlite3.Error:
            return []

    def mapper(self, path: Path, ctx: Context, state: dict[str, Any] | None) -> Mapper:
        return OpenCodeMapper(self.attempt_id(path), ctx, state)

    def read(self, path: Path, entry: dict[str, Any], ctx: Context) -> Iterator[dict[str, Any]]:
        if path.suffix == _DB_SUFFIX:
            yield from self._read_db(path, entry, ctx)
        else:
            yield from self._read_legacy(path, entry, ctx)

    # -- the database -------------------------------------------------------------------

    def _read_db(self, path: Path, entry: dict[str, Any], ctx: Context) -> Iterator[dict[str, Any]]:
        version = _version(path)
        sessions = copy.deepcopy(entry.get("sessions") or {})  # `entry` changes only once the read is over
        if entry.get("version") == version and all(s.get("ended") for s in sessions.values()):
            return
        try:
            with _closing(open_readonly(path)) as db:
                rows = db.execute(
                    "SELECT id, parent_id, directory, title, version, time_updated FROM session "
                    "ORDER BY time_created, id"
                ).fetchall()
                for sid, parent, directory, title, agent_version, updated in rows:
                    head = {
                        "parent_attempt_id": parent,
                        "working_dir": directory,
                        "title": title,
                        "agent_version": agent_version,
                    }
                    messages = _db_messages(db, sid, (sessions.get(sid) or {}).get("after"))
                    # a session whole or not at all: a database error half way leaves no event of it
                    yield from list(self._session(sid, head, updated, messages, sessions, ctx))
        except sqlite3.Error as exc:
            ctx.skip_file(f"unreadable_database:{type(exc).__name__}")
            entry.update(sessions=sessions)  # the sessions read before the error are done
            return
        entry.update(sessions=sessions, version=version)

    def _session(
        self,
        sid: str,
        head: dict[str, Any],
        updated: Any,
        messages: Iterator[tuple[Any, dict, list]],
        sessions: dict[str, Any],
        ctx: Context,
    ) -> Iterator[dict[str, Any]]:
        """The new messages of one session as events; `sessions[sid]` says how far it was read."""
        known = sessions.get(sid) or {}
        if known.get("ended") and known.get("updated") == updated:
            return
        complete = isinstance(updated, (int, float)) and ctx.now - updated / 1000 >= ctx.open_window_s
        mapper = OpenCodeMapper(sid, ctx, copy.deepcopy(known.get("mapper")))
        mapper.state.setdefault("session_id", sid)
        mapper.state["start_data"] = {k: v for k, v in head.items() if isinstance(v, str) and v}
        if known.get("ended"):
            mapper.reopen()
        after = known.get("after")
        for cursor, message, parts in messages:
            if not complete and not ready(message):
                break  # still being written: taken once it is complete
            yield from safe_feed(mapper, {"message": message, "parts": parts}, str(cursor[1]))
            after = cursor
        if not mapper.state.get("last_ts"):
            return  # no message yet
        if complete:
            yield from _guarded(ctx, mapper.finish)
        else:
            ctx.stats.open_sessions += 1
        sessions[sid] = {"after": after, "updated": updated, "ended": complete, "mapper": mapper.state}

    # -- the JSON files of older versions ---------------------------------------------------

    def _read_legacy(self, path: Path, entry: dict[str, Any], ctx: Context) -> Iterator[dict[str, Any]]:
        try:
            session = json.loads(path.read_bytes())
        except (OSError, ValueError):
            ctx.skip_file("not_json")
            return
        if not isinstance(session, dict) or not isinstance(session.get("id"), str):
            ctx.skip_file("not_a_session")
            return
        sid = session["id"]
        storage = path.parent.parent.parent
        if _in_database(storage.parent, sid):
            ctx.skip_file("in_database")  # migrated: the database's copy is the one read
            return
        time = session.get("time") if isinstance(session.get("time"), dict) else {}
        updated = max([time.get("updated") or 0, *(_mtime_ms(p) for p in (storage / "message" / sid).glob("*.json"))])
        head = {
            "parent_attempt_id": session.get("parentID"),
            "working_dir": session.get("directory"),
            "title": session.get("title"),
            "agent_version": session.get("version"),
        }
        sessions = copy.deepcopy(entry.get("sessions") or {})
        messages = _legacy_messages(storage, sid, (sessions.get(sid) or {}).get("after"))
        yield from self._session(sid, head, updated, messages, sessions, ctx)
        entry.update(sessions=sessions)


class _closing:
    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        return self.db

    def __exit__(self, *exc: Any) -> None:
        self.db.close()


def _version(path: Path) -> list[int]:
    marks = []
    for file in (path, path.with_name(path.name + "-wal")):
        try:
            stat = file.stat()
            marks += [stat.st_size, stat.st_mtime_ns]
        except FileNotFoundError:
            marks += [0, 0]
    return marks


def _json(text: Any) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None


def _db_messages(db: sqlite3.Connection, sid: str, after: list[Any] | None) -> Iterator[tuple[Any, dict, list]]:
    """((time_created, id), message, parts) of a session after `after`, in order."""
    created, mid = after or (-1, "")
    rows = db.execute(
        "SELECT id, time_created, data FROM message WHERE session_id = ? AND "
        "(time_created > ? OR (time_created = ? AND id > ?)) ORDER BY time_created, id",
        (sid, created, created, mid),
    ).fetchall()
    for message_id, time_created, data in rows:
        parts = [
            _json(row[0]) for row in db.execute("SELECT data FROM part WHERE message_id = ? ORDER BY id", (message_id,))
        ]
        message = _json(data)
        yield [time_created, message_id], message if isinstance(message, dict) else {}, parts


def _legacy_messages(storage: Path, sid: str, after: list[Any] | None) -> Iterator[tuple[Any, dict, list]]:
    found = []
    for file in (storage / "message" / sid).glob("*.json"):
        message = _json(_read(file))
        if isinstance(message, dict):
            time = message.get("time") if isinstance(message.get("time"), dict) else {}
            created = time.get("created") if isinstance(time.get("created"), (int, float)) else 0
            found.append(([created, str(message.get("id") or file.stem)], message))
    found.sort(key=lambda item: (item[0][0], item[0][1]))
    for cursor, message in found:
        if after and (cursor[0], cursor[1]) <= (after[0], after[1]):
            continue
        parts = sorted(
            (_json(_read(p)) for p in (storage / "part" / cursor[1]).glob("*.json")),
            key=lambda p: str(p.get("id", "")) if isinstance(p, dict) else "",
        )
        yield cursor, message, parts


def _read(file: Path) -> bytes | None:
    try:
        return file.read_bytes()
    except OSError:
        return None


def _mtime_ms(file: Path) -> int:
    try:
        return int(file.stat().st_mtime * 1000)
    except OSError:
        return 0


def _in_database(folder: Path, sid: str) -> bool:
    db = folder / "opencode.db"
    if not db.is_file():
        return False
    try:
        with _closing(open_readonly(db)) as con:
            return con.execute("SELECT 1 FROM session WHERE id = ?", (sid,)).fetchone() is not None
    except sqlite3.Error:
        return False
