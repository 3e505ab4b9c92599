"""Transcripts kept as one JSON document that the agent rewrites on every save (Gemini CLI's
and Copilot CLI's legacy sessions, Amp's threads): what an importer of such files shares.

The document is read whole each time it changed (size or mtime). Its records are fed from
where the last read stopped, less `refeed` records: an agent that fills in its last
message in place writes it again, and the mapper tells by the record's id what it already
turned into events. A document left alone for the open window is complete (session_end);
one that changes afterwards starts the attempt again and ends it again, like a grown JSONL.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, ClassVar, Iterator

import msgspec

from .base import Context, Importer, Mapper, _guarded, _timed, safe_feed

_decode = msgspec.json.Decoder()
RECENT_IDS = 64  # messages whose progress is kept: a rewrite changes only the last few


def progress(state: dict[str, Any], mid: str) -> dict[str, Any] | None:
    """What was done for message `mid` (its text, tools, tokens): None the first time it is
    seen, and from then on remembered for the latest RECENT_IDS messages. An agent that
    writes a message again as it fills it in then adds only what is new."""
    recent = state.setdefault("recent", {})
    if mid in recent:
        return recent[mid]
    recent[mid] = {}
    while len(recent) > RECENT_IDS:
        del recent[next(iter(recent))]
    return None


class DocumentImporter(Importer):
    append_only = False
    pattern = "*.json"
    refeed: ClassVar[int] = 0  # records fed again on each read (the last may have been filled in)

    def records(self, doc: Any, mapper: Mapper) -> list[Any] | None:
        """The document's records in order (a subclass also notes its header in `mapper.state`),
        or None when the document is not a session of this agent."""
        raise NotImplementedError

    def read(self, path: Path, entry: dict[str, Any], ctx: Context) -> Iterator[dict[str, Any]]:
        if not self.grows_by_appending(path):
            yield from self.read_document(path, entry, ctx)
        else:
            yield from super().read(path, entry, ctx)

    def read_document(self, path: Path, entry: dict[str, Any], ctx: Context) -> Iterator[dict[str, Any]]:
        stat = path.stat()
        version = [stat.st_size, stat.st_mtime_ns]
        if entry.get("version") == version and entry.get("ended"):
            return  # complete, and not rewritten since
        try:
            doc = _decode.decode(path.read_bytes().removeprefix(b"\xef\xbb\xbf"))
        except msgspec.DecodeError:
            ctx.skip_file("not_json" if stat.st_size else "empty_file")  # or caught mid-rewrite: read again
            return
        mapper = self.mapper(path, ctx, copy.deepcopy(entry.get("mapper")))
        records = self.records(doc, mapper)
        if records is None:
            ctx.skip_file("not_a_session")
            entry.update(version=version, ended=True)
            return
        done = entry.get("records", 0)
        if entry.get("ended"):
            mapper.reopen()
        untimed: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        for index in range(max(0, done - self.refeed), len(records)):
            events.extend(_timed(mapper, safe_feed(mapper, records[index], index), untimed))
        complete = ctx.now - stat.st_mtime >= ctx.open_window_s
        if entry.get("ended") and not events:  # rewritten with nothing new in it
            entry["version"] = version
            return
        if not mapper.state.get("last_ts"):
            if complete:
                ctx.skip_file("no_timestamp")
                entry.update(version=version, ended=True)
            return
        yield from events
        yield from _timed(mapper, [], untimed)
        if complete:
            yield from _guarded(ctx, mapper.finish)
        else:
            ctx.stats.open_sessions += 1
        entry.update(records=len(records), ended=complete, version=version, mapper=mapper.state)
