"""The template miner: what it learns, what it keeps apart, what it remembers, what it forgets."""

import importlib.util
import json
import os
import random
import select
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentlog.intel import TemplateMiner, cluster_lines, fingerprint_of
from agentlog.intel.persistence import FilePersistence, MemoryPersistence

ROOT = Path(__file__).parents[1]
SRC = str(ROOT / "src")
AGENT_ERRORS = [json.loads(line) for line in (Path(__file__).parent / "data" / "agent_errors.jsonl").open()]
FUZZ_EXAMPLES = int(os.environ.get("AGENTLOG_FUZZ_EXAMPLES", "60"))
USERS = ["root", "git", "mysql", "oracle", "deploy", "alice"]


def ids(lines: list[str]) -> list[str]:
    return [fingerprint for fingerprint, _ in cluster_lines(lines)]


def one_cluster(lines: list[str]) -> bool:
    return len(set(ids(lines))) == 1


def grouping_accuracy(predicted: list[str], truth: list[str]) -> float:
    """The benchmark's measure (a message counts when its group holds exactly its event's)."""
    spec = importlib.util.spec_from_file_location("loghub_grouping", ROOT / "benchmarks" / "loghub_grouping.py")
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    return benchmark.grouping_accuracy(predicted, truth)


# -- 1. word-like values are generalized --------------------------------------------------


def test_user_names_are_learned_as_a_variable():
    lines = [f"Failed password for {user} from 10.0.0.{i} port {4000 + i} ssh2" for i, user in enumerate(USERS)]
    assert one_cluster(lines)
    assert dict(cluster_lines(lines)).popitem()[1] == "Failed password for <*> from <IP> port <NUM> ssh<NUM>"


def test_weekday_and_month_names_in_dates_are_values():
    lines = [
        "Last login: Sun Jul  3 10:05:25 2005 from 10.0.0.1",
        "Last login: Mon Aug 15 00:00:01 2005 from 10.0.0.2",
        "Last login: Tue, 04 Jun 2024 10:00:00 GMT from 10.0.0.3",
    ]
    assert len({fingerprint_of(line) for line in lines[:2]}) == 1  # no learning needed
    assert one_cluster(lines)


def test_dotted_service_names_are_learned_as_a_variable():
    services = ["com.apple.xpc.launchd", "com.example.worker", "org.acme.billing.api", "io.agentlog.watchdog"]
    assert one_cluster([f"launchctl: service {name} failed to start: exit code {i}" for i, name in enumerate(services)])


def test_a_learned_variable_carries_over_to_a_sibling_event():
    miner = TemplateMiner()
    for user in USERS[:3]:
        miner.add(f"Failed password for {user} from 10.0.0.1 port 22 ssh2")
    accepted = miner.add("Accepted password for root from 10.0.0.1 port 22 ssh2")
    assert accepted.template == "Accepted password for <*> from <IP> port <NUM> ssh<NUM>"
    assert miner.add("Accepted password for bob from 10.0.0.1 port 22 ssh2") == accepted


def test_a_variable_learned_later_reaches_sibling_events_seen_before():
    lines = [
        "Accepted password for root from 10.0.0.1 port 22 ssh2",
        "Accepted password for git from 10.0.0.1 port 22 ssh2",
    ]
    lines += [f"Failed password for {user} from 10.0.0.1 port 22 ssh2" for user in USERS[:3]]
    answers = list(cluster_lines(lines))
    assert (
        answers[0]
        == answers[1]
        == (fingerprint_of(lines[0]), "Accepted password for <*> from <IP> port <NUM> ssh<NUM>")
    )
    assert answers[0] != answers[2]


# -- 2. variable-length values join one template ---------------------------------------------


@pytest.mark.parametrize(
    "lines",
    [
        [
            "proxy.example.hk:5070 close, 1,024 bytes (1.0 KB) sent, 512 bytes received, lifetime 00:02",
            "proxy.example.hk:5070 close, 0 bytes sent, 0 bytes received, lifetime <1 sec",
            "proxy.example.hk:5070 close, 3,411 bytes (3.33 KB) sent, 9,122 bytes (8.90 KB) received, lifetime 01:12",
        ],
        [
            "Rate limit reached. Please try again in 20s.",
            "Rate limit reached. Please try again in 350ms.",
            "Rate limit reached. Please try again in 1.5 seconds.",
            "Rate limit reached. Please try again in 1m12s.",
        ],
        [
            "cron started at Jul 3 10:05:25",
            "cron started at Sun Jul  3 10:05:25 2005",
            "cron started at 2005-07-03 10:05:25",
        ],
        [
            "we failed to resolve data source name an14 an15",
            "we failed to resolve data source name bn1 bn2 bn3 bn4 bn5",
        ],
        [
            "error: could not compile `serde` (lib) due to 1 previous error",
            "error: could not compile `tokio` (lib) due to 12 previous errors",
        ],
    ],
    ids=["optional-part", "duration-units", "date-words", "list", "plural"],
)
def test_values_of_different_lengths_join_one_template(lines):
    assert one_cluster(lines)


# -- 3. masking does not merge distinct events -------------------------------------------------


@pytest.mark.parametrize(
    "apart",
    [
        ["proxy example.org:1080 via SOCKS5: handshake failed", "proxy example.org:1080 via HTTPS: handshake failed"],
        [
            "pam_unix(login:auth): authentication failure; logname= uid=0 tty=:0 ruser= rhost= user=root",
            "pam_unix(login:auth): authentication failure; logname= uid=0 tty=ssh ruser= rhost= user=root",
        ],
        [
            "invalid provider config: base_url= model=gpt-4o",
            "invalid provider config: base_url=https://api.example.com/v1 model=gpt-4o",
        ],
    ],
    ids=["digits-in-a-word", "tty=:0", "empty-key="],
)
def test_a_value_and_a_word_at_one_position_stay_apart(apart):
    lines = apart * 3
    assert len(set(ids(lines))) == 2
    assert len(set(ids([apart[0], apart[0].replace("example", "other")]))) == 1  # the values still vary


def test_an_empty_key_and_a_code_stay_apart_from_a_learned_variable():
    lines = [f"session opened: user={user} tty=pts" for user in ("root", "git", "mysql", "", "ADMIN")]
    fingerprints = ids(lines * 2)
    assert len(set(fingerprints[:3])) == 1
    assert len({fingerprints[0], fingerprints[3], fingerprints[4]}) == 3
    answers = list(cluster_lines(lines))
    assert [template for _, template in answers] == ["session opened: user=<*> tty=pts"] * 3 + lines[3:]


@pytest.mark.parametrize(
    "apart",
    [
        [f"npm ERR! code {code}" for code in ("ENOTFOUND", "EACCES", "ETIMEDOUT", "ERESOLVE")],
        ["running", "blocked", "active", "closing"],
        ["boot (command 1902)", "halt (command 1911)", "wait (command 1975)"],
        ["Ending TrustedInstaller initialization.", "Ending TrustedInstaller finalization."],
    ],
    ids=["upper-case-codes", "one-word-messages", "little-shared-context", "two-values-are-a-choice"],
)
def test_constants_that_differ_at_one_word_stay_apart(apart):
    assert len(set(ids(apart * 2))) == len(apart)


def test_agent_error_corpus_is_grouped_nearly_exactly():
    truth = [row["event"] for row in AGENT_ERRORS]
    predicted = ids([row["message"] for row in AGENT_ERRORS])
    events_by_id = defaultdict(set)
    for fingerprint, event in zip(predicted, truth):
        events_by_id[fingerprint].add(event)
    assert [events for events in events_by_id.values() if len(events) > 1] == []  # never merges two events
    assert grouping_accuracy(predicted, truth) >= 0.95


def test_online_answers_never_merge_events_of_the_corpus():
    miner = TemplateMiner()
    events_by_id = defaultdict(set)
    for row in AGENT_ERRORS:
        events_by_id[miner.add(row["message"]).fingerprint].add(row["event"])
    assert [events for events in events_by_id.values() if len(events) > 1] == []


# -- ids: stable, resolvable, remembered ---------------------------------------------------------


def test_a_merged_cluster_keeps_its_oldest_id_and_resolve_maps_the_others():
    miner = TemplateMiner()
    answers = [miner.add(f"Failed password for {user} from 10.0.0.1 port 22 ssh2") for user in USERS[:3]]
    assert answers[0].fingerprint == fingerprint_of("Failed password for root from 10.0.0.1 port 22 ssh2")
    assert len({a.fingerprint for a in answers[:2]}) == 2  # two values: not yet a variable
    assert {miner.resolve(a.fingerprint) for a in answers} == {answers[2]}
    assert answers[2].fingerprint == answers[0].fingerprint
    assert miner.resolve("unknown-00000000") is None


def test_learned_variables_and_merged_ids_persist(tmp_path):
    path = tmp_path / "state" / "miner.json"
    first = TemplateMiner(FilePersistence(path))
    answers = [first.add(f"Failed password for {user} from 10.0.0.1 port 22 ssh2") for user in USERS[:3]]
    first.save()
    assert not list(path.parent.glob("*.tmp"))

    second = TemplateMiner(FilePersistence(path))
    # a name never seen joins the learned template at once, under the first run's id
    assert second.add("Failed password for zoe from 10.0.0.9 port 22 ssh2") == answers[2]
    assert second.resolve(answers[1].fingerprint) == answers[2]  # an id the first run gave earlier
    assert fingerprint_of("Failed password for zoe from 10.0.0.9 port 22 ssh2") != answers[2].fingerprint


def test_save_keeps_clusters_learned_by_another_process():
    store = MemoryPersistence()
    one, two = TemplateMiner(store), TemplateMiner(store)
    learned = [one.add(f"Failed password for {user} from 10.0.0.1 port 22 ssh2") for user in USERS[:3]][-1]
    other = two.add("fatal: not a git repository")
    one.save()
    two.save()
    third = TemplateMiner(store)
    assert third.add("Failed password for zoe from 10.0.0.1 port 22 ssh2") == learned
    assert third.add("fatal: not a git repository") == other


def test_an_unreadable_state_is_reported_and_learned_again(tmp_path):
    path = tmp_path / "miner.json"
    path.write_bytes(b'{"version": 2, "clusters": [{"id": 3}]')
    with pytest.warns(UserWarning, match="miner.json: unreadable"):
        miner = TemplateMiner(FilePersistence(path))
    assert miner.add("disk full on /dev/sda1").fingerprint == fingerprint_of("disk full on /dev/sda1")
    miner.save()
    assert TemplateMiner(FilePersistence(path)).resolve(fingerprint_of("disk full on /dev/sda1")) is not None


def test_clusters_are_identical_in_another_process_with_another_hash_seed():
    lines = [row["message"].replace("\n", " ") for row in AGENT_ERRORS[::3]]
    code = (
        "import json, sys; from agentlog.intel import cluster_lines;"
        "print(json.dumps(list(cluster_lines(json.load(sys.stdin)))))"
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", code],
            input=json.dumps(lines),
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONPATH": SRC, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    ]
    assert runs[0] == runs[1]
    assert json.loads(runs[0]) == [list(pair) for pair in cluster_lines(lines)]


# -- bounded memory ----------------------------------------------------------------------------


def test_cluster_count_is_capped_and_the_busy_clusters_stay():
    miner = TemplateMiner(max_clusters=50)
    rng = random.Random(3)
    busy = miner.add("fatal: not a git repository")
    for i in range(5_000):
        words = " ".join(rng.choice("abcdefghij") * rng.randint(1, 3) for _ in range(4))
        miner.add(f"unique event {words} number {i}")
        if i % 100 == 0:
            assert miner.add("fatal: not a git repository") == busy
        assert len(list(miner.clusters())) <= 50
    state = MemoryPersistence()
    miner.persistence = state
    miner.save()
    assert len(json.loads(state.state)["clusters"]) <= 50


# -- the CLI -----------------------------------------------------------------------------------


def test_cluster_command_answers_every_line_with_what_all_lines_taught(tmp_path):
    from agentlog.cli.intel import cluster_cmd

    lines = [f"Failed password for {user} from 10.0.0.1 port 22 ssh2" for user in USERS] + [
        "fatal: not a git repository"
    ]
    path = tmp_path / "errors.txt"
    path.write_text("\n".join(lines) + "\n")
    learned = CliRunner().invoke(cluster_cmd, [str(path)])
    online = CliRunner().invoke(cluster_cmd, ["--online", "-"], input=path.read_text())
    assert learned.exit_code == online.exit_code == 0
    rows = [line.split("\t") for line in learned.output.splitlines()]
    assert len(rows) == len(lines)
    assert {tuple(row) for row in rows[:-1]} == {(rows[0][0], "Failed password for <*> from <IP> port <NUM> ssh<NUM>")}
    online_ids = [line.split("\t")[0] for line in online.output.splitlines()]
    assert online_ids[0] == rows[0][0] != online_ids[1]  # the second line came before the lesson
    assert online_ids[2:6] == [rows[0][0]] * 4


def test_cluster_online_answers_a_live_stream_before_it_ends():
    command = [sys.executable, "-c", "from agentlog.cli import main; main()", "cluster", "--online", "-"]
    with subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": SRC}
    ) as process:
        process.stdin.write("fatal: not a git repository\n")
        process.stdin.flush()
        ready, _, _ = select.select([process.stdout], [], [], 60)  # a bound against hanging, not a timing
        assert ready, "no answer while the input was still open"
        assert process.stdout.readline().startswith(fingerprint_of("fatal: not a git repository") + "\t")
        process.stdin.close()
        assert process.wait() == 0


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.lists(
            st.sampled_from(
                [
                    "npm",
                    "ERR!",
                    "code",
                    "for",
                    "user",
                    "root",
                    "git",
                    "=",
                    "key=",
                    "a=b",
                    "SOCKS5",
                    "HTTPS",
                    "Jul",
                    "Sun",
                    "3",
                    "10:05:25",
                    "<*>",
                    "*",
                    "**",
                    "(1.0",
                    "KB)",
                    "sec",
                    "<1",
                    "éàü",
                    "x" * 30,
                    "\t",
                    "0x1f",
                    "\ud800x1",
                ]
            ),
            max_size=12,
        ).map(" ".join),
        max_size=40,
    )
)
def test_any_input_is_clustered_deterministically(lines):
    first, second = list(cluster_lines(lines)), list(cluster_lines(lines))
    assert first == second and len(first) == len(lines)
    online = TemplateMiner()
    for line in lines:
        online.add(line)
    assert all(online.resolve(fingerprint) is not None for fingerprint, _ in first)
