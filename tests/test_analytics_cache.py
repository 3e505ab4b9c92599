"""The incremental analytics cache (state/analytics-cache/): after appends, a half-written
line, rotation, archive deletion, truncation or a damaged cache, every report equals
the one computed from the files alone, and only what changed is parsed again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from agentlog import analytics
from agentlog.analytics import cache
from agentlog.cli import cli as agentlog_cli
from agentlog.events import encode
from agentlog.store import layout

KINDS = ["session_start", "tool_call", "tool_result", "usage", "error", "followup_sent", "agent_output"]
MESSAGES = ["fatal: not a git repository", "npm ERR! network timeout at 42", "401 Unauthorized: invalid api key"]


def lines(start: int, count: int, attempts: int = 5) -> bytes:
    """`count` events (numbered from `start`) spread over `attempts` sessions, some ending."""
    out = []
    for n in range(start, start + count):
        a, kind = n % attempts, KINDS[n % len(KINDS)]
        if n % 23 == 22:
            kind = "session_end"
        data = {
            "session_start": {"prompt_type": "retry" if n % 2 else "initial"},
            "tool_call": {"tool_name": "bash"},
            "tool_result": {"result": "error" if n % 3 else "success"},
            "usage": {"input_tokens": n, "output_tokens": 1, "cost_usd": round(n / 1000, 3)},
            "error": {
                "error_message": MESSAGES[n % 3],
                **({"error_fingerprint": f"fp{n % 2}", "error_category": "git"} if n % 4 == 0 else {}),
            },
            "followup_sent": {"message": "more"},
            "agent_output": {"output": "x" * (n % 50)},
            "session_end": {"completion_status": ["success", "failed", "timeout"][n % 3], "duration_ms": n * 10},
        }[kind]
        out.append(
            encode(
                {
                    "timestamp": f"2026-01-{1 + n // 1000 % 28:02d}T{n // 60 % 24:02d}:{n % 60:02d}:00.000Z",
                    "event_type": kind,
                    "attempt_id": f"att-{a}",
                    "task_id": f"t{a % 3}",
                    "task_title": f"[s] task {a % 3}",
                    "executor": ["CODEX", "COPILOT"][a % 2],
                    "model": "m1",
                    "data": data,
                }
            )
            + b"\n"
        )
    return b"".join(out)


def reports(log_dir: Path, *, use_cache: bool) -> dict:
    """Every report's numbers (floats rounded: sums may be added up in another order)."""
    data = analytics.load(log_dir, cache=use_cache)
    try:
        got = {
            "summary": analytics.summary(data, top=50).to_dict(),
            "errors": analytics.errors(data, top=0).to_dict(),
            "compare": analytics.compare(data).to_dict(),
            "backlog": analytics.backlog(data).to_dict(),
            "metrics": sorted(analytics.metrics(data).to_dict()["sessions"], key=lambda r: r["attempt_id"]),
            "malformed": data.malformed,
            "usage_days": data.query("SELECT * FROM usage_days ORDER BY attempt_id, day NULLS FIRST"),
            # the days of a session add up to its totals
            "usage_days_off": data.query(
                "SELECT attempt_id FROM sessions s JOIN (SELECT attempt_id, sum(cost_usd) AS c, "
                "sum(input_tokens) AS i FROM usage_days GROUP BY attempt_id) u USING (attempt_id) "
                "WHERE abs(u.c - s.cost_usd) > 1e-9 OR u.i <> s.input_tokens"
            ),
        }
        got["parsed"] = [p.name for p in data.source.read_whole]
    finally:
        data.source.close()
    return _rounded(got)


def _rounded(value):
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def check(log_dir: Path) -> list[str]:
    """The cached reports equal the uncached ones; returns the files parsed whole."""
    cached, plain = reports(log_dir, use_cache=True), reports(log_dir, use_cache=False)
    parsed = cached.pop("parsed")
    plain.pop("parsed")
    assert cached == plain
    assert cached["usage_days_off"] == [] and cached["usage_days"]
    return parsed


def folder(log_dir: Path) -> Path:
    return log_dir / layout.STATE / cache.FOLDER


def manifest(log_dir: Path) -> dict:
    return json.loads((folder(log_dir) / cache.MANIFEST).read_text())["files"]


def parts_on_disk(log_dir: Path) -> set[str]:
    return {p.name for p in folder(log_dir).glob("part-*.parquet")}


def assert_tidy(log_dir: Path) -> None:
    """One part per manifest entry, no leftovers (parts of gone files, copied-out lines)."""
    assert parts_on_disk(log_dir) == {e["part"] for e in manifest(log_dir).values() if e.get("part")}
    assert not list(folder(log_dir).glob("new-*"))


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    (tmp_path / layout.STREAM).write_bytes(lines(0, 400))
    return tmp_path


def test_a_warm_run_parses_nothing_and_an_append_only_the_new_lines(log_dir):
    assert check(log_dir) == [layout.STREAM]  # cold: parsed whole, then cached
    assert check(log_dir) == []  # warm
    live = log_dir / layout.STREAM
    with open(live, "ab") as out:
        out.write(lines(400, 300))
    assert check(log_dir) == []  # the new lines were copied out and parsed, not the file
    (entry,) = manifest(log_dir).values()
    assert entry["offset"] == live.stat().st_size
    assert_tidy(log_dir)


def test_a_half_written_line_waits_for_its_newline(log_dir):
    check(log_dir)
    live = log_dir / layout.STREAM
    complete = live.stat().st_size
    tail = lines(400, 1)
    with open(live, "ab") as out:
        out.write(tail[:40])
    assert check(log_dir) == []
    assert reports(log_dir, use_cache=True)["malformed"] == 0
    assert next(iter(manifest(log_dir).values()))["offset"] == complete
    with open(live, "ab") as out:
        out.write(tail[40:])
    assert check(log_dir) == []
    assert next(iter(manifest(log_dir).values()))["offset"] == live.stat().st_size


def test_a_file_first_seen_with_a_half_written_line_is_cached_from_its_complete_lines(tmp_path):
    (tmp_path / layout.STREAM).write_bytes(lines(0, 100) + lines(100, 1)[:30])
    assert check(tmp_path) == [layout.STREAM]  # read whole: its tail made it unsafe to cache as is
    assert next(iter(manifest(tmp_path).values()))["offset"] == 0
    assert check(tmp_path) == []  # its complete lines copied out and cached
    assert next(iter(manifest(tmp_path).values()))["offset"] == len(lines(0, 100))


def test_malformed_lines_are_counted_once_across_appends(log_dir):
    check(log_dir)
    with open(log_dir / layout.STREAM, "ab") as out:
        out.write(b"{not json\n" + lines(400, 10) + b'{"timestamp": "2026-01-01T00:00:00Z"}\n')
    check(log_dir)
    assert reports(log_dir, use_cache=True)["malformed"] == 2


def test_rotation_and_deleted_archives(log_dir):
    check(log_dir)
    env = {"AGENT_WORK_LOG_MAX_SIZE_MB": "0.001"}
    result = CliRunner().invoke(agentlog_cli, ["rotate", "--log-dir", str(log_dir), "--grace", "0.1"], env=env)
    assert result.exit_code == 0 and "rotate" in result.output, result.output
    assert not (log_dir / layout.STREAM).exists()
    (log_dir / layout.STREAM).write_bytes(lines(400, 200))
    parsed = check(log_dir)
    assert layout.STREAM in parsed and any(p.endswith(".jsonl.gz") for p in parsed)
    assert check(log_dir) == []
    assert len(manifest(log_dir)) == 2  # the rotated-away live file's entry is gone
    assert_tidy(log_dir)
    for archive in (log_dir / layout.ARCHIVE).glob("*.jsonl.gz"):
        archive.unlink()  # retention
    assert check(log_dir) == []
    assert len(manifest(log_dir)) == 1
    assert_tidy(log_dir)


def test_an_archive_renamed_aside_keeps_the_parts_of_the_live_file_it_was(log_dir):
    """Mid-rotation the live file sits in archive/ as plain JSONL: same inode, same parts."""
    check(log_dir)
    (log_dir / layout.ARCHIVE).mkdir()
    os.rename(log_dir / layout.STREAM, log_dir / layout.ARCHIVE / "agent-work-stream-20260101T000000.000Z.jsonl")
    (log_dir / layout.STREAM).write_bytes(lines(400, 50))
    assert check(log_dir) == [layout.STREAM]


@pytest.mark.parametrize("how", ["shorter", "same size", "longer"])
def test_a_truncated_or_rewritten_file_is_parsed_again(log_dir, how):
    check(log_dir)
    live = log_dir / layout.STREAM
    size = live.stat().st_size
    new = lines(1000, 800)
    new = {"shorter": new[: size // 2], "same size": new[:size], "longer": new}[how]
    new = new[: new.rfind(b"\n") + 1]
    with open(live, "r+b") as out:  # same inode
        out.truncate(0)
        out.write(new)
    assert check(log_dir) == [layout.STREAM]
    assert_tidy(log_dir)


def test_an_unwritable_or_damaged_cache_falls_back_to_parsing(log_dir):
    (log_dir / layout.STATE).write_text("not a folder")
    assert check(log_dir) == [layout.STREAM]
    (log_dir / layout.STATE).unlink()
    check(log_dir)
    (folder(log_dir) / cache.MANIFEST).write_text("{broken")
    assert check(log_dir) == [layout.STREAM]  # rebuilt
    assert check(log_dir) == []
    for part in folder(log_dir).glob("part-*.parquet"):
        part.write_bytes(b"garbage")
    assert check(log_dir) == [layout.STREAM]
    assert check(log_dir) == []


def test_parallel_reports_while_lines_are_appended(log_dir):
    check(log_dir)
    script = (
        "import sys, json; from agentlog import analytics; print(json.dumps(analytics.summary(sys.argv[1]).sessions))"
    )
    procs = []
    with open(log_dir / layout.STREAM, "ab") as out:
        for i in range(4):
            out.write(lines(400 + i * 50, 50, attempts=9))
            out.flush()
            procs.append(subprocess.Popen([sys.executable, "-c", script, str(log_dir)], stdout=subprocess.PIPE))
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0 and int(out) >= 5
    check(log_dir)
    assert_tidy(log_dir)


def test_derived_categories_are_remembered_per_taxonomy_version(log_dir):
    check(log_dir)
    memo = folder(log_dir) / "categories.json"
    saved = json.loads(memo.read_text())
    assert set(saved["values"]) == set(MESSAGES)  # the messages written without a category
    from agentlog.intel import analyze_error

    assert saved["values"] == {m: analyze_error(m).category for m in MESSAGES}
    memo.write_text(json.dumps({"version": "another taxonomy", "values": {m: "stale" for m in MESSAGES}}))
    check(log_dir)  # not trusted: recomputed
    assert json.loads(memo.read_text())["values"] == saved["values"]


def _holds_a_file_in(pid: int, folder: Path) -> bool:
    """Whether process `pid` has a file of `folder` open (named or not)."""
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}").startswith(f"{folder}/") for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:  # gone, or a descriptor closed while looked at
        return False


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="the rows file has no name only where /proc is")
def test_a_report_killed_mid_parse_leaves_nothing_in_the_temp_folder(tmp_path):
    """The rows the native parse hands DuckDB live in a file with no name: neither seen in
    the temp folder while the report runs nor left there when it is killed with -9."""
    log_dir, scratch = tmp_path / "logs", tmp_path / "tmp"
    log_dir.mkdir()
    scratch.mkdir()
    with open(log_dir / layout.STREAM, "wb") as out:
        for _ in range(60):  # ~30 MB: a parse long enough to be caught in
            out.write(lines(0, 5000, attempts=500))
    env = {**os.environ, "TMPDIR": str(scratch)}
    report = subprocess.Popen(
        [sys.executable, "-m", "agentlog", "summary", "--days", "0", "--log-dir", str(log_dir)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    seen: set[str] = set()

    def look() -> None:  # (the tempfile module probes the folder once with files of 8 random letters)
        seen.update(p.name for p in scratch.iterdir() if p.name.startswith("agentlog-"))

    try:
        while report.poll() is None and not _holds_a_file_in(report.pid, scratch):
            look()
        assert report.returncode is None, "the report ended before its rows were caught"
        look()
    finally:
        report.kill()
        report.wait()
    look()
    assert not seen, f"the rows file was seen in the temp folder: {seen}"
