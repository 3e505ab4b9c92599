import functools
import json
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from click.testing import CliRunner

from agentlog.intel import (
    TemplateMiner,
    Taxonomy,
    analyze_error,
    classify,
    cluster_lines,
    fingerprint_of,
    is_transient,
)
from agentlog.intel.mask import headline, mask
from agentlog.intel.taxonomy import RULES
from agentlog.intel.persistence import FilePersistence, MemoryPersistence

CORPUS = [json.loads(line) for line in (Path(__file__).parent / "data" / "error_corpus.jsonl").open()]


def test_corpus_is_large_and_varied():
    groups = defaultdict(int)
    for row in CORPUS:
        groups[row["group"]] += 1
    assert len(CORPUS) >= 80
    assert all(count >= 3 for count in groups.values())


@pytest.mark.parametrize("row", CORPUS, ids=lambda r: r["group"])
def test_corpus_category(row):
    info = analyze_error(row["message"])
    assert info.category == row["category"]
    assert (info.confidence == 0.0) == (info.category == "unknown")


def test_miner_groups_corpus_exactly():
    ids_by_group = defaultdict(set)
    groups_by_id = defaultdict(set)
    for row, (fingerprint, _) in zip(CORPUS, cluster_lines(row["message"] for row in CORPUS)):
        ids_by_group[row["group"]].add(fingerprint)
        groups_by_id[fingerprint].add(row["group"])
    assert {g: ids for g, ids in ids_by_group.items() if len(ids) > 1} == {}
    assert {f: gs for f, gs in groups_by_id.items() if len(gs) > 1} == {}


def test_online_answers_never_merge_groups():
    miner = TemplateMiner()
    groups_by_id = defaultdict(set)
    for row in CORPUS:
        groups_by_id[analyze_error(row["message"], miner=miner).fingerprint].add(row["group"])
    assert {f: gs for f, gs in groups_by_id.items() if len(gs) > 1} == {}


def test_stateless_fingerprint_never_merges_groups_and_mostly_groups():
    ids_by_group = defaultdict(set)
    groups_by_id = defaultdict(set)
    for row in CORPUS:
        ids_by_group[row["group"]].add(fingerprint_of(row["message"]))
        groups_by_id[fingerprint_of(row["message"])].add(row["group"])
    assert all(len(groups) == 1 for groups in groups_by_id.values())
    unified = sum(len(ids) == 1 for ids in ids_by_group.values())
    assert unified / len(ids_by_group) >= 0.8  # the rest differ in words the miner merges


def test_miner_id_of_a_new_cluster_is_the_stateless_id():
    message = "npm ERR! network timeout at: https://registry.npmjs.org/left-pad"
    assert TemplateMiner().add(message).fingerprint == fingerprint_of(message)


def test_fingerprints_are_identical_in_another_process():
    messages = [row["message"] for row in CORPUS[:40]]
    code = (
        "import json, sys; from agentlog.intel import fingerprint_of, TemplateMiner;"
        "msgs = json.load(sys.stdin); m = TemplateMiner();"
        "print(json.dumps([[fingerprint_of(x), m.add(x).fingerprint] for x in msgs]))"
    )
    src = str(Path(__file__).parents[1] / "src")
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(messages),
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": src, "PYTHONHASHSEED": "12345"},
    ).stdout
    miner = TemplateMiner()
    assert json.loads(out) == [[fingerprint_of(x), miner.add(x).fingerprint] for x in messages]


def test_fingerprint_of_a_lone_surrogate_does_not_raise():
    assert fingerprint_of("bad byte \ud800 in 42") == fingerprint_of("bad byte \ud800 in 7")


def test_fingerprint_is_readable():
    assert fingerprint_of("npm ERR! network timeout at: https://x.org/a").startswith("npm_err_network_timeout-")
    assert fingerprint_of("12345").startswith("e-")


def test_persistence_round_trip_keeps_merged_ids(tmp_path):
    store = FilePersistence(tmp_path / "state" / "clusters.json")
    first = TemplateMiner(store)
    a = first.add("Thunderbird_A5 got no answer from node an142")
    b = first.add("Thunderbird_B1 got no answer from node bn270")
    assert a.fingerprint == b.fingerprint
    first.save()
    assert not list((tmp_path / "state").glob("*.tmp"))

    # A fresh process sees the variant first: without state it would found its own cluster.
    second = TemplateMiner(FilePersistence(tmp_path / "state" / "clusters.json"))
    assert second.add("Thunderbird_B1 got no answer from node bn270").fingerprint == a.fingerprint
    assert fingerprint_of("Thunderbird_B1 got no answer from node bn270") != a.fingerprint


def test_save_keeps_clusters_added_by_another_process():
    store = MemoryPersistence()
    one, two = TemplateMiner(store), TemplateMiner(store)
    x = one.add("disk full on /dev/sda1")
    y = two.add("fatal: not a git repository")
    one.save()
    two.save()
    ids = {c.id for c in TemplateMiner(store).clusters()}
    assert {x.fingerprint, y.fingerprint} <= ids


def test_miner_keeps_different_constant_words_apart():
    miner = TemplateMiner()
    assert miner.add("Ending TrustedInstaller initialization.") != miner.add("Ending TrustedInstaller finalization.")


def test_callers_fingerprint_and_category_win():
    info = analyze_error("fatal: not a git repository: /tmp/x", "git_not_repo", "custom")
    assert info == ("git_not_repo", "fatal: not a git repository: <PATH>", "custom", 1.0)
    assert analyze_error("429 Too Many Requests", category="network").category == "network"
    assert analyze_error("429 Too Many Requests", fingerprint="mine").category == "rate_limit"


def test_extra_rules_extend_the_taxonomy():
    assert classify("insufficient_quota for org-1")[0] == "rate_limit"
    assert classify("insufficient_quota for org-1", {"billing": [r"insufficient_quota"]})[0] == "billing"
    assert Taxonomy({"billing": [r"card declined"]}).classify("card declined")[0] == "billing"
    assert classify("something odd happened") == ("unknown", 0.0)


def test_the_taxonomy_compiles_with_re_only_the_users_patterns_until_a_message_needs_re():
    """The ~100 built-ins compiled with `re` cost ~20 ms a process (an `emit` of one error paid
    it); the native set reads every plain-ASCII message without them. A bad pattern of the
    user's still fails at once."""
    taxonomy = Taxonomy({"billing": [r"card declined"]})
    assert len(taxonomy._compiled) == 1 + len(taxonomy._foreign)
    taxonomy.classify("ModuleNotFoundError: No module named 'x'")
    assert len(taxonomy._compiled) == 1 + len(taxonomy._foreign)
    assert taxonomy.classify("ModuleNotFoundError: No module named 'é'")[0] == "dependency"  # `re` alone
    assert len(taxonomy._compiled) == len(taxonomy._sources)
    with pytest.raises(re.error):
        Taxonomy({"billing": ["(card"]})


def _rules_in_order(extra: dict[str, list[str]]) -> dict[str, list[re.Pattern]]:
    """The module docstring's order: extra categories first, then the built-in ones."""
    merged: dict[str, list[str]] = {c: list(ps) for c, ps in extra.items()}
    for category, patterns in RULES.items():
        merged.setdefault(category, []).extend(patterns)
    return {c: [re.compile(p, re.IGNORECASE | re.MULTILINE) for p in ps] for c, ps in merged.items()}


def _classify_with_re(rules: dict[str, list[re.Pattern]], message: str) -> tuple[str, float]:
    """The rule of the module's docstring, each pattern searched with `re` on its own."""
    found = [(c, n) for c, ps in rules.items() if (n := sum(1 for p in ps if p.search(message)))]
    if not found:
        return "unknown", 0.0
    (winner, hits), rivals = found[0], len(found) - 1
    return winner, round(max((0.9 if hits >= 2 else 0.75) - 0.1 * rivals, 0.4), 2)


_WORDS = [
    "429",
    "timeout",
    "ECONNRESET",
    "FAILED",
    "tests/a.py::t",
    "assertionerror",
    "npm ERR!",
    "git",
    "fatal:",
    "permission denied",
    "eslint",
    "build",
    "tsc",
    "make[2]:",
    "out of memory",
    "rate limit",
    "card declined",
    "x x",
    "quota",
    "\n",
    "\r\n",
    "Ünïcode",
    "ſ",
    "\u212a",
    "\u0130",
    "é",
    "  ",
    "\t",
    "E501",
    "error TS2304",
]
# extra rules with a group and a back-reference, verbose mode, a look-ahead, a class with `&&`:
# those the native set cannot take are searched with `re`
_EXTRA = {
    "billing": [r"card (declined)", r"(\w+) \1 quota"],
    "flagged": [r"(?x) quota", r"(?x)card[ ]declined", r"declin(?=ed)", r"[a&&b]"],
}


@functools.cache
def _built() -> list[tuple[dict[str, list[re.Pattern]], Taxonomy]]:
    return [(_rules_in_order(extra), Taxonomy(extra)) for extra in ({}, _EXTRA)]


@given(st.lists(st.sampled_from(_WORDS) | st.text(max_size=3), max_size=10).map(" ".join))
@example("x x quota")
@example("card declined quota a&&b")
@example("bad \ud800 surrogate: timeout")  # not UTF-8: every pattern searched with `re`
@example("a\x1c::b FAILED")  # whitespace to `re`, not to the regex crate
@example("x²::y FAILED ² tsc")  # a word character to `re`, not to the regex crate
@settings(max_examples=500, deadline=None)
@pytest.mark.filterwarnings("ignore:Possible set:FutureWarning")  # re's word on `[a&&b]`, read as literals
def test_the_taxonomy_finds_what_re_finds_pattern_by_pattern(message):
    for rules, taxonomy in _built():
        flat = [p for ps in rules.values() for p in ps]
        assert taxonomy.hits(message) == [i for i, p in enumerate(flat) if p.search(message)]
        assert taxonomy.classify(message) == _classify_with_re(rules, message)


def test_the_corpus_is_classified_as_re_classifies_it():
    rules, taxonomy = _rules_in_order({}), Taxonomy()
    for row in CORPUS:
        assert taxonomy.classify(row["message"]) == _classify_with_re(rules, row["message"]), row["message"]


@pytest.mark.parametrize(
    "kind, expected",
    [
        ("rate_limit", True),
        ("timeout", True),
        ("network", True),
        ("git", False),
        ("unknown", False),
        ("npm_err_network_timeout-5c17d2ec", True),
        ("anthropic.InternalServerError: Error code: 529 - overloaded", True),
        ("ModuleNotFoundError: No module named <STR>", False),
    ],
)
def test_is_transient(kind, expected):
    assert is_transient(kind) is expected


@pytest.mark.parametrize(
    "raw, masked",
    [
        ("npm ERR! network timeout at: https://registry.npmjs.org/left-pad", "npm ERR! network timeout at: <URL>"),
        ("repository not exported: /virtengine.git", "repository not exported: <PATH>"),
        ("open C:\\Users\\dev\\x.txt and ~/a/b", "open <PATH> and <PATH>"),
        ("id 123e4567-e89b-12d3-a456-426614174000", "id <UUID>"),
        ("commit 3f9a1c2b at 0x7ffe12", "commit <HEX> at <HEX>"),
        ("from 10.0.0.1:8080 by bob@example.com", "from <IP> by <EMAIL>"),
        ("at 2024-01-02T10:11:12.123Z", "at <TS>"),
        ("src/app.ts:12:34 failed", "<PATH>:<NUM>:<NUM> failed"),
        ("No module named 'requests'", "No module named <STR>"),
        ('{"message": "keep this text"}', '{"message": "keep this text"}'),
        ("blk_-6952 and blk_38 size 5.2 KB", "blk_<NUM> and blk_<NUM> size <NUM>"),
        ("utf-8 x=-5", "utf-<NUM> x=<NUM>"),
        ("Could not resolve host: github.com", "Could not resolve host: <HOST>"),
        ("Merge conflict in package-lock.json", "Merge conflict in <PATH>"),
        ("try again in 20s, 350ms, 1.5 seconds, 1m12s or <1 sec", "try again in <NUM>, <NUM>, <NUM>, <NUM> or <NUM>"),
        ("sent 1,024 bytes (1.0 KB) in 2 minutes", "sent <NUM>,<NUM> bytes (<NUM>) in <NUM>"),
        ("Last login: Sun Jul  3 10:05:25 2005", "Last login: <TS> <TS> <NUM> <TS> <NUM>"),
        ("Retry-After: Wed, 21 Oct 2015 07:28:00 GMT", "Retry-After: <TS>, <NUM> <TS> <NUM> <TS> <TS>"),
        ("May I retry in March?", "May I retry in March?"),
        ("key sk-proj-****abcd rejected; fan speeds 3552 ****", "key <STR> rejected; fan speeds <NUM> ****"),
    ],
)
def test_mask(raw, masked):
    assert mask(raw) == masked


def test_masking_does_not_depend_on_which_digits_a_token_holds():
    assert mask("blk_38 0x1f 10.0.0.1 2024-01-02 v001") == mask("blk_99 0x9f 99.9.9.9 1999-12-31 v999")
    assert mask("1x1f") != mask("0x1f")  # a hex prefix is the one digit that counts
    assert mask("lone \ud800 surrogate 42") == "lone \ud800 surrogate <NUM>"  # JSON can decode to one


def test_headline_of_traceback_is_the_exception_line():
    tb = 'Traceback (most recent call last):\n  File "a.py", line 1, in <module>\n    x()\nValueError: bad 3\n'
    assert headline(tb) == "ValueError: bad 3"
    assert headline("npm ERR! code E404\nnpm ERR! 404 Not Found") == "npm ERR! code E404"
    assert len(headline("x" * 10_000)) == 512


def test_cluster_lines_keeps_input_order_and_count():
    out = list(cluster_lines(["disk 1 full\n", "disk 2 full\n", "\n", "other"]))
    assert [t for _, t in out] == ["disk <NUM> full", "disk <NUM> full", "", "other"]
    assert out[0][0] == out[1][0] != out[3][0]


def test_cluster_command_reads_file_and_stdin(tmp_path):
    from agentlog.cli.intel import cluster_cmd

    path = tmp_path / "errors.txt"
    path.write_text("npm ERR! network timeout at: https://a.org/x\nnpm ERR! network timeout at: https://b.org/y\n")
    from_file = CliRunner().invoke(cluster_cmd, [str(path)])
    from_stdin = CliRunner().invoke(cluster_cmd, ["-"], input=path.read_text())
    assert from_file.exit_code == 0 and from_file.output == from_stdin.output
    lines = [line.split("\t") for line in from_file.output.splitlines()]
    assert len(lines) == 2 and lines[0] == lines[1]
    assert lines[0][1] == "npm ERR! network timeout at: <URL>"


def test_import_stays_light():
    code = "import sys, agentlog.intel; print('msgspec' in sys.modules, 'drain3' in sys.modules)"
    src = str(Path(__file__).parents[1] / "src")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": src})
    assert out.stdout.split() == ["False", "False"]
