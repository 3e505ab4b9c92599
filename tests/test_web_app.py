"""The dashboard over HTTP (in process): pages, filters, escaping, read-only, token, live stream."""

from __future__ import annotations

import asyncio
import html
import json
import re

import pytest
from starlette.testclient import TestClient

from agentlog.events import Alert, encode
from agentlog.store import layout
from agentlog.web.app import create_app
from agentlog.web.live import alert_events, position

import viewdata

LOCAL = "http://127.0.0.1"


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("web") / "logs"
    return log_dir, viewdata.build(log_dir)


@pytest.fixture
def client(logs):
    with TestClient(create_app(logs[0]), base_url=LOCAL) as c:
        yield c


@pytest.mark.parametrize(
    "path, expected",
    [
        ("/", "Success rate"),
        ("/sessions", "claude-loop-0"),
        ("/alerts", "error_loop"),
        ("/executors", "CLAUDE_CODE"),
        ("/errors", "fatal_not_a_git"),
        ("/sessions/claude-loop-0", "ALERT error_loop"),
        ("/?window=30d", "Sessions"),
        ("/static/uPlot.iife.min.js", "uPlot"),
    ],
)
def test_pages_render_with_data(client, path, expected):
    response = client.get(path)
    assert response.status_code == 200 and expected in response.text
    if path.startswith("/static"):
        return
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]


def test_session_filters_and_search(client):
    rows = lambda r: r.text.count('class="session-row"')  # noqa: E731
    assert rows(client.get("/sessions")) == 9
    codex = client.get("/sessions?executor=codex")
    assert rows(codex) == 4 and "claude-loop" not in codex.text.split('id="sessions"')[1]
    assert rows(client.get("/sessions?status=failed")) == 4
    assert rows(client.get("/sessions?status=open")) == 1
    assert rows(client.get("/sessions?model=gemini-2.5-pro")) == 1
    assert rows(client.get("/sessions?task=task-git")) == 3
    assert rows(client.get("/sessions?q=release+branch")) == 3  # task title
    assert rows(client.get("/sessions?q=fatal_not_a_git")) == 4  # error fingerprint
    assert rows(client.get("/sessions?window=all")) == 13


def test_agent_text_is_escaped_everywhere(client):
    for path in ("/sessions", "/sessions/xss-0", "/errors", "/"):
        text = client.get(path + "?window=all" if path != "/sessions/xss-0" else path).text
        assert "<img src=x" not in text and "<script>window.__xss" not in text
    page = client.get("/sessions/xss-0").text
    assert "&lt;img src=x onerror=window.__xss=1&gt;" in page
    assert "&lt;script&gt;window.__xss=2&lt;/script&gt;" in page


def test_unknown_session_is_404(client):
    response = client.get("/sessions/does-not-exist")
    assert response.status_code == 404 and "does-not-exist" in response.text


def test_read_only_and_local_only(client):
    for method in ("post", "put", "delete", "patch"):
        assert getattr(client, method)("/sessions").status_code == 405
    assert client.get("/", headers={"host": "evil.example:8765"}).status_code == 403  # DNS rebinding
    assert client.get("/", headers={"host": "localhost:8765"}).status_code == 200


TOKEN = "s3cret-0123456789abcdef"


def test_a_token_is_checked_on_every_request(logs):
    with TestClient(create_app(logs[0], token=TOKEN), base_url="http://0.0.0.0", follow_redirects=False) as c:
        assert c.get("/").status_code == 401
        assert c.get("/alerts/stream").status_code == 401
        assert c.get("/?token=wrong").status_code == 401
        assert c.get("/", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200
        c.cookies.clear()
        assert c.get("/sessions").status_code == 401


def test_a_token_in_the_url_becomes_a_cookie_and_leaves_the_url(logs):
    with TestClient(create_app(logs[0], token=TOKEN), base_url="http://0.0.0.0", follow_redirects=False) as c:
        first = c.get(f"/sessions?executor=CODEX&token={TOKEN}&q=")
        assert first.status_code == 303 and first.headers["location"] == "/sessions?executor=CODEX&q="
        cookie = first.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in first.text
        assert c.get("/sessions?executor=CODEX").status_code == 200  # the cookie carries it on
        assert (
            c.get(f"http://0.0.0.0//evil.example/?token={TOKEN}").headers["location"] == "/evil.example/"
        )  # never off-site


def test_a_foreign_origin_is_refused(client):
    assert client.get("/", headers={"origin": "https://evil.example"}).status_code == 403
    assert client.get("/", headers={"origin": "null"}).status_code == 403
    assert client.get("/", headers={"origin": "http://127.0.0.1"}).status_code == 200  # its own


def test_serve_refuses_a_public_address_without_a_token(cli, logs):
    result = cli("serve", "--host", "0.0.0.0", "--log-dir", str(logs[0]))
    assert result.returncode == 2 and b"token" in result.stderr
    short = cli("serve", "--host", "0.0.0.0", "--token", "a", "--log-dir", str(logs[0]))
    assert short.returncode == 2 and b"at least 16" in short.stderr and b"Traceback" not in short.stderr


def test_serve_prints_where_it_listens_but_never_the_token(logs):
    import subprocess
    import sys
    import urllib.request

    proc = subprocess.Popen(
        [sys.executable, "-m", "agentlog", "serve", "--port", "0", "--token", TOKEN, "--log-dir", str(logs[0])],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        line = proc.stderr.readline().decode()
        url = line.split()[2]
        request = urllib.request.Request(url + "sessions", headers={"Authorization": f"Bearer {TOKEN}"})
        assert urllib.request.urlopen(request, timeout=30).status == 200  # listening once announced
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    assert url.startswith("http://127.0.0.1:") and "?token=" in line
    assert TOKEN not in line + err.decode() and TOKEN.encode() not in out


def test_alert_stream_sends_new_alerts_as_safe_json(tmp_path):
    path = tmp_path / layout.ALERTS
    path.write_bytes(
        encode(
            Alert(
                timestamp="2026-02-09T10:00:00.000Z", type="old", attempt_id="a", severity="low", recommendation="none"
            )
        )
        + b"\n"
    )
    after = position(path)
    payload = Alert(
        timestamp="2026-02-09T10:00:01.000Z",
        type="error_loop",
        attempt_id="a\n\ndata: x",
        severity="high",
        recommendation="fresh_session",
        message=f"{viewdata.XSS}\u2028",
    )

    async def collect():
        stop = asyncio.Event()
        events = alert_events(path, after, lambda: _done(stop))
        out = [await anext(events)]  # retry hint
        with open(path, "ab") as handle:
            handle.write(encode(payload) + b"\n")
        out.append(await anext(events))
        stop.set()
        return out

    retry, event = asyncio.run(collect())
    assert retry.startswith("retry:")
    lines = event.strip("\n").split("\n")
    assert lines[1] == "event: alert" and len(lines) == 3  # the attempt's newlines did not split it
    data = json.loads(lines[2].removeprefix("data: "))
    assert data["type"] == "error_loop" and data["message"].startswith(viewdata.XSS)
    assert "\u2028" not in lines[2]  # non-ASCII escaped


async def _done(stop: asyncio.Event) -> bool:
    return stop.is_set()


def test_sessions_pages_cover_every_match_once_in_the_chosen_order(logs):
    from agentlog import analytics
    from agentlog.web import data as views

    data = analytics.load(logs[0])
    try:
        everything, matched = views.sessions(data, views.SessionQuery(window="all", sort="cost_usd", dir="asc"))
        pages = [
            views.sessions(data, views.SessionQuery(window="all", sort="cost_usd", dir="asc", page=str(n)), limit=4)[0]
            for n in (1, 2, 3, 4)
        ]
    finally:
        data.source.close()
    assert matched == 13 and [r["attempt_id"] for p in pages for r in p] == [r["attempt_id"] for r in everything]
    costs = [r["cost_usd"] for r in everything if r["cost_usd"] is not None]
    assert costs == sorted(costs) and len(set(costs)) > 1


def test_a_sessions_page_is_filtered_sorted_and_cut_in_sql(logs, monkeypatch):
    """No query behind a page brings back more rows than the page shows (1M events made
    the page sort 20,000 rows in Python), and the page is the reference's order and filter."""
    from agentlog import analytics
    from agentlog.analytics.sessions import Dataset
    from agentlog.web import data as views

    reference = _metric_rows(logs[0])
    fetched: list[int] = []
    query = Dataset.query

    def counted(self, sql, params=None):
        rows = query(self, sql, params)
        fetched.append(len(rows))
        return rows

    monkeypatch.setattr(Dataset, "query", counted)
    data = analytics.load(logs[0])
    try:
        for status, q in (("", ""), ("failed", ""), ("", "claude")):
            wanted = views.SessionQuery(window="all", sort="errors", dir="desc", status=status, q=q)
            fetched.clear()
            rows, matched = views.sessions(data, wanted, limit=3)
            assert max(fetched) <= 3
            expected = [
                r
                for r in reference
                if (not status or r["status"] == status)
                and (not q or q in (r["attempt_id"] + (r["task_title"] or "")).lower())
            ]
            expected.sort(key=lambda r: r["errors"], reverse=True)  # stable: ties in start order
            assert matched == len(expected) and [r["attempt_id"] for r in rows] == [
                r["attempt_id"] for r in expected[:3]
            ]
    finally:
        data.source.close()


def test_sessions_query_refuses_odd_sort_and_page(client):
    query = __import__("agentlog.web.data", fromlist=["x"]).SessionQuery.from_params(
        {"sort": "drop table", "dir": "sideways", "page": "-3"}
    )
    assert (query.sort, query.dir, query.page) == ("started", "desc", "1")
    page = client.get("/sessions?window=all&page=2")
    assert page.status_code == 200 and 'rel="prev"' in page.text and 'class="session-row"' not in page.text


def test_usage_splits_cost_and_tokens_by_day_and_model_and_exports_what_is_shown(client, logs):
    rows = _metric_rows(logs[0])
    page = client.get("/usage?window=all&by=executor")
    assert page.status_code == 200 and "cache write" in page.text and "cache read" in page.text
    exported = client.get("/usage?window=all&by=executor&format=json")
    assert exported.headers["content-disposition"].endswith('usage-by-executor.json"')
    table = exported.json()
    assert sum(r["sessions"] for r in table) == len(rows)
    assert round(sum(r["cost_usd"] for r in table), 6) == round(sum(r["cost_usd"] or 0 for r in rows), 6)
    assert sum(r["input_tokens"] for r in table) == sum(r["input_tokens"] or 0 for r in rows)
    claude = [r for r in table if r["executor"] == "CLAUDE_CODE"]
    assert sum(r["sessions"] for r in claude) == sum(1 for r in rows if r["executor"] == "CLAUDE_CODE")
    csv_text = client.get("/usage?window=all&by=executor&format=csv").text
    assert csv_text.splitlines()[0] == (
        "day,executor,sessions,input_tokens,output_tokens,cache_creation_tokens,cache_read_tokens,cost_usd"
    )
    assert len(csv_text.splitlines()) == len(table) + 1


def test_usage_counts_each_usage_event_on_its_own_day_so_a_session_crossing_midnight_splits(tmp_path):
    from watchkit import BASE, ev, write

    midnight = BASE + 86400  # 2026-01-02T00:00:00Z
    write(
        tmp_path / layout.STREAM,
        ev("night", "session_start", midnight - 1800, model="m1"),
        ev("night", "usage", midnight - 1200, input_tokens=100, output_tokens=10, cost_usd=1.0),
        ev("night", "usage", midnight + 1200, input_tokens=300, output_tokens=30, cost_usd=2.0),
        ev("night", "session_end", midnight + 1800, completion_status="success", cost_usd=3.0),
        # no usage events: what its end says counts on the day it started
        ev("day", "session_start", midnight + 3600),
        ev("day", "session_end", midnight + 7200, completion_status="success", cost_usd=0.5, total_tokens=9),
    )
    with TestClient(create_app(tmp_path), base_url=LOCAL) as client:
        days = {r["day"]: r for r in client.get("/usage?window=all&by=executor&format=json").json()}
        assert {d: (r["sessions"], r["input_tokens"], r["cost_usd"]) for d, r in days.items()} == {
            "2026-01-01": (1, 100, 1.0),
            "2026-01-02": (2, 300, 2.5),
        }
        second = client.get("/usage?from=2026-01-02&to=2026-01-02&format=json").json()
        assert [(r["day"], r["cost_usd"]) for r in second] == [("2026-01-02", 2.5)]
        page = client.get("/usage?window=all&by=executor").text
    assert "by day of use" in page


def test_advice_page_is_the_advise_library_call_priced_with_the_settings(logs):
    from agentlog import analytics
    from agentlog.analytics.advise import advise
    from agentlog.capture.pricing import Pricing
    from agentlog.formatting import money

    free = {"claude-sonnet-4-5": {"input": 0, "cache_write": 0, "cache_read": 0, "output": 0}}
    shown = []
    for pricing in (None, free):
        data = analytics.load(logs[0])
        try:
            expected = advise(data, analytics.Scope(), pricing=Pricing.load(pricing))
        finally:
            data.source.close()
        assert expected.findings
        with TestClient(create_app(logs[0], pricing=pricing), base_url=LOCAL) as client:
            page = client.get("/advice?window=all")
        assert page.status_code == 200 and 'href="/advice?window=all" class="active">Advice</a>' in page.text
        rows = re.findall(
            r'<tr class="finding" data-kind="([^"]+)">\s*<td>[^<]*</td>\s*<td class="num">([^<]*)<', page.text
        )
        assert [(kind, html.unescape(usd)) for kind, usd in rows] == [
            (f.kind, money(f.usd_per_week)) for f in expected.findings
        ]
        for f in expected.findings:
            for attempt in f.evidence.get("sessions_list", []):
                assert f'href="/sessions/{attempt}"' in page.text
        shown.append(rows)
    assert shown[0] != shown[1]  # the [pricing] settings reach the page


def test_a_date_range_picks_the_sessions_started_in_it(client):
    import datetime as dt

    today = dt.datetime.now(dt.timezone.utc).date()
    first = (today - dt.timedelta(days=11)).isoformat()
    last = (today - dt.timedelta(days=8)).isoformat()
    table = client.get(f"/usage?from={first}&to={last}&format=json").json()
    assert sum(r["sessions"] for r in table) == 4  # the week before: 3 codex, 1 claude
    assert all(first <= r["day"] <= last for r in table)
    assert client.get("/usage?from=garbage&window=all").status_code == 200


def test_exported_text_cannot_run_as_a_spreadsheet_formula():
    from agentlog.web.data import export_rows

    out = export_rows([{"a": '=HYPERLINK("http://evil")', "b": "-1+2", "c": 3}], ["a", "b", "c"], "csv").decode()
    assert out.splitlines()[1].startswith("\"'=HYPERLINK") and ",'-1+2," in out


def test_search_across_sessions_finds_tool_input_and_error_text(client, logs):
    rows = _metric_rows(logs[0])
    with_errors = {r["attempt_id"] for r in rows if r["errors"]}
    assert with_errors
    found = {r["attempt_id"] for r in client.get("/sessions?window=all&q=GIT PUSH&format=json").json()}
    assert found == with_errors  # only the sessions that ran `git push` (tool input)
    deep = {r["attempt_id"] for r in client.get("/sessions?window=all&q=repo-2/.git&format=json").json()}
    assert deep and deep < with_errors  # the third error's text, met by sessions with 3 errors or more
    assert client.get("/sessions?window=all&q=nothing-like-this&format=json").json() == []


def test_a_long_session_is_paged_and_searched_server_side(tmp_path):
    from agentlog import config
    from agentlog.capture.api import Session
    from agentlog.recorder import Recorder

    log_dir = tmp_path / "logs"
    with Recorder(config.load({"log_dir": str(log_dir)}, environ={}, cwd=tmp_path)) as recorder:
        session = Session("long-1", executor="CODEX", recorder=recorder)
        session.emit("session_start", {"prompt": "go"})
        for i in range(1200):
            session.emit("agent_output", {"output": f"step {i} needle-{i % 7}"})
    with TestClient(create_app(log_dir), base_url=LOCAL) as c:
        first = c.get("/sessions/long-1")
        assert first.text.count('data-kind="agent_output"') == 499  # 500 entries: the start, then outputs
        assert "page 1 of 3" in first.text and 'rel="next"' in first.text
        last = c.get("/sessions/long-1?page=3")
        assert last.text.count("<li ") == 201 and 'rel="prev"' in last.text
        found = c.get("/sessions/long-1?q=NEEDLE-3")
        assert "171 of 1201 entries match" in found.text  # i % 7 == 3 for 171 of 0..1199
        assert found.text.count('data-kind="agent_output"') == 171
        assert len(first.content) < 1_000_000


def test_alerts_filter_and_acknowledge_from_the_page_only(tmp_path):
    log_dir = tmp_path / "logs"
    viewdata.build(log_dir)
    with TestClient(create_app(log_dir), base_url=LOCAL) as c:
        page = c.get("/alerts?type=error_loop")
        ids = re.findall(r'name="alert_id" value="([0-9a-f]+)"', page.text)
        assert ids and "tool_loop</td>" not in page.text
        forged = c.post("/alerts/ack", data={"alert_id": ids[0]})  # no Origin: not from our page
        assert forged.status_code == 403
        elsewhere = c.post("/alerts/ack", data={"alert_id": ids[0]}, headers={"origin": "http://evil.example"})
        assert elsewhere.status_code == 403
        done = c.post(
            "/alerts/ack",
            data={"alert_id": ids[0], "back": "?type=error_loop&show=open"},
            headers={"origin": LOCAL},
            follow_redirects=False,
        )
        assert done.status_code == 303 and done.headers["location"] == "/alerts?type=error_loop&show=open"
        assert ids[0] not in c.get("/alerts?type=error_loop&show=open").text
        assert "acknowledged" in c.get("/alerts?type=error_loop").text
        bad = c.post("/alerts/ack", data={"alert_id": "../../etc"}, headers={"origin": LOCAL})
        assert bad.status_code == 400
        assert c.put("/alerts/ack", headers={"origin": LOCAL}).status_code == 405
    assert (log_dir / "state" / "alerts-acknowledged.jsonl").read_text().count("\n") == 1
    assert (log_dir / layout.ALERTS).read_bytes().count(ids[0].encode()) == 1  # the journal is untouched


def _metric_rows(log_dir) -> list[dict]:
    """Every session's metrics row, straight from the analytics library (the reference)."""
    from agentlog import analytics

    data = analytics.load(log_dir)
    try:
        return analytics.metrics(data, analytics.Scope()).sessions
    finally:
        data.source.close()


def test_session_charts_add_up_cost_and_tokens_and_thin_long_sessions():
    from agentlog.replay import Entry
    from agentlog.web.data import MAX_POINTS, session_charts
    from watchkit import BASE, iso

    def usage(i):
        return Entry("usage", iso(BASE + i), None, None, "", tokens=10.0, cost_usd=0.5)

    entries = [
        Entry("tool_call", iso(BASE), None, None, ""),
        usage(3),
        usage(4),
        Entry("alert", iso(BASE + 4), None, None, ""),
        Entry("tool_call", "not a time", None, None, ""),
    ]
    small = session_charts(entries)
    assert small == {
        "x": [BASE, BASE + 3, BASE + 4],
        "cost": [0, 0.5, 1.0],
        "tokens": [0, 10.0, 20.0],
        "step_s": [0, 3.0, 1.0],
    }
    long = session_charts([usage(i) for i in range(10_000)] + [usage(20_000)])
    assert len(long["x"]) <= MAX_POINTS + 1 and long["x"][-1] == BASE + 20_000
    assert long["cost"][-1] == 10_001 * 0.5 and max(long["step_s"]) == 10_001.0


def test_alert_stream_resumes_across_a_rotation_of_the_alerts_log(tmp_path):
    """A browser that reconnects with the id of its last alert gets the alerts written
    after it, also those written just before the alerts log was rotated away."""
    from agentlog import config
    from agentlog.store.rotate import rotate

    path = tmp_path / layout.ALERTS

    def alert(kind: str) -> bytes:
        a = Alert(timestamp="2026-02-09T10:00:00.000Z", type=kind, attempt_id="a", severity="low", recommendation="x")
        return encode(a) + b"\n"

    path.write_bytes(alert("seen"))
    after = position(path)
    with open(path, "ab") as handle:
        handle.write(alert("written-before-the-rotation"))
    settings = config.load(environ={"AGENT_WORK_LOG_DIR": str(tmp_path), "AGENT_WORK_LOG_MAX_SIZE_MB": "0.0001"})
    assert rotate(settings, grace_s=0).count("rotate") >= 1
    path.write_bytes(alert("written-after-it"))

    async def collect():
        stop = asyncio.Event()
        events = alert_events(path, after, lambda: _done(stop))
        out = [await anext(events) for _ in range(3)]
        stop.set()
        return out

    _, *sent = asyncio.run(collect())
    kinds = [json.loads(event.strip("\n").split("\n")[2].removeprefix("data: "))["type"] for event in sent]
    assert kinds == ["written-before-the-rotation", "written-after-it"]
