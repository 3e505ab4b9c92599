"""Analytics speed: `summary`, `errors`, `compare` on 1,000,000 generated events.

Each command runs in a fresh process (what a user waits for: start-up, the DuckDB scan,
the report) beside two baselines measured in the same run: a plain-Python `json.loads`
loop computing the same numbers, and `jq` for `summary`.  The DuckDB side is timed three
ways, each labelled:

- no cache: `load(cache=False)`, one DuckDB scan of the live file and the gzip archive;
- cold: the cache under state/analytics-cache/ deleted first, so the run parses every
  file and writes the cache (what the first report after a rotation or upgrade pays);
- warm: the cache left by the cold run and the files unchanged, so nothing is parsed
  (every later report; new lines appended since are parsed, and only those).

Wall time is the best of --repeat runs (the machine is shared); peak memory is the
process's maximum resident set (no cache/cold/warm).  The data is generated once into
$TMPDIR/agentlog-analytics-bench (reused when present).

    .venv/bin/python benchmarks/analytics_speed.py [--events 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

REPORTS = ("summary", "errors", "compare")

JQ_SUMMARY = r"""
def ok: (.completion_status == "success")
  or ((.outcome | type) == "object" and (.outcome.status == "completed" or .outcome.status == "success"))
  or ((.metrics | type) == "object" and .metrics.success == true) or (.success == true);
reduce inputs as $e ({s: {}, errors: 0};
  .s[$e.attempt_id] |= (. // {cost: 0, ended: false, ok: false})
  | if $e.event_type == "usage" then .s[$e.attempt_id].cost += ($e.data.cost_usd // 0)
    elif $e.event_type == "session_end" then .s[$e.attempt_id] += {ended: true, ok: ($e.data | ok), dur: $e.data.duration_ms}
    elif $e.event_type == "error" then .errors += 1
    else . end)
| {sessions: (.s | length), ended: ([.s[] | select(.ended)] | length),
   succeeded: ([.s[] | select(.ok)] | length), total_cost_usd: ([.s[].cost] | add),
   total_errors: .errors}
"""


def data_dir(n_events: int) -> Path:
    from analytics_data import write_logs

    root = Path(tempfile.gettempdir()) / "agentlog-analytics-bench" / str(n_events)
    if not (root / "agent-work-stream.jsonl").exists():
        print(f"generating {n_events:,} events in {root} ...", flush=True)
        write_logs(root, n_events)
    return root


# --- the plain-Python baseline: same rules, one json.loads per line -------------------


def python_report(report: str, log_dir: Path) -> dict:
    from agentlog.events import succeeded
    from agentlog.intel import analyze_error

    paths = sorted((log_dir / "archive").glob("agent-work-stream-*.jsonl.gz")) + [log_dir / "agent-work-stream.jsonl"]
    sessions: dict = defaultdict(
        lambda: {
            "ended": False,
            "ok": False,
            "cost": 0.0,
            "errors": 0,
            "followups": 0,
            "retry": False,
            "tokens": 0,
            "first": None,
            "last": None,
        }
    )
    clusters: dict = {}
    derived: dict = {}
    for path in paths:
        with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as handle:
            for raw in handle:
                try:
                    e = json.loads(raw)
                except ValueError:
                    continue
                s, kind, data, ts = sessions[e["attempt_id"]], e["event_type"], e.get("data") or {}, e["timestamp"]
                s["executor"] = e.get("executor")
                s["first"] = min(s["first"] or ts, ts)
                s["last"] = max(s["last"] or ts, ts)
                if kind == "usage":
                    s["cost"] += data.get("cost_usd") or 0
                    s["tokens"] += (data.get("input_tokens") or 0) + (data.get("output_tokens") or 0)
                elif kind == "session_end":
                    s.update(
                        ended=True,
                        ok=succeeded(data),
                        status=data.get("completion_status"),
                        duration=data.get("duration_ms"),
                    )
                elif kind == "followup_sent":
                    s["followups"] += 1
                elif kind == "session_start" and data.get("prompt_type") == "retry":
                    s["retry"] = True
                elif kind == "error":
                    s["errors"] += 1
                    message = data.get("error_message") or ""
                    fp = data.get("error_fingerprint")
                    if not fp:
                        fp = derived.get(message) or derived.setdefault(message, analyze_error(message).fingerprint)
                    c = clusters.setdefault(fp, {"n": 0, "attempts": set(), "tasks": set(), "first": ts, "last": ts})
                    c["n"] += 1
                    c["attempts"].add(e["attempt_id"])
                    c["tasks"].add(e.get("task_id"))
                    c["first"], c["last"] = min(c["first"], ts), max(c["last"], ts)
    ended = [s for s in sessions.values() if s["ended"]]
    if report == "summary":
        by_exec = Counter(s["executor"] for s in sessions.values())
        return {
            "sessions": len(sessions),
            "ended": len(ended),
            "succeeded": sum(s["ok"] for s in ended),
            "avg_duration_ms": sum(s["duration"] for s in ended) / len(ended),
            "total_cost_usd": round(sum(s["cost"] for s in sessions.values()), 6),
            "total_errors": sum(c["n"] for c in clusters.values()),
            "executors": len(by_exec),
            "top_error": max(clusters.items(), key=lambda kv: kv[1]["n"])[0],
        }
    if report == "errors":
        top = sorted(clusters.items(), key=lambda kv: (-kv[1]["n"], kv[0]))[:10]
        return {
            "total_errors": sum(c["n"] for c in clusters.values()),
            "total_clusters": len(clusters),
            "top": [(fp, c["n"], len(c["attempts"]), len(c["tasks"])) for fp, c in top],
        }
    groups = defaultdict(list)
    for s in sessions.values():
        groups[s["executor"]].append(s)
    return {
        name: {
            "sessions": len(g),
            "success": sum(s["ok"] for s in g),
            "first_shot": sum(s["ok"] and not s["followups"] and not s["retry"] for s in g),
        }
        for name, g in sorted(groups.items())
    }


def duckdb_report(report: str, log_dir: Path, cache: bool = True) -> dict:
    from agentlog import analytics

    data = analytics.load(log_dir, cache=cache)
    result = getattr(analytics, report)(data, **({"top": 10} if report == "errors" else {}))
    if report == "summary":
        top = result.top_errors[0]["fingerprint"] if result.top_errors else None
        return {
            "sessions": result.sessions,
            "ended": result.ended,
            "succeeded": result.succeeded,
            "avg_duration_ms": result.avg_duration_ms,
            "total_cost_usd": round(result.total_cost_usd, 6),
            "total_errors": result.total_errors,
            "executors": len(result.executors),
            "top_error": top,
        }
    if report == "errors":
        return {
            "total_errors": result.total_errors,
            "total_clusters": result.total_clusters,
            "top": [(c["fingerprint"], c["occurrences"], c["attempts"], c["tasks"]) for c in result.clusters],
        }
    return {
        r["executor"]: {
            "sessions": r["sessions"],
            "success": round((r["success_pct"] or 0) * r["ended"] / 100),
            "first_shot": round((r["first_shot_pct"] or 0) * r["ended"] / 100),
        }
        for r in sorted(result.rows, key=lambda r: r["executor"])
    }


# --- measuring ----------------------------------------------------------------------


JQ_LIMIT_S = 300


def measure(argv: list[str], shell: bool = False) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MiB, stdout) of one child process (and its own children)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, shell=shell)
    out = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{argv} failed with {proc.returncode}")
    return elapsed, usage.ru_maxrss / 1024, out


def best(argv: list[str], repeat: int, before=None) -> tuple[float, float, str]:
    runs = []
    for _ in range(repeat):
        if before:
            before()
        runs.append(measure(argv))
    return min(r[0] for r in runs), max(r[1] for r in runs), runs[-1][2]


def drop_cache(log_dir: Path) -> None:
    shutil.rmtree(log_dir / "state" / "analytics-cache", ignore_errors=True)


def jq_summary(log_dir: Path) -> None:
    archive = " ".join(str(p) for p in sorted((log_dir / "archive").glob("*.jsonl.gz")))
    jq = f"(zcat {archive}; cat {log_dir / 'agent-work-stream.jsonl'}) | jq -n -c '{JQ_SUMMARY}'"
    try:  # jq's reduce over an object of 100k sessions is slow: give it a bound
        took, mem, out = measure(["timeout", str(JQ_LIMIT_S), "bash", "-c", jq])
        print(f"jq summary: {took:.2f} s, peak {mem:.0f} MiB -> {out.strip()}")
    except SystemExit:
        print(f"jq summary: did not finish within {JQ_LIMIT_S} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-jq", action="store_true", help="skip the jq baseline (it may take minutes)")
    parser.add_argument("--run", nargs=3, metavar=("ENGINE", "REPORT", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        engine, report, folder = args.run
        result = (
            python_report(report, Path(folder))
            if engine == "python"
            else duckdb_report(report, Path(folder), cache=engine != "nocache")
        )
        print(json.dumps(result, sort_keys=True, default=str))
        return
    log_dir = data_dir(args.events)
    size = sum(p.stat().st_size for p in log_dir.rglob("*.jsonl*"))
    raw = (log_dir / "agent-work-stream.jsonl").stat().st_size
    print(
        f"{args.events:,} events: live {raw / 2**20:,.0f} MiB + gzip archive "
        f"{(size - raw) / 2**20:,.1f} MiB; {os.cpu_count()} CPUs; best of {args.repeat}"
    )
    me = [sys.executable, __file__, "--run"]
    print(
        f"{'report':<9} {'no cache':>9} {'cold':>9} {'warm':>9} {'peak MiB':>13} {'python loop':>12} "
        f"{'peak MiB':>9} {'speed-up no cache/cold/warm':>28}  same numbers"
    )
    for report in REPORTS:
        plain, plain_mem, plain_out = best(me + ["nocache", report, str(log_dir)], args.repeat)
        cold, cold_mem, cold_out = best(me + ["duckdb", report, str(log_dir)], args.repeat, lambda: drop_cache(log_dir))
        warm, warm_mem, warm_out = best(me + ["duckdb", report, str(log_dir)], args.repeat)
        slow, slow_mem, slow_out = measure(me + ["python", report, str(log_dir)])
        want = json.loads(slow_out)
        same = [_same(json.loads(out), want) for out in (plain_out, cold_out, warm_out)]
        same = "yes" if all(s == "yes" for s in same) else "; ".join(same)
        mems = f"{plain_mem:.0f}/{cold_mem:.0f}/{warm_mem:.0f}"
        ratios = f"{slow / plain:.1f}x / {slow / cold:.1f}x / {slow / warm:.1f}x"
        print(
            f"{report:<9} {plain:>7.2f} s {cold:>7.2f} s {warm:>7.2f} s {mems:>13} "
            f"{slow:>10.2f} s {slow_mem:>9.0f} {ratios:>28}  {same}"
        )
    if not args.no_jq:
        jq_summary(log_dir)
    cli, cli_mem, _ = best(
        [
            str(Path(sys.executable).parent / "agentlog"),
            "summary",
            "--days",
            "0",
            "--format",
            "json",
            "--log-dir",
            str(log_dir),
        ],
        args.repeat,
    )
    print(f"`agentlog summary --days 0` CLI (warm cache): {cli:.2f} s, peak {cli_mem:.0f} MiB")


def _same(a, b) -> str:
    def norm(x):
        if isinstance(x, float):
            return round(x, 4)
        if isinstance(x, dict):
            return {k: norm(v) for k, v in x.items()}
        if isinstance(x, list):
            return [norm(v) for v in x]
        return x

    return "yes" if norm(a) == norm(b) else f"NO: {a} vs {b}"


if __name__ == "__main__":
    main()
