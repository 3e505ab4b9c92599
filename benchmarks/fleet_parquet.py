"""A fleet archive read from its Parquet vs the same events read as JSONL, in the same run.

The events of benchmarks/analytics_data.py (all in one live stream, as `fleet archive`
writes it) are given machines (`fleet-machines.jsonl`, one of --machines per attempt) and
compacted with `fleet compact`; then `summary`, `errors` and `compare` run, each in a fresh
process (benchmarks/analytics_speed.py's `--run`), on:

- parquet: the compacted archive (the parts, plus the stream after them: nothing here);
- jsonl, no cache: a copy holding the JSONL files alone, parsed whole every time;
- jsonl, warm: that copy with the incremental analytics cache of a previous run.

Wall time is the best of --repeat runs; "same numbers" compares the three outputs.

    .venv/bin/python benchmarks/fleet_parquet.py [--events 1000000] [--repeat 3] [--machines 8]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from hashlib import blake2b
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from analytics_speed import REPORTS, _same, best  # noqa: E402

AGENTLOG = str(Path(sys.executable).parent / "agentlog")
SPEED = [sys.executable, str(Path(__file__).parent / "analytics_speed.py"), "--run"]


def archives(n_events: int, machines: int) -> tuple[Path, Path]:
    """(the compacted archive, its JSONL alone), generated once under $TMPDIR."""
    from analytics_data import write_logs

    root = Path(tempfile.gettempdir()) / "agentlog-fleet-parquet-bench" / f"{n_events}-{machines}"
    archive, jsonl = root / "archive", root / "jsonl"
    if not (jsonl / "agent-work-stream.jsonl").exists():
        print(f"generating {n_events:,} events in {root} ...", flush=True)
        shutil.rmtree(root, ignore_errors=True)
        write_logs(root / "generated", n_events, archived_share=0)
        jsonl.mkdir(parents=True)
        shutil.move(root / "generated" / "agent-work-stream.jsonl", jsonl / "agent-work-stream.jsonl")
        shutil.rmtree(root / "generated")
        _machines(jsonl, machines)
    if not archive.exists():
        shutil.copytree(jsonl, archive, ignore=shutil.ignore_patterns("state"))
    start = time.perf_counter()  # all of it the first time (or after an upgrade), else nothing
    subprocess.run([AGENTLOG, "fleet", "compact", "--out", str(archive)], check=True)
    print(f"fleet compact: {time.perf_counter() - start:.2f} s", flush=True)
    return archive, jsonl


def _machines(log_dir: Path, machines: int) -> None:
    """fleet-machines.jsonl: each attempt on one of `machines` hosts, as the archiver writes it."""
    import duckdb

    attempts = duckdb.sql(
        f"SELECT DISTINCT attempt_id FROM read_json('{log_dir / 'agent-work-stream.jsonl'}', "
        "columns={'attempt_id': 'VARCHAR'}) WHERE attempt_id IS NOT NULL"
    ).fetchall()
    with open(log_dir / "fleet-machines.jsonl", "w") as out:
        for (attempt,) in attempts:
            host = int.from_bytes(blake2b(attempt.encode(), digest_size=2).digest()) % machines
            out.write(json.dumps({"attempt_id": attempt, "machine": f"m{host}"}) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--machines", type=int, default=8)
    args = parser.parse_args()
    archive, jsonl = archives(args.events, args.machines)
    stream = (jsonl / "agent-work-stream.jsonl").stat().st_size
    parquet = sum(p.stat().st_size for p in (archive / "parquet").rglob("*.parquet"))
    print(
        f"{args.events:,} events from {args.machines} machines: JSONL {stream / 2**20:,.0f} MiB, "
        f"Parquet {parquet / 2**20:,.1f} MiB; best of {args.repeat}"
    )
    print(f"{'report':<9} {'parquet':>9} {'jsonl no cache':>15} {'jsonl warm':>11} {'speed-up':>18}  same numbers")
    for report in REPORTS:
        fast, _, fast_out = best(SPEED + ["duckdb", report, str(archive)], args.repeat)
        plain, _, plain_out = best(SPEED + ["nocache", report, str(jsonl)], args.repeat)
        best(SPEED + ["duckdb", report, str(jsonl)], 1)  # fills the cache
        warm, _, warm_out = best(SPEED + ["duckdb", report, str(jsonl)], args.repeat)
        same = [_same(json.loads(out), json.loads(fast_out)) for out in (plain_out, warm_out)]
        same = "yes" if all(s == "yes" for s in same) else "; ".join(same)
        print(
            f"{report:<9} {fast:>7.2f} s {plain:>13.2f} s {warm:>9.2f} s "
            f"{plain / fast:>6.1f}x / {warm / fast:.1f}x  {same}"
        )


if __name__ == "__main__":
    main()
