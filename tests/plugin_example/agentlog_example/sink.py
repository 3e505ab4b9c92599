"""jsonl: every alert appended as one JSON line to a file of your choice (`--sink jsonl=PATH`)."""

from __future__ import annotations

from hashlib import blake2b

import msgspec

from agentlog.watch.sinks import BaseSink, SinkError, register


@register
class JsonlSink(BaseSink):
    kind = "jsonl"
    notification = False  # a file, not a chat: replays may write to it

    def __init__(self, path: str):
        super().__init__(f"jsonl-{blake2b(path.encode(), digest_size=4).hexdigest()}")  # names its position in state/
        self.path = path

    @classmethod
    def from_spec(cls, spec: str | None) -> "JsonlSink":
        if not spec:
            raise ValueError("the jsonl sink needs a file: --sink jsonl=PATH")
        return cls(spec)

    def send(self, alert) -> None:
        try:
            with open(self.path, "ab") as out:
                out.write(msgspec.json.encode(alert) + b"\n")
        except OSError as exc:
            raise SinkError(f"cannot write {self.path}: {exc}") from exc
