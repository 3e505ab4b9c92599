"""Per-line cost of secret redaction on ~470-byte encoded events, clean and dirty.

Compares, in the same run: the Hyperscan prefilter, the literal (``in``) prefilter used
where Hyperscan is unavailable, and a naive baseline (one Python ``re`` alternation of
all default patterns, ``re.sub`` over every line).

    PYTHONPATH=src .venv/bin/python benchmarks/redact_speed.py
"""

from __future__ import annotations

import random
import re
import statistics
import string
import time
import uuid

import msgspec

from agentlog.redact import DEFAULT_PATTERNS, HAVE_HYPERSCAN, Redactor

rng = random.Random(42)
COMMANDS = [
    "pytest -q tests/test_auth.py --maxfail=1 && git status --short",
    "rg -n 'def login' src/ | head -20",
    "git log --oneline -5 && git diff --stat HEAD~1",
    "npm run build -- --mode production 2>&1 | tail -40",
    "python -m mypy src/app --ignore-missing-imports",
]


def event(text: str) -> bytes:
    return msgspec.json.encode({
        "timestamp": "2026-02-09T14:23:45.123Z", "attempt_id": "ve-a1b2-implement-auth",
        "session_id": str(uuid.UUID(int=rng.getrandbits(128))), "event_type": "tool_call",
        "task_id": str(uuid.UUID(int=rng.getrandbits(128))), "executor": "CODEX", "model": "claude-sonnet-4-5",
        "branch": "ve/a1b2-implement-auth",
        "data": {"tool_name": "Bash", "tool_params": {"command": text}, "input_tokens": rng.randrange(9999)},
        "elapsed_ms": rng.randrange(99999), "sequence_num": rng.randrange(999),
    })


def pad(line_text: str) -> bytes:
    line = event(line_text)
    return event(line_text + " # " + "".join(rng.choice(string.ascii_lowercase + " ") for _ in range(470 - len(line))))


def fake(prefix: str, n: int) -> str:
    return prefix + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(n))


CLEAN = [pad(rng.choice(COMMANDS)) for _ in range(1000)]
DIRTY = [pad(f"{rng.choice(COMMANDS)} && export GITHUB_TOKEN={fake('ghp_', 36)}") for _ in range(300)]
DIRTY += [pad(f"curl -H 'Authorization: Bearer {fake('', 40)}' https://api.example.com/v1") for _ in range(300)]
DIRTY += [pad(f"OPENAI_API_KEY={fake('sk-proj-', 48)} python eval.py") for _ in range(300)]
# Passwords in the everyday commands agents run (a column of their own: older versions
# of the patterns do not catch them).
CLI = [pad(f"mysql -u root -p{fake('', 12)} app < dump.sql") for _ in range(100)]
CLI += [pad(f"curl -s -u ci:{fake('', 16)} -H 'Cookie: sid={fake('', 20)}' https://x.example.com/api") for _ in range(100)]
CLI += [pad(f"docker login -u deploy -p {fake('', 16)} registry.example.com && vercel --token {fake('', 24)}")
        for _ in range(100)]


def baseline_redactor():
    # The naive approach: every pattern in one alternation, substituted on every line.
    sources = [p.replace("(?P<secret>", "(?:") for p in DEFAULT_PATTERNS.values()]
    rx = re.compile("|".join(f"(?:{s})" for s in sources).encode())
    return lambda line: rx.sub(b"[REDACTED]", line)


def per_line_us(fn, lines, min_seconds=0.4) -> float:
    best, rounds = float("inf"), 0
    start = time.perf_counter()
    while rounds < 3 or time.perf_counter() - start < min_seconds:
        t = time.perf_counter()
        for line in lines:
            fn(line)
        best = min(best, (time.perf_counter() - t) / len(lines))
        rounds += 1
    return best * 1e6


def p99_us(fn, lines) -> float:
    samples = []
    clock = time.perf_counter_ns
    for _ in range(20):
        for line in lines:
            t = clock()
            fn(line)
            samples.append(clock() - t)
    return statistics.quantiles(samples, n=100)[98] / 1000


def main() -> None:
    variants = []
    if HAVE_HYPERSCAN:
        variants.append(("hyperscan prefilter + re", Redactor(use_hyperscan=True)))
    variants.append(("literal prefilter + re", Redactor(use_hyperscan=False)))
    variants.append(("baseline: one re alternation", baseline_redactor()))
    for name, fn in variants[:-1]:  # sanity: the dirty lines really are redacted
        assert all(fn(line) is line for line in CLEAN) and all(fn(line) != line for line in DIRTY + CLI), name

    sizes = [len(x) for x in CLEAN + DIRTY + CLI]
    print(f"{len(DEFAULT_PATTERNS)} patterns; lines {min(sizes)}-{max(sizes)} bytes "
          f"(mean {statistics.mean(sizes):.0f}); {len(CLEAN)} clean, {len(DIRTY)} dirty, {len(CLI)} command lines")
    print(f"{'variant':30s} {'clean us':>9s} {'clean p99':>10s} {'dirty us':>9s} {'cmds us':>8s} "
          f"{'x baseline (clean)':>19s}")
    results = [(name, per_line_us(fn, CLEAN), p99_us(fn, CLEAN), per_line_us(fn, DIRTY), per_line_us(fn, CLI))
               for name, fn in variants]
    base = results[-1][1]
    for name, clean, p99, dirty, cmds in results:
        print(f"{name:30s} {clean:9.2f} {p99:10.2f} {dirty:9.2f} {cmds:8.2f} {base / clean:18.1f}x")


if __name__ == "__main__":
    main()
