"""What people read: recorded text never drives the terminal, tables keep their headers
whole, numbers and times in one format everywhere, and commands say what went wrong."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from agentlog import config
from agentlog.capture.api import Session
from agentlog.cli import COMMANDS, cli
from agentlog.recorder import Recorder
from agentlog.terminal import printable
from agentlog.web import format as fmt
from conftest import AGENTLOG

ESC, BEL, CSI8 = "\x1b", "\x07", "\x9b"
# a window title, a screen clear, a hidden OSC 8 link, a colour, a carriage return that
# would overwrite the line, a bidirectional override, and Rich markup that must not apply
HOSTILE = (f"boom {ESC}]0;PWNED{BEL}{ESC}[2J {ESC}]8;;http://evil.example{ESC}\\click{ESC}]8;;{ESC}\\ "
           f"{CSI8}31m red\rfake \u202egnp.exe [bold]not bold[/] [/]")
EXECUTOR = f"X{ESC}[31m"
# anything a terminal acts on: C0 controls but tab and newline, DEL, C1, bidirectional controls
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def record_hostile(log_dir: Path) -> None:
    """Sessions whose every recorded text field carries escape sequences and markup."""
    with Recorder(config.load({"log_dir": str(log_dir)}, environ={})) as rec:
        for i in range(2):
            s = Session(f"hostile-{i}", executor=EXECUTOR, model=f"m{ESC}[1m", task_id=f"t{ESC}[2J",
                        task_title=f"{HOSTILE} [s]", branch=HOSTILE, recorder=rec)
            s.start(prompt=HOSTILE)
            s.tool_call(f"Bash{ESC}[8m", {"command": HOSTILE}, call_id="c1")
            s.tool_result(f"Bash{ESC}[8m", "error", HOSTILE, call_id="c1")
            s.output(HOSTILE)
            s.status(HOSTILE, reason=HOSTILE)
            for _ in range(4):  # an error loop: the watchdog raises an alert about it
                s.error(HOSTILE, fingerprint=f"fp{ESC}]0;T{BEL}", category=f"c{ESC}[5m")
            s.usage(input_tokens=987654321012, output_tokens=5, cost_usd=0.25)
            s.end(HOSTILE)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Path:
    log_dir = tmp_path_factory.mktemp("hostile") / "logs"
    record_hostile(log_dir)
    assert invoke("watch", "--once", "--replay", "--quiet", "--log-dir", str(log_dir)).exit_code == 0
    return log_dir


def invoke(*args: str, input: str | None = None):
    # color=True: click keeps ANSI codes as on a terminal (in a pipe it strips some)
    return CliRunner().invoke(cli, list(args), color=True, input=input, catch_exceptions=False)


HUMAN = {  # every command that prints recorded text for people, as run below
    "summary": ["summary", "--days", "0", "--format", "table"],
    "errors": ["errors", "--days", "0", "--format", "table"],
    "errors --explain": ["errors", "--days", "0", "--format", "table", "--explain", f"fp{ESC}]0;T{BEL}"],
    "compare": ["compare", "--days", "0", "--format", "table"],
    "compare --by model": ["compare", "--days", "0", "--format", "markdown", "--by", "model"],
    "planning": ["planning", "--format", "table"],
    "backlog": ["backlog", "--format", "markdown"],
    "correlate": ["correlate", "--format", "table"],
    "metrics": ["metrics", "--days", "0", "--format", "table"],
    "replay": ["replay", "hostile-0"],
    "replay --full": ["replay", "hostile-0", "--full"],
    "alerts": ["alerts"],
    "du": ["du"],
    "report": ["report", "--days", "7"],
    "doctor": ["doctor"],
    "cluster": ["cluster", "-"],
    "advise": ["advise", "--days", "0", "--format", "table"],
    "risk": ["risk", "--replay"],
}
MACHINE = {"cat": "JSON lines: the data kept, control characters escaped by JSON",
           "emit": "records; its messages are checked below",
           "mcp": "JSON-RPC to the agent: the log's text only inside JSON strings"}


def test_emit_and_watch_messages_about_bad_lines_are_printable(tmp_path):
    bad = json.dumps({"attempt_id": "a", "event_type": HOSTILE, "timestamp": HOSTILE}) + "\n"
    result = invoke("emit", "-", "--log-dir", str(tmp_path), input=bad + f"{ESC}]0;T{BEL}\n")
    assert result.exit_code == 1 and result.stderr.count("stdin:") == 2
    assert not UNSAFE.findall(result.stderr)
    tmp_path.joinpath("agent-work-stream.jsonl").write_text(bad + '{"' + HOSTILE + '": [}\n')
    result = invoke("watch", "--once", "--replay", "--log-dir", str(tmp_path))
    assert "skipped" in result.stderr and not UNSAFE.findall(result.stdout + result.stderr)
ELSEWHERE = {"run": "passes the agent's own output through, as running it directly would",
             "demo": "prints its own simulated data", "import": "prints counts", "export": "prints counts", "enrich": "prints counts",
             "rotate": "prints the paths it moves", "serve": "the dashboard escapes for HTML",
             "fleet": "its tables use the same table printer", "hooks": "prints settings files it wrote",
             "hook": "JSON for the agent", "otel": "prints the address it listens on",
             "ab": "its tables (variant names, context hashes) go through the same table printer as advise's"}


def test_every_command_is_checked_or_says_why_not():
    checked = {c.split()[0] for c in HUMAN} | {"watch"}  # watch: its own test, below
    assert set(COMMANDS) == checked | set(MACHINE) | set(ELSEWHERE)


def test_watch_prints_alerts_about_hostile_text_escaped(tmp_path):
    record_hostile(tmp_path / "logs")
    result = invoke("watch", "--once", "--replay", "--log-dir", str(tmp_path / "logs"))
    assert "error_loop" in result.stdout and "\\x1b" in result.stdout
    assert not UNSAFE.findall(result.stdout + result.stderr)


@pytest.mark.parametrize("name", HUMAN)
def test_recorded_escape_sequences_never_reach_the_terminal(hostile, tmp_path, name):
    args = [*HUMAN[name], *(["--log-dir", str(hostile)] if name != "cluster" else [])]
    if name == "report":
        args += ["--out", str(tmp_path)]
    result = invoke(*args, input=HOSTILE + "\n" if name == "cluster" else None)
    out = result.stdout + result.stderr
    assert result.exit_code in (0, 1), out  # doctor: 1 when it finds a problem
    assert not UNSAFE.findall(out), f"{name}: {UNSAFE.findall(out)}"
    if name not in ("du", "doctor"):
        assert "\\x1b" in out  # shown, escaped: the reader sees something was there


def test_rich_markup_in_recorded_text_is_shown_as_written(hostile):
    out = invoke("errors", "--days", "0", "--format", "table", "--log-dir", str(hostile)).stdout
    assert "[bold]not" in out and "[/]" in out  # neither applied nor an error


def test_json_and_csv_keep_the_data(hostile):
    body = json.loads(invoke("compare", "--days", "0", "--format", "json", "--log-dir", str(hostile)).stdout)
    assert body["rows"][0]["executor"] == EXECUTOR
    rows = invoke("compare", "--days", "0", "--format", "csv", "--log-dir", str(hostile)).stdout
    assert EXECUTOR in rows


def test_printable_escapes_every_control_and_keeps_text():
    assert printable("plain: é 日本 \U0001f600\tok\n") == "plain: é 日本 \U0001f600\tok\n"
    assert printable(f"a{ESC}[2Jb\rc{CSI8}d\u202ee") == "a\\x1b[2Jb\\rc\\x9bd\\u202ee"
    assert printable("two\nlines\tand tab", one_line=True) == "two\\nlines\\tand tab"
    assert not UNSAFE.search(printable("".join(map(chr, range(0x2070))), one_line=True))


# --- tables ---------------------------------------------------------------------------


def test_tables_in_a_pipe_keep_every_header_on_one_line(hostile):
    out = invoke("compare", "--days", "0", "--format", "table", "--log-dir", str(hostile)).stdout
    header = next(line for line in out.splitlines() if "sessions" in line)
    for label in ("sessions", "success", "first shot", "avg duration", "avg cost", "total cost", "avg tokens",
                  "avg errors", "top failure"):
        assert label in header


@pytest.mark.parametrize("width", [80, 100, 140])
def test_tables_on_a_terminal_fit_it_and_break_headers_only_between_words(width):
    from rich.console import Console

    from agentlog.cli.table import print_table

    columns = [("executor", False), ("sessions", True), ("ended", True), ("success", True), ("first shot", True),
               ("avg duration", True), ("avg cost", True), ("total cost", True), ("avg tokens", True),
               ("avg errors", True), ("top failure", False)]
    rows = [["CLAUDE_CODE", "12", "11", "67%", "50%", "1m 23s", "$0.03", "$1.23", "12.3k", "1.2",
             "fatal_not_a_git-16c2dea5"], ["CODEX", "7", "6", "100%", "100%", "14.0s", "$0.02", "$0.14", "1.2k",
                                         "0", "-"]]
    console = Console(file=io.StringIO(), force_terminal=True, width=width, color_system=None)
    print_table("By executor", columns, rows, console)
    lines = console.file.getvalue().splitlines()
    assert max(map(len, lines)) <= width
    text = "\n".join(lines)
    words = {w for header, _ in columns for w in header.split()}
    for word in words:  # every header word whole, somewhere in the header lines
        assert re.search(rf"(?<![a-z]){word}(?![a-z])", text), (width, word)
    for value in ("$0.03", "$1.23", "12.3k", "100%"):  # numbers never folded
        assert value in text


# --- numbers and times ------------------------------------------------------------------


@pytest.mark.parametrize("n, shown", [(0, "0"), (950, "950"), (12_345, "12.3k"), (999_999, "1.0M"),
                                      (123_456_789_012, "123.5G"), (123_456_789_012_345, "123.5T"),
                                      (123456789012345683968, "123.5E"), (1.2e23, "1.2e+23"),
                                      (float("inf"), "inf"), (None, "-")])
def test_counts_have_sane_units(n, shown):
    assert fmt.count(n) == shown


def test_table_values_carry_their_unit(hostile):
    out = invoke("summary", "--days", "0", "--format", "table", "--log-dir", str(hostile)).stdout
    assert "avg duration" in out and "avg duration ms" not in out
    assert re.search(r"\d+(ms|\.\ds)\b", out)  # a duration, not raw milliseconds
    assert "0%" in out and "$0.50" in out  # percent and money, rounded as everywhere
    assert fmt.cell("avg_duration_ms", 83_000.0) == "1m 23s" and fmt.cell("success_pct", 58.333) == "58%"
    assert fmt.cell("avg_errors", 4.0) == "4" and fmt.cell("avg_errors", 1.25) == "1.2"


def test_csv_writes_whole_numbers_as_integers(hostile, tmp_path):
    text = invoke("compare", "--days", "0", "--format", "csv", "--log-dir", str(hostile)).stdout
    [row] = list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))
    assert row["sessions"] == "2" and row["avg_tokens"] == "987654321017"
    assert row["avg_cost_usd"] == "0.25" and row["success_pct"] == "0"
    assert invoke("metrics", "--days", "0", "--csv", str(tmp_path / "m.csv"), "--log-dir", str(hostile)).exit_code == 0
    exported = list(csv.DictReader(open(tmp_path / "m.csv")))
    assert exported[0]["tool_calls"] == "1" and exported[0]["input_tokens"] == "987654321012"
    assert re.fullmatch(r"\d+", exported[0]["duration_ms"])


def test_replay_prints_whole_timestamps_and_sane_token_counts(hostile):
    out = invoke("replay", "hostile-0", "--log-dir", str(hostile)).stdout
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} ", out, re.M)
    assert "987.7G tokens" in out and "e+" not in out.split("tokens")[0][-30:]


def test_alerts_read_in_arrival_order(tmp_path):
    from agentlog.events import Alert, encode

    # raised in this order; the second about an agent idle since long before the first
    raised = [("2026-02-09T10:00:00.000Z", "2026-02-09T09:59:58.000Z", "error_loop"),
              ("2026-02-09T10:05:00.000Z", "2026-02-09T09:00:00.000Z", "stuck_agent")]
    tmp_path.joinpath("agent-alerts.jsonl").write_bytes(b"".join(
        encode(Alert(timestamp=t, event_time=e, type=kind, attempt_id="a", severity="high",
                     recommendation="fresh_session")) + b"\n" for t, e, kind in raised))
    lines = invoke("alerts", "--log-dir", str(tmp_path)).stdout.splitlines()
    assert [line.split()[0] for line in lines] == [t for t, _, _ in raised]  # the first column reads in order
    assert "(event 2026-02-09T09:00:00.000Z)" in lines[1]  # when it happened stays on the line


def test_du_shows_when_the_alerts_span(hostile):
    out = invoke("du", "--log-dir", str(hostile)).stdout
    alerts = next(line for line in out.splitlines() if "alerts" in line)
    assert len(re.findall(r"\d{4}-\d\d-\d\dT", alerts)) == 2


# --- commands that say what is wrong ------------------------------------------------------


@pytest.mark.parametrize("command", ["summary", "errors", "compare", "planning", "backlog", "correlate",
                                     "metrics", "report", "du", "alerts", "replay x"])
def test_a_log_dir_that_does_not_exist_is_an_error(tmp_path, command):
    result = invoke(*command.split(), "--log-dir", str(tmp_path / "typo"))
    assert result.exit_code == 1
    assert "does not exist" in result.stderr and str(tmp_path / "typo") in result.stderr


def test_serve_refuses_a_log_dir_that_does_not_exist(tmp_path):
    # a subprocess with a deadline: a server that starts anyway must not hang the suite
    result = subprocess.run([*AGENTLOG, "serve", "--port", "1", "--log-dir", str(tmp_path / "typo")],
                            capture_output=True, timeout=60)
    assert result.returncode == 1 and b"does not exist" in result.stderr


def test_compare_names_an_unknown_executor_and_lists_the_known(hostile):
    result = invoke("compare", "CODEXX", "--log-dir", str(hostile))
    assert result.exit_code == 2
    assert "unknown executor 'CODEXX'" in result.stderr and "X\\x1b[31m" in result.stderr
    assert "--days 0" not in result.stderr
    result = invoke("summary", "--model", "gpt-9", "--log-dir", str(hostile))
    assert result.exit_code == 2 and "unknown model 'gpt-9'" in result.stderr
