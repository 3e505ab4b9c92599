"""agentlog's importers vs ccusage 18 on the same transcripts: token totals and time.

    .venv/bin/python benchmarks/ccusage_compare.py [--sessions 300]

Runs both on the real fixtures (../shared/fixtures) and on a generated set written in
the agents' formats, where the true usage of every model call is known because the
generator decided it. Prints per-session input / output / cache-creation / cache-read
(Codex: input incl. cached, cached, output incl. reasoning, reasoning) for ccusage,
agentlog and (generated) the truth, the wall time of each tool, and for each session
where they differ the records that make the difference.

ccusage is installed with npm into benchmarks/.node/ on first run (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from agentlog import config  # noqa: E402
from agentlog.agents import get  # noqa: E402
from agentlog.capture.incremental import import_path  # noqa: E402
from agentlog.recorder import Recorder  # noqa: E402
from agentlog.store.reader import read_kind  # noqa: E402

FIXTURES = ROOT.parent / "shared" / "fixtures"
NODE = ROOT / "benchmarks" / ".node"
CLAUDE_KEYS = ("input", "output", "cache_create", "cache_read")
CODEX_KEYS = ("input", "cached", "output", "reasoning")


# --- ccusage ------------------------------------------------------------------------------


def ensure_ccusage() -> Path:
    bin_dir = NODE / "node_modules" / ".bin"
    if not (bin_dir / "ccusage").exists() or not (bin_dir / "ccusage-codex").exists():
        NODE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "install", "--prefix", str(NODE), "--no-audit", "--no-fund", "ccusage@18", "@ccusage/codex@18"],
            check=True,
            capture_output=True,
        )
    return bin_dir


def run_ccusage(bin_dir: Path, agent: str, home: Path) -> tuple[dict, float]:
    env = {**os.environ, "CLAUDE_CONFIG_DIR": str(home), "CODEX_HOME": str(home), "NO_COLOR": "1"}
    tool = "ccusage" if agent == "claude-code" else "ccusage-codex"
    start = time.perf_counter()
    out = subprocess.run(
        [str(bin_dir / tool), "session", "--offline", "--json"], env=env, capture_output=True, check=True
    ).stdout
    elapsed = time.perf_counter() - start
    sessions = {}
    for s in json.loads(out)["sessions"]:
        if agent == "claude-code":
            sessions[s["sessionId"]] = {
                "input": s["inputTokens"],
                "output": s["outputTokens"],
                "cache_create": s["cacheCreationTokens"],
                "cache_read": s["cacheReadTokens"],
                "cost": s["totalCost"],
            }
        else:
            key = Path(s.get("sessionFile") or s["sessionId"]).name
            sessions[key] = {
                "input": s["inputTokens"],
                "cached": s["cachedInputTokens"],
                "output": s["outputTokens"],
                "reasoning": s["reasoningOutputTokens"],
                "cost": s["costUSD"],
            }
    return sessions, elapsed


# --- agentlog -------------------------------------------------------------------------------


def run_agentlog(agent: str, root: Path, work: Path) -> tuple[dict, float, str]:
    """Per-session totals from the usage events agentlog records (grouped like ccusage)."""
    log_dir = work / f"logs-{agent}"
    shutil.rmtree(log_dir, ignore_errors=True)
    settings = config.load({"log_dir": str(log_dir)}, environ={}, cwd=work)
    importer = get(agent).importer()
    files = importer.files(root)
    group = {importer.attempt_id(f): _group(agent, root, f) for f in files}
    start = time.perf_counter()
    with Recorder(settings) as recorder:
        result = import_path(importer, root, recorder, files=files, open_window_s=0)
    elapsed = time.perf_counter() - start
    sessions: dict[str, dict] = defaultdict(lambda: defaultdict(float))
    for event in read_kind(log_dir, "stream", archives=False):
        if event.get("event_type") != "usage":
            continue
        d, s = event["data"], sessions[group[event["attempt_id"]]]
        if agent == "claude-code":
            s["input"] += d.get("input_tokens", 0)
            s["output"] += d.get("output_tokens", 0)
            s["cache_create"] += d.get("cache_creation_tokens", 0)
            s["cache_read"] += d.get("cache_read_tokens", 0)
        else:  # back to OpenAI's counting: cached inside input, reasoning inside output
            s["input"] += d.get("input_tokens", 0) + d.get("cache_read_tokens", 0)
            s["cached"] += d.get("cache_read_tokens", 0)
            s["output"] += d.get("output_tokens", 0) + d.get("reasoning_tokens", 0)
            s["reasoning"] += d.get("reasoning_tokens", 0)
        s["cost"] += d.get("cost_usd") or 0
    return sessions, elapsed, result.summary()


def _group(agent: str, root: Path, file: Path) -> str:
    """ccusage groups Claude Code by project folder, Codex by session file."""
    if agent == "claude-code":
        return file.relative_to(root / "projects").parts[0]
    return file.stem


# --- why two numbers differ -------------------------------------------------------------------


def explain_claude(files: list[Path]) -> list[str]:
    """Records where first-seen-by-(message id, request id) differs from once-per-message."""
    lines: dict[str, list[tuple[str, dict]]] = defaultdict(list)
    notes = []
    for file in files:
        for n, raw in enumerate(file.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            try:
                rec = json.loads(raw)
            except ValueError:
                continue
            msg = rec.get("message") if isinstance(rec, dict) else None
            if isinstance(msg, dict) and isinstance(msg.get("usage"), dict) and msg.get("id"):
                lines[msg["id"]].append((f"{file.name}:{n}", rec))
    for mid, recs in lines.items():
        if len(recs) < 2:
            continue
        outs = [r["message"]["usage"].get("output_tokens", 0) for _, r in recs]
        no_req = sum(1 for _, r in recs if not r.get("requestId"))
        files_ = {w.split(":")[0] for w, _ in recs}
        what = []
        if no_req:
            what.append(f"{no_req} of {len(recs)} lines without requestId (ccusage adds each)")
        if len(set(outs)) > 1:
            what.append(f"output_tokens {outs} (ccusage keeps the first, agentlog the largest)")
        if len(files_) > 1:
            what.append(f"in {len(files_)} files")
        if what:
            notes.append(f"{mid} at {recs[0][0]}: " + "; ".join(what))
    return notes


def explain_codex(files: list[Path]) -> list[str]:
    notes = []
    for file in files:
        previous = None
        for n, raw in enumerate(file.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            try:
                rec = json.loads(raw)
            except ValueError:
                continue
            payload = rec.get("payload") if isinstance(rec, dict) else None
            if not (isinstance(payload, dict) and payload.get("type") == "token_count"):
                continue
            info = payload.get("info") or {}
            total = info.get("total_token_usage")
            if total is not None and total == previous and info.get("last_token_usage"):
                notes.append(
                    f"{file.name}:{n}: token_count repeats total {total.get('total_tokens')}; "
                    f"ccusage adds last_token_usage ({info['last_token_usage'].get('total_tokens')}) again"
                )
            previous = total if total is not None else previous
    return notes


# --- generated transcripts ------------------------------------------------------------------------


def generate_claude(home: Path, sessions: int, rng: random.Random) -> dict[str, dict]:
    """Claude Code sessions as the agent writes them; returns the true usage per project."""
    truth: dict[str, dict] = {}
    for s in range(sessions):
        sid = f"{s:08x}-0000-4000-8000-{rng.getrandbits(48):012x}"
        project = home / "projects" / f"-gen-project-{s:04d}"
        project.mkdir(parents=True)
        tally = truth[project.name] = dict.fromkeys(CLAUDE_KEYS, 0)
        lines = [_user(sid, "do the task", 0)]
        t = 0
        sub_echo: list[dict] = []
        if rng.random() < 0.3:  # a sub-agent in its own file; some of its lines echoed into the parent
            agent_lines = _claude_calls(sid, f"a{s}", rng, rng.randint(3, 8), tally, sidechain=True)
            sub = project / sid / "subagents"
            sub.mkdir(parents=True)
            (sub / f"agent-a{s:04x}.jsonl").write_text("".join(json.dumps(x) + "\n" for x in agent_lines))
            sub_echo = [x for x in agent_lines if x["type"] == "assistant" and rng.random() < 0.5]
        for chunk in _claude_calls(sid, f"m{s}", rng, rng.randint(10, 80), tally, sidechain=False):
            lines.append(chunk)
            t += 1
            if sub_echo and t == 5:
                lines.extend(sub_echo)  # the sub-agent's records, echoed into the parent file
                lines.append(_task_result(sid, sum(x["message"]["usage"]["output_tokens"] for x in sub_echo)))
        (project / f"{sid}.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return truth


def _claude_calls(sid: str, tag: str, rng: random.Random, calls: int, tally: dict, sidechain: bool) -> list[dict]:
    out = []
    for c in range(calls):
        usage = {
            "input_tokens": rng.randint(1, 40),
            "cache_creation_input_tokens": rng.choice([0, 0, rng.randint(100, 5000)]),
            "cache_read_input_tokens": rng.randint(10_000, 90_000),
            "output_tokens": rng.randint(50, 2000),
        }
        for key, src in zip(
            CLAUDE_KEYS, ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
        ):
            tally[key] += usage[src]
        blocks = rng.choice([["text"], ["thinking", "text"], ["thinking", "text", "tool_use"], ["text", "tool_use"]])
        drop_request = rng.random() < 0.1  # some versions write lines without requestId
        for b, block in enumerate(blocks):
            final = b == len(blocks) - 1
            line_usage = dict(usage, output_tokens=usage["output_tokens"] if final else rng.randint(1, 11))
            rec = {
                "type": "assistant",
                "uuid": f"{tag}-{c}-{b}",
                "sessionId": sid,
                "isSidechain": sidechain,
                "timestamp": f"2026-03-01T10:{(c // 60) % 60:02d}:{c % 60:02d}.{b:03d}Z",
                "message": {
                    "id": f"msg_{tag}_{c}",
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-sonnet-4-5-20250929",
                    "stop_reason": ("tool_use" if final else None),
                    "content": [_block(block, f"{tag}-{c}")],
                    "usage": line_usage,
                },
            }
            if not (drop_request and b == 0):
                rec["requestId"] = f"req_{tag}_{c}"
            out.append(rec)
        if blocks[-1] == "tool_use":
            out.append(
                {
                    "type": "user",
                    "uuid": f"{tag}-{c}-r",
                    "sessionId": sid,
                    "isSidechain": sidechain,
                    "timestamp": f"2026-03-01T10:{(c // 60) % 60:02d}:{c % 60:02d}.900Z",
                    "message": {
                        "role": "user",
                        "content": [
                            {
                                "type": "tool_result",
                                "tool_use_id": f"tu-{tag}-{c}",
                                "content": "ok",
                                "is_error": rng.random() < 0.05,
                            }
                        ],
                    },
                }
            )
    return out


def _block(kind: str, ident: str) -> dict:
    if kind == "tool_use":
        return {"type": "tool_use", "id": f"tu-{ident}", "name": "Bash", "input": {"command": "pytest -q"}}
    if kind == "thinking":
        return {"type": "thinking", "thinking": "let me think", "signature": "x"}
    return {"type": "text", "text": "working on it"}


def _user(sid: str, text: str, n: int) -> dict:
    return {
        "type": "user",
        "uuid": f"u-{sid}-{n}",
        "sessionId": sid,
        "timestamp": "2026-03-01T09:59:00.000Z",
        "message": {"role": "user", "content": text},
    }


def _task_result(sid: str, output: int) -> dict:
    """The Task tool's result in the parent: carries the sub-agent's usage (not a model call)."""
    return {
        "type": "user",
        "uuid": f"task-{sid}",
        "sessionId": sid,
        "timestamp": "2026-03-01T10:00:05.950Z",
        "toolUseResult": {
            "status": "completed",
            "totalTokens": output,
            "usage": {"input_tokens": 10, "output_tokens": output},
        },
        "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "task-1", "content": "done"}]},
    }


def generate_codex(home: Path, sessions: int, rng: random.Random) -> dict[str, dict]:
    truth: dict[str, dict] = {}
    day = home / "sessions" / "2026" / "03" / "01"
    day.mkdir(parents=True)
    for s in range(sessions):
        sid = f"{s:08x}-1111-4111-8111-{rng.getrandbits(48):012x}"
        name = f"rollout-2026-03-01T10-00-00-{sid}"
        tally = truth[name] = dict.fromkeys(CODEX_KEYS, 0)
        with_last = s % 2 == 0  # newer Codex writes last_token_usage too
        lines = [
            {"timestamp": "2026-03-01T10:00:00.000Z", "type": "session_meta", "payload": {"id": sid, "cwd": "/w"}},
            {"timestamp": "2026-03-01T10:00:00.100Z", "type": "turn_context", "payload": {"model": "gpt-5-codex"}},
            {
                "timestamp": "2026-03-01T10:00:00.200Z",
                "type": "event_msg",
                "payload": {"type": "user_message", "message": "fix it"},
            },
        ]
        total = dict.fromkeys(
            ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens", "total_tokens"), 0
        )
        for turn in range(rng.randint(5, 60)):
            cached = rng.randint(0, 20_000)
            call = {
                "input_tokens": cached + rng.randint(100, 5000),
                "cached_input_tokens": cached,
                "output_tokens": rng.randint(20, 1500),
            }
            call["reasoning_output_tokens"] = rng.randint(0, call["output_tokens"])
            call["total_tokens"] = call["input_tokens"] + call["output_tokens"]
            for key, src in zip(
                CODEX_KEYS, ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens")
            ):
                tally[key] += call[src]
            total = {k: total[k] + call[k] for k in total}
            info = {"total_token_usage": dict(total)}
            if with_last:
                info["last_token_usage"] = call
            ts = f"2026-03-01T10:{turn // 60:02d}:{turn % 60:02d}.500Z"
            event = {"timestamp": ts, "type": "event_msg", "payload": {"type": "token_count", "info": info}}
            lines.append(event)
            if rng.random() < 0.3:  # the same cumulative count written again (rate-limit update)
                lines.append(dict(event, payload={**event["payload"], "rate_limits": {"primary": {"used_percent": 5}}}))
            if rng.random() < 0.2:
                lines.append({"timestamp": ts, "type": "event_msg", "payload": {"type": "token_count", "info": None}})
        (day / f"{name}.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return truth


# --- printing ---------------------------------------------------------------------------------


def compare(title: str, agent: str, home: Path, bin_dir: Path, work: Path, truth: dict | None, show: int) -> None:
    root = home / ("projects" if agent == "claude-code" else "sessions")
    keys = CLAUDE_KEYS if agent == "claude-code" else CODEX_KEYS
    theirs, t_theirs = run_ccusage(bin_dir, agent, home)
    ours, t_ours, summary = run_agentlog(agent, home if agent == "claude-code" else root, work)
    names = sorted(set(theirs) | set(ours))
    print(f"\n## {title}: {len(names)} sessions")
    print(
        f"time: ccusage {t_theirs:.2f} s, agentlog import {t_ours:.2f} s "
        f"(ratio agentlog/ccusage {t_ours / t_theirs:.2f}); agentlog: {summary}"
    )
    header = "session".ljust(28) + "".join(f"{k:>13}" for k in keys) + f"{'cost $':>10}"
    differing = [n for n in names if _row(theirs.get(n), keys) != _row(ours.get(n), keys)]
    wrong = {"ccusage": 0, "agentlog": 0}
    totals = {who: dict.fromkeys(keys, 0) for who in ("ccusage", "agentlog", "truth")}
    for n in names:
        for who, src in (("ccusage", theirs), ("agentlog", ours), ("truth", truth or {})):
            for k in keys:
                totals[who][k] += (src.get(n) or {}).get(k, 0)
        if truth is not None:
            for who, src in (("ccusage", theirs), ("agentlog", ours)):
                wrong[who] += _row(src.get(n), keys) != _row(truth.get(n), keys)
    print(header)
    shown = differing[:show] if truth is not None else names
    for n in shown:
        for who, src in (("ccusage", theirs), ("agentlog", ours)) + ((("truth", truth),) if truth else ()):
            row = src.get(n) or {}
            label = (n[:18] + " " + who) if who == "ccusage" else (" " * 19 + who)
            print(
                label.ljust(28)
                + "".join(f"{int(row.get(k, 0)):>13,}" for k in keys)
                + (f"{row.get('cost', 0):>10.4f}" if who != "truth" else "")
            )
        files = _files_of(agent, root, n)
        for note in (explain_claude(files) if agent == "claude-code" else explain_codex(files))[:3]:
            print("    differs because: " + note)
    if truth is not None and len(differing) > show:
        print(f"... {len(differing) - show} more sessions differ")
    print("totals".ljust(28) + "".join(f"{k:>13}" for k in keys))
    for who in ("ccusage", "agentlog") + (("truth",) if truth else ()):
        print(f"  {who}".ljust(28) + "".join(f"{int(totals[who][k]):>13,}" for k in keys))
    print(f"sessions where the two differ: {len(differing)} of {len(names)}")
    if truth is not None:
        print(f"sessions not equal to the truth: ccusage {wrong['ccusage']}, agentlog {wrong['agentlog']}")


def _row(row: dict | None, keys) -> tuple:
    return tuple(int(round((row or {}).get(k, 0))) for k in keys)


def _files_of(agent: str, root: Path, name: str) -> list[Path]:
    if agent == "claude-code":
        return sorted((root / name).rglob("*.jsonl"))
    return sorted(root.rglob(f"{name}.jsonl"))


def fixture_homes(work: Path) -> tuple[Path, Path]:
    """The shared fixtures laid out as ~/.claude and ~/.codex, one project per session file."""
    claude, codex = work / "fx-claude", work / "fx-codex"
    for file in sorted((FIXTURES / "claude-code").rglob("*.jsonl")):
        target = claude / "projects" / file.stem
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(file, target / file.name)
    (codex / "sessions").mkdir(parents=True)
    for file in sorted((FIXTURES / "codex").rglob("*.jsonl")):
        shutil.copy(file, codex / "sessions" / file.name)
    return claude, codex


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=300, help="generated sessions per agent")
    parser.add_argument("--show", type=int, default=4, help="differing generated sessions to print")
    args = parser.parse_args()
    bin_dir = ensure_ccusage()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        fx_claude, fx_codex = fixture_homes(work)
        compare("Claude Code fixtures", "claude-code", fx_claude, bin_dir, work, None, args.show)
        compare("Codex fixtures", "codex", fx_codex, bin_dir, work, None, args.show)
        gen_claude, gen_codex = work / "gen-claude", work / "gen-codex"
        truth_claude = generate_claude(gen_claude, args.sessions, rng)
        truth_codex = generate_codex(gen_codex, args.sessions, rng)
        compare("Claude Code generated", "claude-code", gen_claude, bin_dir, work, truth_claude, args.show)
        compare("Codex generated", "codex", gen_codex, bin_dir, work, truth_codex, args.show)


if __name__ == "__main__":
    main()
