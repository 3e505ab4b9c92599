"""Secret redaction of encoded event lines: recall, look-alikes, JSON validity, both engines."""

from __future__ import annotations

import json
import re
import string
import threading
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentlog import redact
from agentlog.redact import DEFAULT_PATTERNS, HAVE_HYPERSCAN, Redactor, redact_text

CORPUS = [json.loads(line) for line in (Path(__file__).parent / "data" / "secrets_corpus.jsonl").open()]
DIRTY = [row for row in CORPUS if row["secrets"]]
CLEAN = [row for row in CORPUS if not row["secrets"]]

needs_hs = pytest.mark.skipif(not HAVE_HYPERSCAN, reason="hyperscan wheel is x86_64 only")
ENGINES = [pytest.param(True, marks=needs_hs, id="hyperscan"), pytest.param(False, id="literal")]


@pytest.fixture(scope="module")
def hs_cache(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("hs-cache"))


@pytest.fixture(autouse=True)
def _hs_cache_dir(monkeypatch, hs_cache):
    # Keep the compiled-database cache out of the home directory (conftest's _clean_env
    # drops AGENTLOG_* variables, so set it per test).
    monkeypatch.setenv("AGENTLOG_CACHE_DIR", hs_cache)


@pytest.fixture(scope="module")
def redactors(hs_cache):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AGENTLOG_CACHE_DIR", hs_cache)
        out = {False: Redactor(use_hyperscan=False)}
        if HAVE_HYPERSCAN:
            out[True] = Redactor(use_hyperscan=True)
    return out


def encode(row) -> bytes:
    return msgspec.json.encode(row["event"])


def test_corpus_size_and_coverage():
    assert len(DIRTY) >= 90 and len(CLEAN) >= 40
    kinds = {row["kind"] for row in DIRTY}
    for name in ("openai", "anthropic", "google_api_key", "github_token", "github_pat", "gitlab_token",
                 "slack_token", "slack_webhook", "aws", "jwt", "private_key", "bearer", "url_password",
                 "secret_assignment", "stripe", "huggingface", "npm_token",
                 # passwords in the everyday commands agents run, and in headers and files
                 "mysql_password", "curl_user", "curl_cookie", "docker_login", "cookie_header", "set_cookie",
                 "authorization_basic", "pgpassword", "netrc", "npm_authtoken", "env_export", "token_flag",
                 "sshpass", "redis_cli", "ldap_password", "mongo_password", "az_login", "openssl_pass"):
        assert name in kinds
    assert {"cli_lookalike", "prose"} <= {row["kind"] for row in CLEAN}


@pytest.mark.parametrize("use_hs", ENGINES)
@pytest.mark.parametrize("row", DIRTY, ids=lambda r: r["kind"])
def test_corpus_secrets_vanish_and_json_stays_valid(redactors, use_hs, row):
    line = encode(row)
    out = redactors[use_hs](line)
    decoded = msgspec.json.decode(out)  # raises if the line was broken
    text = json.dumps(decoded, ensure_ascii=False)
    for secret in row["secrets"]:
        assert secret.encode() not in out and secret not in text
    assert b"[REDACTED:" in out
    assert set(decoded) == set(row["event"])  # structure kept: only values change


@pytest.mark.parametrize("use_hs", ENGINES)
@pytest.mark.parametrize("row", CLEAN, ids=lambda r: r["kind"])
def test_corpus_lookalikes_untouched(redactors, use_hs, row):
    line = encode(row)
    assert redactors[use_hs](line) is line  # same object: the fast path allocated nothing


@needs_hs
def test_engines_agree_on_corpus(redactors):
    for row in CORPUS:
        line = encode(row)
        assert redactors[True](line) == redactors[False](line), row["kind"]


def public_matches(line: bytes) -> list:
    return [(name, m.span()) for name, p in DEFAULT_PATTERNS.items() for m in re.finditer(p.encode(), line)]


def internal_matches(r: Redactor, line: bytes) -> list:
    low = line.lower()
    out = []
    for i, (name, (_, anchors, boundary)) in enumerate(zip(r.patterns, r._rules)):
        rx = r._regex(i)[0]
        found = rx.finditer(line) if anchors is None else redact._anchored(line, low, rx, anchors, boundary)
        out += [(name, m.span()) for m in found]
    return out


def check_anchors(r: Redactor, line: bytes) -> None:
    # The fast internal search must find exactly what the public patterns find, and the
    # literal prefilter must flag every pattern that matches.
    assert internal_matches(r, line) == public_matches(line)
    low = line.lower()
    for name, _ in public_matches(line):
        _, lits, _, _ = redact._DEFAULT_FAST[name]
        assert any(lit.encode() in low for lit in lits), name


def test_anchors_and_literals_are_exact(redactors):
    for row in CORPUS:
        check_anchors(redactors[False], encode(row))


def test_redacting_twice_changes_nothing(redactors):
    r = redactors[False]
    for row in DIRTY:
        once = r(encode(row))
        assert r(once) == once, row["kind"]


@pytest.mark.parametrize("use_hs", ENGINES)
def test_keys_users_and_hosts_stay(redactors, use_hs):
    r = redactors[use_hs]
    line = msgspec.json.encode({"cmd": "DB_PASSWORD=hunter22 psql postgres://app:pw123456@db:5432/x"})
    assert r(line) == (b'{"cmd":"DB_PASSWORD=[REDACTED:secret_assignment] '
                       b'psql postgres://app:[REDACTED:url_password]@db:5432/x"}')
    line = msgspec.json.encode({"headers": {"Authorization": "Bearer abcdef0123456789xyz"}})
    assert r(line) == b'{"headers":{"Authorization":"Bearer [REDACTED:authorization_header]"}}'


@pytest.mark.parametrize("use_hs", ENGINES)
def test_token_after_escaped_newline_and_trailing_newline(redactors, use_hs):
    key = "ghp_" + "A1b2" * 9
    line = msgspec.json.encode({"out": f"first line\n{key}\nlast"}) + b"\n"
    assert redactors[use_hs](line) == b'{"out":"first line\\n[REDACTED:github_token]\\nlast"}\n'


@pytest.mark.parametrize("use_hs", ENGINES)
def test_disabled_is_identity(use_hs):
    r = Redactor(enabled=False, use_hyperscan=use_hs)
    line = msgspec.json.encode({"k": "sk-" + "x" * 40})
    assert r(line) is line


@pytest.mark.parametrize("use_hs", ENGINES)
def test_extra_patterns(use_hs):
    r = Redactor({"internal_ticket_key": r"ACME-KEY-(?P<secret>[0-9]{6,})"}, use_hyperscan=use_hs)
    line = msgspec.json.encode({"msg": "use ACME-KEY-12345678 now", "n": 42})
    assert r(line) == b'{"msg":"use ACME-KEY-[REDACTED:internal_ticket_key] now","n":42}'
    assert r(b'{"msg":"nothing here"}') == b'{"msg":"nothing here"}'


@pytest.mark.parametrize("use_hs", ENGINES)
def test_extra_pattern_with_lookaround_and_backreference(use_hs):
    # Hyperscan rejects these constructs; prefilter mode (or always-run) keeps them exact.
    r = Redactor({"twice": r"(?<![a-z])([a-z]{3})\1(?![a-z])"}, use_hyperscan=use_hs)
    assert r(b'{"a":"say abcabc ok"}') == b'{"a":"say [REDACTED:twice] ok"}'


@pytest.mark.parametrize("use_hs", ENGINES)
def test_careless_extra_patterns_cannot_break_json(use_hs):
    r = Redactor({"digits": r"[0-9]{4}", "quote": r'"', "anything": r"x.{0,3}"}, use_hyperscan=use_hs)
    line = msgspec.json.encode({"elapsed_ms": 12340, "s": "ax\"\n\u00e9\u0001y", "t": "x\\\\x"})
    out = r(line)
    decoded = msgspec.json.decode(out)
    assert decoded["elapsed_ms"] == "[REDACTED:digits]"  # a bare number becomes a quoted marker
    assert "REDACTED" in decoded["s"] and "REDACTED" in decoded["t"]


def test_bad_configuration_is_rejected():
    with pytest.raises(ValueError, match="not a valid regex"):
        Redactor({"broken": "(unclosed"})
    with pytest.raises(ValueError, match="pattern name"):
        Redactor({'bad"name': "abc"})


@needs_hs
def test_compiled_database_disk_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTLOG_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(redact, "_HS_DB_CACHE", {})
    Redactor(use_hyperscan=True)
    [cached] = tmp_path.glob("redact-*.hsdb")
    monkeypatch.setattr(redact, "_HS_DB_CACHE", {})
    line = msgspec.json.encode({"k": "token ghp_" + "z" * 36})
    assert Redactor(use_hyperscan=True)(line) == b'{"k":"token [REDACTED:github_token]"}'
    cached.write_bytes(b"garbage")  # a corrupt cache means compiling again, not failing
    monkeypatch.setattr(redact, "_HS_DB_CACHE", {})
    assert Redactor(use_hyperscan=True)(line) == b'{"k":"token [REDACTED:github_token]"}'


@pytest.mark.parametrize("use_hs", ENGINES)
def test_threads_share_one_redactor(use_hs):
    r = Redactor(use_hyperscan=use_hs)
    lines = [encode(row) for row in CORPUS]
    expected = [r(line) for line in lines]
    errors = []

    def work():
        try:
            for _ in range(20):
                assert [r(line) for line in lines] == expected
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_redact_text():
    assert redact_text("no secrets here") == "no secrets here"
    assert redact_text('export API_KEY="abc def 123"\n') == 'export API_KEY="[REDACTED:secret_assignment]"\n'


# --- property: any JSON-safe text around a generated secret --------------------------

ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "_-"


def chars(alphabet, n, m=None):
    return st.text(alphabet, min_size=n, max_size=m if m is not None else n)


SECRETS = st.one_of(
    st.builds(lambda s: "ghp_" + s, chars(ALNUM, 36, 40)),
    st.builds(lambda s: "sk-proj-" + s, chars(URLSAFE, 40, 80)),
    st.builds(lambda s: "sk-ant-api03-" + s + "AA", chars(URLSAFE, 93)),
    st.builds(lambda s: "AKIA" + s, chars(string.ascii_uppercase + "234567", 16)),
    st.builds(lambda s: "AIza" + s, chars(URLSAFE, 35)),
    st.builds(lambda a, b: f"xoxb-{a}-{a}-{b}", chars(string.digits, 10, 13), chars(ALNUM, 24)),
    st.builds(lambda s: "glpat-" + s, chars(URLSAFE, 20, 30)),
    st.builds(lambda s: "hf_" + s, chars(string.ascii_letters, 34)),
    st.builds(lambda s: "npm_" + s, chars(ALNUM, 36)),
    st.builds(lambda s: "sk_live_" + s, chars(ALNUM, 24, 40)),
    st.builds(lambda a, b, c: f"eyJ{a}.eyJ{b}.{c}", chars(URLSAFE, 10, 40), chars(URLSAFE, 10, 60),
              chars(URLSAFE, 20, 43)),
    st.builds(lambda lines: "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END RSA PRIVATE KEY-----",
              st.lists(chars(ALNUM + "+/", 64), min_size=1, max_size=4)),
)
CONTEXTS = st.sampled_from([
    "{}", "export TOKEN={}", '{{"api_key": "{}"}}', "Authorization: Bearer {}", "https://bot:{}@github.com/a.git",
])
SEPARATORS = st.sampled_from([" ", "\n", "\t", "'", '"', "(", ",", "=", ": ", "\r\n", "\\", "é "])
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(before=TEXT, after=TEXT, sep1=SEPARATORS, sep2=SEPARATORS, secret=SECRETS, context=CONTEXTS,
       nest=st.booleans())
def test_property_generated_secret_always_redacted(redactors, before, after, sep1, sep2, secret, context, nest):
    value = before + sep1 + context.format(secret) + sep2 + after
    if nest:  # JSON inside JSON (with \uXXXX escapes), as in tool outputs
        value = json.dumps({"stdout": value})
    line = msgspec.json.encode({"event_type": "tool_result", "data": {"result_data": value}, "n": 1})
    check_anchors(redactors[False], line)
    outs = {use_hs: r(line) for use_hs, r in redactors.items()}
    assert len(set(outs.values())) == 1, "engines disagree"
    out = outs[False]
    decoded = msgspec.json.decode(out)  # still valid JSON
    assert decoded["n"] == 1 and decoded["event_type"] == "tool_result"
    # Every random part is gone, at any nesting level (they contain no escapable chars).
    parts = secret.split("\n")[1:-1] if secret.startswith("-----BEGIN") else [secret]
    for part in parts:
        assert part.encode() not in out


def test_string_layout_quick_path_matches_exact_scan():
    lines = [encode(row) for row in CORPUS[:20]]
    lines.append(msgspec.json.encode({"a": 'say "hi"', "b": ["q", 12, "tab\there"], "c": "\u0001"}))
    for line in lines:
        quick, exact = redact._StringLayout(line), redact._StringLayout(line)
        exact.quick = False
        assert quick.quick  # lines with \\" take the exact scan (tested below)
        for pos in range(len(line)):
            for size in (1, 3, 12):
                end = min(pos + size, len(line))
                assert redact._clamp(line, quick, pos, end) == redact._clamp(line, exact, pos, end), (pos, size)


@pytest.mark.parametrize("use_hs", ENGINES)
def test_secret_after_string_ending_in_backslash(use_hs):
    line = msgspec.json.encode({"path": "C:\\tmp\\", "cmd": "TOKEN=abc123xyz run", "n": 5})
    out = Redactor({"five": r"\b5\b"}, use_hyperscan=use_hs)(line)
    assert msgspec.json.decode(out) == {"path": "C:\\tmp\\", "cmd": "TOKEN=[REDACTED:secret_assignment] run",
                                        "n": "[REDACTED:five]"}
