"""Secret scrubbing of encoded event lines, just before they reach disk.

The recorder hands every encoded JSON line (bytes) to a :class:`Redactor`. Working on
the encoded line covers every field in one pass (prompts, outputs, tool params, error
messages, unknown extra fields, JSON nested inside strings) without walking objects.

Speed is the constraint (the recorder targets >= 200,000 events/s), and almost every
line is clean, so the work is split in two:

* prefilter (fast path): the native core's ``SecretScan`` (Rust, the same code and speed
  on x86 and ARM) names the patterns that might match: an Aho-Corasick pass finds where
  a built-in pattern's anchor occurs, and a lookaround-free superset of the pattern runs
  there as an anchored lazy DFA. A clean line is returned as the very same object.
* substitution (slow path, rare): only the patterns the prefilter named are run with
  Python ``re`` on the original line; their matches are merged and replaced by
  ``[REDACTED:<name>]``. The prefilter names a superset of the patterns that match (it
  drops only constraints), so it decides how fast a line goes, never what is written.

Output stays valid JSON: a replacement is limited to the JSON string it starts in and
never splits an escape sequence (``\\n``, ``\\"``, ``\\u00e9``); a match outside any
string (a bare number caught by a configured pattern) becomes a quoted marker.

Patterns are adapted from the gitleaks default rule set
(https://github.com/gitleaks/gitleaks/blob/master/config/gitleaks.toml, MIT), tuned for redaction: recall over precision
(open-ended lengths, no entropy checks), and boundaries that understand JSON escapes.
"""

from __future__ import annotations

import bisect
import re
import string

from ._core import SecretScan

__all__ = ["DEFAULT_PATTERNS", "Redactor", "redact_text"]

# Token boundaries. In encoded JSON a token on a new line follows the two characters
# backslash-n, so "\nsk-..." must count as a boundary although "n" is alphanumeric.
_RE_LB = r"(?:(?<![A-Za-z0-9])|(?<=\\[nrt]))"
_RE_RB = r"(?![A-Za-z0-9])"

# Secret value after a key name: quoted values may hold spaces and stop at the closing
# quote; bare values stop at whitespace and delimiters. Neither contains a backslash, so
# a replacement never cuts a JSON escape. Left alone: already-redacted values (redacting
# twice gives the same line), JSON literals, and what agents' code puts after a name:
# type hints (``token: str``), calls, subscripts and last arguments
# (``api_key = os.environ[...]``, ``OpenAI(api_key=api_key)``).
_VALUE = (
    r"(?P<secret>(?!\[REDACTED|(?i:null|true|false|none|str|string|int|bool|bytes|float|number"
    r"|any|object|optional|undefined)\b)"
    r"""(?:(?<=")[^"\\]+|(?<=')[^'\\]+|[^\s"'\\,;&<>(){}\[\]]{3,}+(?![(\[)])))"""
)
# Quotes may carry backslashes: JSON inside a JSON string inside the line (\\\").
_QUOTE = r"""(?:\\{0,7}["'])?"""
_SEP = _QUOTE + r"""\s{0,3}(?:=>|:=|=|:)\s{0,3}""" + _QUOTE
# The rest of one shell command: its arguments, up to a pipe, ;, & or the end of the line.
_ARGS = r"""(?:\s[^\s|;&\\]+){0,40}?\s"""
# Whitespace as it appears in an encoded line: real, or an escaped newline or tab (.netrc).
_WS = r"(?:\s|\\[nrt])+"

# (name, anchors, pattern). Anchors are lowercase literals; every match STARTS with one
# of them, case-insensitively (tests check it). They serve twice: the native prefilter
# looks for them, and ``re`` runs only where a match can start (``rx.match`` at each anchor
# occurrence): ``re`` scanning a whole line costs ~30 us per pattern when the pattern
# does not begin with a plain literal, ~0.5 us when anchored. Order matters only for
# naming: when two patterns match at the same place, the earlier name is used. ``{LB}``
# (only at the start) and ``{RB}`` are the token boundaries above. A group named
# ``secret`` limits the replacement to it.
_RULES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    # The body runs to the END line, or to the end of the JSON string when truncated.
    (
        "private_key",
        ("-----begin",),
        r"""-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----(?:[^"\\]|\\.)*?"""
        r"""(?:-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----|(?="|$))""",
    ),
    ("anthropic", ("sk-ant-",), r"{LB}sk-ant-[A-Za-z0-9_-]{20,}"),
    # Also catches the other "sk-" keys (OpenRouter sk-or-, DeepSeek, sk-proj-, ...).
    ("openai", ("sk-",), r"{LB}sk-[A-Za-z0-9_-]{20,}"),
    ("google_api_key", ("aiza",), r"{LB}AIza[0-9A-Za-z_-]{35}"),
    ("google_oauth", ("ya29.", "gocspx-"), r"{LB}(?:ya29\.[0-9A-Za-z_-]{20,}|GOCSPX-[0-9A-Za-z_-]{20,})"),
    ("github_token", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"), r"gh[pousr]_[A-Za-z0-9]{36,}"),
    ("github_pat", ("github_pat_",), r"github_pat_[A-Za-z0-9_]{22,}"),
    (
        "gitlab_token",
        ("glpat-", "gldt-", "glptt-", "glrt-", "glcbt-", "glft-", "gloas-", "glsoat-", "glagent-", "glimt-"),
        r"gl(?:pat|dt|ptt|rt|cbt|ft|oas|soat|agent|imt)-[A-Za-z0-9_-]{20,}",
    ),
    ("slack_token", ("xox", "xapp-"), r"(?:xox[abposre]-|xapp-[0-9]-)[A-Za-z0-9-]{10,}"),
    (
        "slack_webhook",
        ("hooks.slack.com/",),
        r"hooks\.slack\.com/(?:services|workflows|triggers)/(?P<secret>[A-Za-z0-9+/_-]{20,})",
    ),
    ("discord_webhook", ("discord",), r"discord(?:app)?\.com/api/webhooks/[0-9]+/(?P<secret>[A-Za-z0-9_-]{20,})"),
    ("telegram_bot_token", (":aa",), r"(?<=[0-9]{8}):(?P<secret>AA[A-Za-z0-9_-]{30,})"),  # bot id stays
    (
        "aws_access_key_id",
        ("akia", "asia", "abia", "acca", "a3t"),
        r"{LB}(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}{RB}",
    ),
    ("aws_secret_key", ("secret",), r"(?i:secret_?access_?key)" + _SEP + r"(?P<secret>[A-Za-z0-9/+=]{30,})"),
    ("jwt", ("ey",), r"{LB}ey[A-Za-z0-9_-]{10,}\.ey[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*"),
    (
        "stripe",
        ("sk_live_", "sk_test_", "sk_prod_", "rk_live_", "rk_test_", "rk_prod_", "whsec_"),
        r"{LB}(?:[sr]k_(?:live|test|prod)_[A-Za-z0-9]{10,}|whsec_[A-Za-z0-9]{20,})",
    ),
    ("huggingface", ("hf_", "api_org_"), r"{LB}(?:hf_|api_org_)[A-Za-z0-9]{30,}"),
    ("npm_token", ("npm_",), r"{LB}npm_[A-Za-z0-9]{36,}"),
    ("pypi_token", ("pypi-ageichlwas5vcmc",), r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}"),
    ("sendgrid", ("sg.",), r"{LB}SG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}"),
    (
        "ai_provider_key",
        ("gsk_", "xai-", "r8_", "pplx-"),
        r"{LB}(?:gsk_[A-Za-z0-9]{40,}|xai-[A-Za-z0-9]{40,}|r8_[A-Za-z0-9]{30,}|pplx-[A-Za-z0-9]{40,})",
    ),
    ("digitalocean", ("doo_v1_", "dop_v1_", "dor_v1_"), r"do[opr]_v1_[a-f0-9]{64}"),
    ("shopify", ("shpat_", "shpca_", "shppa_", "shpss_"), r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}"),
    ("vault_token", ("hvs.", "hvb.", "hvr."), r"{LB}hv[sbr]\.[A-Za-z0-9_-]{24,}"),
    ("doppler", ("dp.",), r"dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,}"),
    ("linear", ("lin_api_", "lin_oauth_"), r"lin_(?:api|oauth)_[A-Za-z0-9]{40,}"),
    ("notion", ("ntn_", "secret_"), r"{LB}(?:ntn|secret)_[A-Za-z0-9]{40,}"),
    ("databricks", ("dapi",), r"{LB}dapi[a-f0-9]{32}"),
    ("docker_pat", ("dckr_pat_",), r"dckr_pat_[A-Za-z0-9_-]{20,}"),
    ("atlassian", ("atatt3",), r"ATATT3[A-Za-z0-9_=-]{50,}"),
    ("sentry", ("sntrys_", "sntryu_"), r"sntry[su]_[A-Za-z0-9+/=_-]{40,}"),
    ("postman", ("pmak-",), r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}"),
    ("age_secret_key", ("age-secret-key-1",), r"AGE-SECRET-KEY-1[0-9A-Z]{58}"),
    ("azure_sas_signature", ("?sig=", "&sig="), r"[?&]sig=(?P<secret>[A-Za-z0-9%+/=]{20,})"),
    # scheme://user:password@host -> only the password goes; user and host stay ([ ] are
    # not allowed unencoded in userinfo, which keeps markers from matching). Starts
    # at "://" (not the scheme) so ``re`` can seek the literal: no scan of long words.
    ("url_password", ("://",), r"""://[^\s/:@"'\\\[\]]{0,128}:(?P<secret>[^\s/@"'\\\[\]]{1,256})@"""),
    (
        "authorization_header",
        ("authorization",),
        r"(?i:authorization)"
        + _SEP
        # atomic: "Bearer [REDACTED:...]" must not fall back to redacting the word Bearer
        + r"(?>(?:(?i:bearer|basic|token|bot|digest|apikey|negotiate)\s+)?)"
        + _VALUE,
    ),
    ("bearer_token", ("bearer",), r"(?i:bearer)\s+(?P<secret>[A-Za-z0-9._~+/-]{16,}=*)"),
    # Cookie and Set-Cookie headers: the whole value (every cookie in it), to the line's end.
    (
        "cookie_header",
        ("cookie", "set-cookie"),
        r"(?i:set-cookie|cookie)"
        + _SEP
        + r"""(?!\[REDACTED|(?i:null|true|false|none)\b)(?P<secret>[^\s"'\\][^"'\\]*)""",
    ),
    # Passwords as arguments of the tools agents run: mysql -pSECRET (no space: with one,
    # -p prompts), docker/podman/helm/az login -p, sshpass -p, mongo -p, redis-cli -a,
    # ldapsearch -w; then curl -u user:SECRET and -b/--cookie, openssl pass:SECRET.
    (
        "cli_password",
        (
            "mysql",
            "mariadb",
            "docker",
            "podman",
            "nerdctl",
            "buildah",
            "skopeo",
            "helm",
            "oras",
            "az",
            "sshpass",
            "mongo",
            "redis-cli",
            "ldap",
        ),
        r"{LB}(?:(?:mysql|mariadb)[a-z-]*"
        + _ARGS
        + r"-p"
        + _QUOTE
        + r"|(?:(?:docker|podman|nerdctl|buildah|skopeo|helm|oras)(?:\s+registry)?\s+login|az\s+login|sshpass"
        r"|mongo(?:sh|dump|restore|import|export)?)"
        + _ARGS
        + r"-p\s+"
        + _QUOTE
        + r"|redis-cli"
        + _ARGS
        + r"-a\s+"
        + _QUOTE
        + r"|ldap[a-z]+"
        + _ARGS
        + r"-w\s+"
        + _QUOTE
        + r")"
        r"(?!-)" + _VALUE,
    ),
    (
        "curl_credentials",
        ("curl",),
        r"curl" + _ARGS + r"(?:(?:-u\s*|--user\s+)" + _QUOTE + r"""[^\s:"'\\]*:|(?:-b|--cookie)\s+""" + _QUOTE + r")"
        r"(?!-)" + _VALUE,
    ),
    ("openssl_pass", ("-pass",), r"-pass(?:in|out)?\s+pass:(?P<secret>[^\s\"'\\]+)"),
    # .netrc, on one line or several: machine HOST [login USER] password SECRET
    (
        "netrc_password",
        ("machine",),
        r"(?i:machine)"
        + _WS
        + r"""[^\s"'\\]+"""
        + _WS
        + r"""(?:(?i:login|account)"""
        + _WS
        + r"""[^\s"'\\]+"""
        + _WS
        + r")?(?i:password|passwd)"
        + _WS
        + _VALUE,
    ),
    # --password SECRET, --api-key SECRET, --registry-token SECRET: a flag named after a
    # secret, its value after a space (after "=", secret_assignment takes it). Not
    # --password-stdin or --token-file (the name must end there), nor a next flag.
    (
        "secret_flag",
        ("--",),
        r"--(?:[A-Za-z0-9]+[_-])*(?i:password|passwd|passphrase|token|secret|api[_-]?key|access[_-]?key"
        r"|private[_-]?key|auth[_-]?key)\s+" + _QUOTE + r"(?!-)" + _VALUE,
    ),
    # KEY=value, KEY: value, "key": "value" where the name ends in a secret-ish word.
    # Plurals and other suffixes do not count: max_tokens=4096, "input_tokens": 12,
    # "token_count" stay. PWD/OLDPWD (shell) stay; MYSQL_PWD goes.
    (
        "secret_assignment",
        (
            "secret",
            "token",
            "passw",
            "passphrase",
            "_pwd",
            ".pwd",
            "-pwd",
            "api",
            "private",
            "access",
            "account",
            "auth",
            "credential",
        ),
        r"(?i:secret|token|passw(?:or)?d|passphrase|[_.-]pwd|api[_.-]?key|private[_.-]?key|access[_.-]?key"
        r"|account[_.-]?key|auth[_.-]?key|credentials?)(?i:[_.-]?(?:key|base|value|b64|hash)){0,2}" + _SEP + _VALUE,
    ),
)


def _render(template: str, lb: str, rb: str) -> str:
    return template.replace("{LB}", lb).replace("{RB}", rb)


#: name -> regex source (Python ``re`` syntax, matched against the encoded JSON bytes).
DEFAULT_PATTERNS: dict[str, str] = {name: _render(t, _RE_LB, _RE_RB) for name, _, t in _RULES}
# Internal form: the leading boundary is checked in Python (``_boundary_ok``) so the
# regex starts with its literal and ``rx.match`` at an anchor is all it costs.
_DEFAULT_FAST = {
    name: (anchors, t.startswith("{LB}"), _render(t.removeprefix("{LB}"), "", _RE_RB)) for name, anchors, t in _RULES
}

_NAME_OK = re.compile(r"[A-Za-z0-9_.-]+")
# A JSON string (unrolled loop: fast in ``re``).
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_BARE_DELIMS = b' \t\r\n,:[]{}"'
_ALNUM = frozenset((string.ascii_letters + string.digits).encode())


class Redactor:
    """Replace secrets in an encoded JSON line by ``[REDACTED:<name>]``.

    ``extra_patterns`` (name -> regex, e.g. from configuration) are added to
    :data:`DEFAULT_PATTERNS`; a name that already exists replaces the default. A group
    named ``secret`` limits the replacement to that group (``token=(?P<secret>\\w+)``).
    ``enabled=False`` makes the redactor the identity.
    """

    def __init__(self, extra_patterns: dict[str, str] | None = None, enabled: bool = True) -> None:
        self.enabled = enabled
        self.patterns: dict[str, str] = {**DEFAULT_PATTERNS, **(extra_patterns or {})}
        extra = extra_patterns or {}
        names = list(self.patterns)
        # Per pattern: (regex source, anchors or None, check left boundary); compiled with
        # ``re`` on first use only (dirty lines are rare, and compiling all of them costs a
        # short-lived process such as an agent hook ~50 ms).
        self._rules: list[tuple[bytes, tuple[bytes, ...] | None, bool]] = []
        self._compiled: dict[int, tuple[re.Pattern[bytes], int | str]] = {}
        self._repl: list[tuple[bytes, bytes]] = []
        for name in names:
            if not _NAME_OK.fullmatch(name):
                # The name ends up inside a JSON string: no quotes, backslashes, spaces.
                raise ValueError(f"secret pattern name {name!r}: use letters, digits, '_', '.', '-'")
            if name in _DEFAULT_FAST and name not in extra:
                anchors, boundary, source = _DEFAULT_FAST[name]
                anchors = tuple(a.encode() for a in anchors)
            else:  # configured: no anchors known, ``re`` searches the whole line
                anchors, boundary, source = None, False, self.patterns[name]
            if anchors is None:  # a configured pattern: check it now, not on the first secret
                try:
                    re.compile(source.encode())
                except re.error as exc:
                    raise ValueError(f"secret pattern {name!r} is not a valid regex: {exc}") from None
            self._rules.append((source.encode(), anchors, boundary))
            marker = b"[REDACTED:" + name.encode() + b"]"
            self._repl.append((marker, b'"' + marker + b'"'))

        # The public form of each pattern: the native scanner derives its superset from it.
        self.scanner = SecretScan(
            [
                (self.patterns[name], [a.decode() for a in anchors or ()])
                for name, (_, anchors, _) in zip(names, self._rules)
            ]
        )
        self._scan = self.scanner.scan

    def __call__(self, line: bytes) -> bytes:
        if not self.enabled:
            return line
        found = self._scan(line)
        return line if found is None else self._redact(line, found, None)

    def _regex(self, i: int) -> tuple[re.Pattern[bytes], int | str]:
        """Pattern i compiled, and the group it replaces (``secret`` when it names one)."""
        compiled = self._compiled.get(i)
        if compiled is None:
            rx = re.compile(self._rules[i][0])
            compiled = self._compiled[i] = (rx, "secret" if "secret" in rx.groupindex else 0)
        return compiled

    def _redact(self, line: bytes, candidates: list[int], low: bytes | None) -> bytes:
        """Run the candidate patterns (sorted) on ``line`` and replace their merged matches."""
        matches = []
        for i in candidates:
            rx, group = self._regex(i)
            _, anchors, boundary = self._rules[i]
            if anchors is None:
                found = rx.finditer(line)
            else:
                if low is None:
                    low = line.lower()  # same length: positions carry over
                found = _anchored(line, low, rx, anchors, boundary)
            for m in found:
                start, end = m.span(group)
                if start < end:
                    matches.append((start, end, i))
        if not matches:
            return line
        layout = _StringLayout(line)
        spans = []
        for start, end, i in matches:
            span = _clamp(line, layout, start, end)
            if span is not None:
                start, end, bare = span
                spans.append((start, i, end, self._repl[i][bare]))
        if not spans:
            return line
        spans.sort()
        out, pos = [], 0
        cur_start, _, cur_end, cur_repl = spans[0]
        for start, _, end, repl in spans[1:]:
            if start < cur_end:  # overlapping matches become one marker
                cur_end = max(cur_end, end)
                continue
            out += (line[pos:cur_start], cur_repl)
            pos, cur_start, cur_end, cur_repl = cur_end, start, end, repl
        out += (line[pos:cur_start], cur_repl, line[cur_end:])
        return b"".join(out)


def _anchored(line: bytes, low: bytes, rx: re.Pattern[bytes], anchors: tuple[bytes, ...], boundary: bool):
    """Same matches as ``rx.finditer(line)`` given that every match starts at an anchor.

    ``boundary`` adds the leading token boundary the public pattern spells ``_RE_LB``.
    """
    starts = set()
    for anchor in anchors:
        pos = low.find(anchor)
        while pos >= 0:
            starts.add(pos)
            pos = low.find(anchor, pos + 1)
    last = 0
    for pos in sorted(starts):
        if pos < last:
            continue  # inside the previous match, as finditer would skip it
        if (
            boundary
            and pos
            and line[pos - 1] in _ALNUM
            and not (pos >= 2 and line[pos - 2] == 0x5C and line[pos - 1] in b"nrt")
        ):
            continue
        m = rx.match(line, pos)
        if m is not None:
            yield m
            last = max(m.end(), pos + 1)


class _StringLayout:
    """Where the JSON strings of a line are, found as cheaply as the line allows.

    Usually by counting quotes in C (``bytes.count``/``find``); tokenizing the whole line
    with ``re`` costs ~1 us per string, far more than the rest of the slow path.
    """

    def __init__(self, line: bytes) -> None:
        self.line = line
        # A quote after an escaped backslash (\\") would be counted as escaped.
        self.quick = b'\\\\"' not in line
        self._strings: list[tuple[int, int]] | None = None

    def strings(self) -> list[tuple[int, int]]:
        if self._strings is None:
            self._strings = [(m.start() + 1, m.end() - 1) for m in _JSON_STRING.finditer(self.line)]
        return self._strings

    def around(self, start: int, end: int) -> tuple[int, int] | None:
        """Interior (a, b) of the string holding ``start``, or else the first one the
        span overlaps; None when the span touches no string."""
        line = self.line
        if self.quick:
            if (line.count(b'"', 0, start) - line.count(b'\\"', 0, start)) % 2:
                a = line.rfind(b'"', 0, start)
                while line[a - 1] == 0x5C:  # escaped: look further left
                    a = line.rfind(b'"', 0, a)
                b = line.find(b'"', start)
                while b > 0 and line[b - 1] == 0x5C:
                    b = line.find(b'"', b + 1)
                if b != start:  # else start is the closing quote: the span begins outside
                    return a + 1, b if b >= 0 else len(line)
            if b'"' not in line[start:end]:
                return None
        strings = self.strings()
        k = bisect.bisect_right([b for _, b in strings], start)  # first string closing after start
        if k < len(strings) and strings[k][0] < end:
            return strings[k]
        return None


def _clamp(line: bytes, layout: _StringLayout, start: int, end: int):
    """Fit a match to JSON: (start, end, bare) or None.

    The span is cut to the interior of the JSON string it starts in (or first overlaps)
    and widened so it never splits an escape sequence. A span outside every string (a
    bare number or literal) is widened to the whole token and marked ``bare`` so the
    marker is quoted. Built-in patterns already respect this; configured ones may not.
    """
    bounds = layout.around(start, end)
    if bounds is not None:
        a, b = bounds
        start, end = max(start, a), min(end, b)
        if start >= end:
            return None
        esc = _escape_at(line, a, start)
        if esc is not None:
            start = esc[0]
        esc = _escape_at(line, a, end)
        if esc is not None:
            end = esc[1]
        return start, end, 0
    if any(c in _BARE_DELIMS for c in line[start:end]):
        return None  # JSON structure, not a value: nothing to replace safely
    while start > 0 and line[start - 1] not in _BARE_DELIMS:
        start -= 1
    while end < len(line) and line[end] not in _BARE_DELIMS:
        end += 1
    return start, end, 1


def _escape_at(line: bytes, a: int, pos: int) -> tuple[int, int] | None:
    """The escape sequence strictly around ``pos`` in the string starting at ``a``.

    Looks back at most 5 bytes (``\\uXXXX`` is the longest escape) instead of
    tokenizing the whole string, which keeps huge strings with many matches linear.
    """
    for x in range(pos - 1, max(a, pos - 6) - 1, -1):
        if line[x] != 0x5C:  # backslash
            continue
        run = 1
        while x - run >= a and line[x - run] == 0x5C:
            run += 1
        if run % 2 == 0:  # x closes an escaped backslash, which ends before pos
            return None
        end = x + (6 if line[x + 1 : x + 2] == b"u" else 2)
        return (x, end) if pos < end else None
    return None


_default: Redactor | None = None


def redact_text(text: str) -> str:
    """Redact a plain string with the default patterns (same rules as for lines)."""
    global _default
    import msgspec

    if _default is None:
        _default = Redactor()
    encoded = msgspec.json.encode(text)
    out = _default(encoded)
    return text if out is encoded else msgspec.json.decode(out)
