"""The dashboard's Overview on 1,000,000 events: server time, bytes transferred, first paint.

Targets (issue 24): < 1 s of server time and < 2 MB transferred. The log is the analytics
benchmark's (analytics_data.py: 10% of it in a gzip archive). `agentlog serve` runs as a
user starts it; the Overview is asked for with `window=all` (every session counts):

- server time: the first request (it builds the analytics cache under state/) and the best
  of --repeat later ones (the cache reused: what every later visit costs);
- weight: the HTML plus every script and stylesheet it loads, as sent;
- first paint: Debian's chromium (Playwright) loading the page, `first-contentful-paint`,
  when chromium is installed.

The Sessions page and a Cost & tokens page are timed the same way beside it, and the
Sessions page's query both ways in the same run (in process, the cache warm): sorted and
paged in SQL (what the page does) and the old way (every session's row to Python, sorted
and cut there).

    .venv/bin/python benchmarks/dashboard_weight.py [--events 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from analytics_data import write_logs  # noqa: E402

PAGES = ("/?window=all", "/usage?window=all", "/sessions?window=all")
CHROMIUM = os.environ.get("AGENTLOG_CHROMIUM", "/usr/bin/chromium")


def fetch(url: str) -> tuple[float, bytes]:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=600) as response:
        body = response.read()
    return time.perf_counter() - start, body


def first_paint(url: str) -> float | None:
    if not Path(CHROMIUM).exists():
        return None
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--headless=new"])
        page = browser.new_page()
        page.goto(url, wait_until="load")
        paint = page.evaluate("(performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime")
        browser.close()
    return paint


def python_page(data, query, limit: int = 100) -> tuple[list[dict], int]:
    """The Sessions page the old way: every matching session's metrics row into Python,
    then sorted and cut there."""
    from agentlog import analytics
    from agentlog.web import data as views

    scope = views.scope_for(query.window, executor=query.executor, model=query.model, task=query.task)
    rows = [r for r in analytics.metrics(data, scope).sessions if not query.status or r["status"] == query.status]
    missing = [r for r in rows if r.get(query.sort) is None]
    rows = [r for r in rows if r.get(query.sort) is not None]
    rows.sort(key=lambda r: r[query.sort], reverse=query.dir == "desc")
    rows += missing
    start = (int(query.page) - 1) * limit
    return rows[start : start + limit], len(rows)


def sessions_both_ways(log_dir: Path, repeat: int) -> None:
    from agentlog import analytics
    from agentlog.web import data as views

    data = analytics.load(log_dir)
    try:
        for sort in ("started", "cost_usd"):
            query = views.SessionQuery(window="all", sort=sort, page="3")
            timed = {}
            for name, way in (("Python", python_page), ("SQL", views.sessions)):
                best = None
                for _ in range(repeat):
                    t = time.perf_counter()
                    rows, matched = way(data, query)
                    best = min(best or 1e9, time.perf_counter() - t)
                timed[name] = (best, [r["attempt_id"] for r in rows], matched)
            assert timed["Python"][1:] == timed["SQL"][1:], "the two ways disagree"
            print(
                f"Sessions page 3 by {sort} of {timed['SQL'][2]:,}: old way (sorted in Python) "
                f"{timed['Python'][0]:.3f} s, in SQL {timed['SQL'][0]:.3f} s"
            )
    finally:
        data.source.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="agentlog-dash-bench-") as tmp:
        log_dir = Path(tmp) / "logs"
        t = time.perf_counter()
        write_logs(log_dir, args.events)
        print(f"{args.events:,} events written in {time.perf_counter() - t:.1f} s")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        script = Path(sys.executable).with_name("agentlog")
        server = subprocess.Popen(
            [str(script), "serve", "--port", str(port), "--log-dir", str(log_dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    fetch(base + "/static/agentlog.css")
                    break
                except OSError:
                    time.sleep(0.1)
            print(f"{'page':22} {'first s':>8} {'warm s':>8} {'HTML KB':>8} {'total KB':>9}")
            for path in PAGES:
                first, html = fetch(base + path)
                warm = min(fetch(base + path)[0] for _ in range(args.repeat))
                assets = set(re.findall(rb'(?:src|href)="(/static/[^"]+)"', html))
                total = len(html) + sum(len(fetch(base + a.decode())[1]) for a in assets)
                print(f"{path:22} {first:8.2f} {warm:8.2f} {len(html) / 1024:8.1f} {total / 1024:9.1f}")
            paint = first_paint(base + PAGES[0])
            print(
                "first contentful paint of the Overview (warm): "
                + ("chromium not installed" if paint is None else f"{paint:.0f} ms")
            )
        finally:
            server.terminate()
            server.wait(timeout=30)
        sessions_both_ways(log_dir, args.repeat)


if __name__ == "__main__":
    main()
