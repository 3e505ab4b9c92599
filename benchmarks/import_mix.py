"""Import a generated mix of every agent's transcripts; events/s per importer beside the floor.

    .venv/bin/python benchmarks/import_mix.py            # ~40 MB in all
    .venv/bin/python benchmarks/import_mix.py --size 1G  # the issue's 1 GB mix
    .venv/bin/python benchmarks/import_mix.py --keep DIR # leave the generated mix in DIR

The mix is made from each agent's fixtures (../shared/fixtures/<agent>/, real files where
there are any): copied over and over until the agent's share of the size is reached, every
UUID inside and in the names replaced per copy (pi's and OpenClaw's entry ids per repeat, OpenCode's session ids in each
database copy), so each copy is a session of its own and nothing is deduplicated away; a
JSONL transcript's records are repeated (renamed each time) into a session of about 1 MiB.
Each importer then imports its share into a fresh log dir, as `agentlog import` does
(records to events, pricing, the store's files, the import state). The baseline, measured in
the same run on the same files, is msgspec decoding the same bytes (each JSON line, each
document, each row's JSON of a database) and nothing else: the floor of any importer.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import msgspec

from agentlog.agents import get as agent_of, names
from agentlog.capture.incremental import import_path
from agentlog.recorder import Recorder

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_decode = msgspec.json.Decoder().decode
SESSION_BYTES = 1 << 20  # a generated JSONL session is about this long
# pi and OpenClaw name their entries (and tool calls) u1, a1, entry-1...: not UUIDs, so a record
# repeated in one file keeps its id and is read once. Each repeat renames them too.
ENTRY_IDS = {"pi", "openclaw"}
ENTRY_ID = re.compile(rb'"(id|parentId|toolCallId)":(\s*)"([^"]+)"')


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(float(text[:-1]) * units[text[-1].upper()]) if text[-1].upper() in units else int(text)


def sources(agent: str) -> list[Path]:
    """The agent's fixture files its importer reads (OpenCode: the databases only)."""
    folder = FIXTURES / agent
    if not folder.is_dir():
        return []
    files = agent_of(agent).importer().files(folder)
    return [f for f in files if agent != "opencode" or f.suffix == ".db"]


def renamer(copy: Any) -> Callable[[re.Match], bytes]:
    """Each UUID replaced by one of its own for this copy (the same one each time it appears)."""
    fresh: dict[bytes, bytes] = {}

    def renamed(match: re.Match) -> bytes:
        old = match.group(0)
        if old not in fresh:
            fresh[old] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{copy}:{old.decode()}")).encode()
        return fresh[old]

    return renamed


def copy_one(source: Path, root: Path, dest: Path, copy: int, agent: str) -> int:
    """`source` as copy number `copy` at `dest`, its UUIDs made its own; bytes written. A JSONL
    transcript is made a long one (its records again and again, up to SESSION_BYTES): fixtures
    are short, real sessions are not, and an import's cost per file is not its cost per event."""
    renamed = renamer(copy)
    relative = UUID.sub(renamed, str(source.relative_to(root)).encode()).decode()
    target = dest / f"copy-{copy}" / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():  # a session folder (OpenHands V0): every file in it, its UUIDs made its own
        for path in source.rglob("*"):
            if path.is_file():
                inner = target / UUID.sub(renamed, str(path.relative_to(source)).encode()).decode()
                inner.parent.mkdir(parents=True, exist_ok=True)
                inner.write_bytes(UUID.sub(renamed, path.read_bytes()))
        return sum(path.stat().st_size for path in target.rglob("*") if path.is_file())
    if source.suffix == ".db":
        shutil.copy(source, target)
        db = sqlite3.connect(target)  # each copy's sessions are sessions of their own
        for table, column in (("session", "id"), ("message", "session_id"), ("part", "session_id")):
            db.execute(f"UPDATE {table} SET {column} = {column} || ?", (f"_{copy}",))
        db.commit()
        db.close()  # the WAL checkpointed and gone: the copy is one file, as OpenCode leaves it
    else:
        data = source.read_bytes()
        if agent_of(agent).importer().grows_by_appending(source):
            reps = max(1, SESSION_BYTES // max(1, len(data)))
            data = UUID.sub(renamed, data) + b"".join(repeated(data, copy, k, agent) for k in range(1, reps))
        else:
            data = UUID.sub(renamed, data)
        target.write_bytes(data)
        settings = source.with_name(source.stem + ".settings.json")  # droid's token totals
        if settings.exists():
            shutil.copy(settings, target.with_name(target.stem + ".settings.json"))
    return target.stat().st_size


def repeated(data: bytes, copy: int, k: int, agent: str) -> bytes:
    """Repeat `k` of a transcript's records: new UUIDs, and new entry ids where they are not UUIDs."""
    data = UUID.sub(renamer((copy, k)), data)
    if agent in ENTRY_IDS:
        data = ENTRY_ID.sub(lambda m: b'"%s":%s"%s~%d"' % (m[1], m[2], m[3], k), data)
    return data


def generate(agent: str, dest: Path, budget: int) -> int:
    files = sources(agent)
    if not files:
        return 0
    root, written, copy = FIXTURES / agent, 0, 0
    while written < budget:
        for source in files:
            written += copy_one(source, root, dest, copy, agent)
        copy += 1
    return written


def baseline(agent: str, dest: Path) -> tuple[int, float]:
    """(records, seconds) of decoding the same bytes with msgspec."""
    importer = agent_of(agent).importer()
    files = importer.files(dest)
    records, start = 0, time.perf_counter()
    for file in files:
        if file.is_dir():  # a session folder: each JSON file in it is one record
            for path in file.rglob("*.json"):
                try:
                    _decode(path.read_bytes())
                except msgspec.DecodeError:
                    pass
                records += 1
        elif file.suffix == ".db":
            with sqlite3.connect(f"file:{file}?immutable=1", uri=True) as db:
                for table in ("message", "part"):
                    for (data,) in db.execute(f"SELECT data FROM {table}"):
                        _decode(data)
                        records += 1
        elif importer.grows_by_appending(file):
            with open(file, "rb") as handle:
                for raw in handle:
                    try:
                        _decode(raw)
                    except msgspec.DecodeError:
                        pass
                    records += 1
        else:
            try:
                _decode(file.read_bytes())
            except msgspec.DecodeError:
                pass
            records += 1
    return records, time.perf_counter() - start


def main() -> None:  # noqa: C901
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="40M", help="total size of the mix (K, M, G), e.g. 1G")
    parser.add_argument("--keep", type=Path, help="generate the mix here and leave it")
    args = parser.parse_args()
    agents = [a for a in names() if sources(a)]
    share = parse_size(args.size) // max(1, len(agents))
    work = Path(tempfile.mkdtemp(prefix="import-mix-"))
    mix = args.keep or work / "mix"
    print(f"mix: {args.size} over {len(agents)} agents ({share / 2**20:.1f} MiB each), in {mix}", flush=True)
    print(
        f"{'agent':14} {'MiB':>7} {'events':>9} {'events/s':>10} {'MiB/s':>7} | "
        f"{'baseline rec/s':>14} {'MiB/s':>7}  (msgspec decode of the same bytes)"
    )
    try:
        for agent in agents:
            size = generate(agent, mix / agent, share)
            records, floor_s = baseline(agent, mix / agent)
            start = time.perf_counter()
            with Recorder(log_dir=work / "logs" / agent) as recorder:
                result = import_path(agent_of(agent).importer(), mix / agent, recorder, open_window_s=0)
            took = time.perf_counter() - start
            mib = size / 2**20
            print(
                f"{agent:14} {mib:7.1f} {result.stats.events:9,} {result.stats.events / took:10,.0f} "
                f"{mib / took:7.1f} | {records / floor_s:14,.0f} {mib / floor_s:7.1f}"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
