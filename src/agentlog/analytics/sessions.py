"""What every report is built on: the `sessions` table (one row per attempt), the
`error_events` view (a view, so a report pays only for the error columns it reads) and
the `usage_days` view (tokens and cost per session and day).

Both come from ONE scan of the stream into per-attempt parts (`analytics.parts`: mergeable
aggregates plus the error events), of only the lines the cache (`analytics.cache`) lacks,
so no report reads the files twice.  Sessions finished
while their stream lines are gone (or written only to the metrics file by an older
writer) come from `agent-metrics.jsonl`; the stream's own `session_end` wins when both exist.

Rules (the same as `store.metrics.session_metrics` and `events.succeeded`):
- ended: a `session_end` in the stream or a metrics line; otherwise the session is open.
- status: success by `agentlog_succeeded`; else failed/timeout/interrupted as written;
  any other (or no) completion status is failed.
- cost and tokens: the sum of `usage` events, else what the end (or metrics line) says.
- duration: the end's `duration_ms`, else the metrics line's, else last minus first event.
- first shot: success with no follow-up and no retry start.
- errors lacking a fingerprint or category get them from `agentlog.intel.analyze_error`.
- usage per day: each `usage` event counts on its own day (UTC), so a session crossing
  midnight is split; what a session's totals hold beyond its usage events (written only
  at its end or in a metrics line) counts on the day it started, as does a session that
  used nothing. The days add up to the session's totals.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from . import parts
from .source import LogSource

_TOKEN_FIELDS = parts.TOKEN_FIELDS

_METRIC_SESSIONS = """
CREATE OR REPLACE TEMP TABLE metric_sessions AS
SELECT attempt_id,
       min(task_id) AS task_id, min(task_title) AS task_title,
       min(executor) AS executor, min(model) AS model,
       arg_max({'ts': timestamp, 'completion_status': coalesce(completion_status, metrics.completion_status),
                'success': success, 'outcome': outcome, 'metrics': metrics},
               coalesce(timestamp, '-infinity'::TIMESTAMPTZ)) AS line
FROM metric_lines
WHERE attempt_id IS NOT NULL
GROUP BY attempt_id
"""

_TOKENS_SUM = " + ".join(f"s.{t}" for t in _TOKEN_FIELDS)

_SESSIONS = f"""
CREATE OR REPLACE TEMP TABLE sessions AS
WITH joined AS (
    SELECT coalesce(s.attempt_id, m.attempt_id) AS attempt_id,
           coalesce(s.task_id, m.task_id) AS task_id,
           coalesce(s.task_title, m.task_title) AS task_title,
           coalesce(s.executor, m.executor) AS executor,
           coalesce(s.model, m.model) AS model,
           coalesce(s.started, m.line.ts - to_milliseconds(coalesce(m.line.metrics.duration_ms, 0))) AS started,
           coalesce(s.last_seen, m.line.ts) AS last_seen,
           coalesce(s.has_end, false) OR m.attempt_id IS NOT NULL AS ended,
           CASE WHEN s.has_end THEN agentlog_succeeded(s.end_data)
                WHEN m.attempt_id IS NOT NULL THEN agentlog_succeeded(m.line)
                ELSE false END AS success,
           CASE WHEN s.has_end THEN s.end_data.completion_status
                ELSE m.line.completion_status END AS written_status,
           coalesce(CASE WHEN s.has_end THEN s.end_data.duration_ms END, m.line.metrics.duration_ms,
                    epoch_ms(s.last_seen) - epoch_ms(s.started)) AS duration_ms,
           s.attempt_id IS NULL AS from_metrics,
           s.end_data, m.line,
           {", ".join(f"coalesce(s.{t}, m.line.metrics.{t}, 0) AS {t}" for t in _TOKEN_FIELDS)},
           coalesce(nullif({_TOKENS_SUM}, 0), s.end_data.total_tokens, m.line.metrics.total_tokens, 0) AS total_tokens,
           coalesce(nullif(s.usage_cost, 0), s.end_data.cost_usd, m.line.metrics.cost_usd, 0) AS cost_usd,
           coalesce(s.tool_calls, m.line.metrics.tool_calls, 0)::BIGINT AS tool_calls,
           coalesce(s.tool_failures, m.line.metrics.tool_failures, 0)::BIGINT AS tool_failures,
           coalesce(s.errors, m.line.metrics.errors, 0)::BIGINT AS errors,
           coalesce(s.followups, m.line.metrics.followups, 0)::BIGINT AS followups,
           coalesce(s.retries, m.line.metrics.retry_count, 0)::BIGINT AS retries
    FROM (SELECT * FROM stream_sessions WHERE attempt_id IS NOT NULL) s
    FULL OUTER JOIN metric_sessions m ON s.attempt_id = m.attempt_id
)
SELECT attempt_id, task_id, task_title, executor, model,
       nullif(lower(regexp_extract(task_title, '\\[(xs|s|m|l|xl)\\]', 1, 'i')), '') AS task_size,
       started, last_seen, ended,
       CASE WHEN NOT ended THEN 'open'
            WHEN success THEN 'success'
            WHEN written_status IN ('failed', 'timeout', 'interrupted') THEN written_status
            ELSE 'failed' END AS status,
       ended AND success AS success,
       ended AND success AND followups = 0 AND retries = 0 AS first_shot,
       duration_ms::DOUBLE AS duration_ms,
       {", ".join(_TOKEN_FIELDS)}, total_tokens::DOUBLE AS total_tokens, cost_usd::DOUBLE AS cost_usd,
       tool_calls, tool_failures, errors, followups, retries, from_metrics
FROM joined
"""

_RAW_ERRORS = """
CREATE OR REPLACE TEMP VIEW raw_errors AS
SELECT attempt_id, task_id, task_title, task_size, executor, model, started AS session_started,
       status AS session_status, duration_ms AS session_duration_ms,
       e.ts AS ts, e.message AS message, e.fingerprint AS fingerprint, e.category AS category
FROM stream_errors e JOIN sessions USING (attempt_id)
"""

_ERRORS = """
CREATE OR REPLACE TEMP VIEW error_events AS
SELECT r.* EXCLUDE (fingerprint, category),
       coalesce(r.fingerprint, f.fingerprint, 'unknown') AS fingerprint,
       coalesce(r.category, c.category, 'unknown') AS category,
       r.fingerprint IS NULL AS derived
FROM raw_errors r
LEFT JOIN derived_fingerprints f ON r.fingerprint IS NULL AND f.message = r.message
LEFT JOIN derived_categories c ON r.category IS NULL AND c.message = r.message
"""


_USAGE_FIELDS = (*_TOKEN_FIELDS, "cost_usd")

_USAGE_DAYS = f"""
CREATE OR REPLACE TEMP VIEW usage_days AS
WITH events AS (
    SELECT attempt_id, day, {", ".join(_TOKEN_FIELDS)}, usage_cost AS cost_usd FROM stream_usage
), per_session AS (
    SELECT attempt_id, {", ".join(f"sum({c}) AS {c}" for c in _USAGE_FIELDS)} FROM events GROUP BY attempt_id
), rest AS (
    SELECT s.attempt_id, s.started::DATE AS day, p.attempt_id IS NULL AS no_usage,
           {", ".join(f"s.{c} - coalesce(p.{c}, 0) AS {c}" for c in _USAGE_FIELDS)}
    FROM sessions s LEFT JOIN per_session p USING (attempt_id)
)
SELECT attempt_id, s.task_id, s.executor, s.model, day,
       {", ".join(f"sum(u.{c}) AS {c}" for c in _USAGE_FIELDS)}
FROM (SELECT * FROM events UNION ALL BY NAME SELECT * EXCLUDE (no_usage) FROM rest
      WHERE no_usage OR {" OR ".join(f"abs({c}) > 1e-9" for c in _USAGE_FIELDS)}) u
JOIN sessions s USING (attempt_id)
GROUP BY ALL
"""


def _fingerprints(source: LogSource, messages: list[str]) -> list[str]:
    from ..intel import fingerprint_of  # what analyze_error gives without a miner

    return [fingerprint_of(m) for m in messages]


def _categories(source: LogSource, messages: list[str]) -> list[str]:
    """The taxonomy's category of each message (what analyze_error gives): classifying
    costs ~0.15 ms a message, so the results are remembered per version of the taxonomy."""
    from ..intel import default_taxonomy, taxonomy

    def classify(message: str) -> str:
        return default_taxonomy().classify(message)[0]

    if not (source.cache and messages):
        return [classify(m) for m in messages]
    from . import cache

    version = hashlib.blake2b(Path(taxonomy.__file__).read_bytes(), digest_size=8).hexdigest()
    return cache.remembered(source.cache_folder, "categories", version, messages, classify)


def _derive(con, source: LogSource) -> None:
    """The temp tables `derived_fingerprints` and `derived_categories` (message, value) of
    the distinct error messages that lack one, both found in one pass over the errors."""
    lacking = con.execute(
        "SELECT list(message) FILTER (no_fingerprint), list(message) FILTER (no_category) FROM ("
        "SELECT message, bool_or(fingerprint IS NULL) AS no_fingerprint, bool_or(category IS NULL) AS no_category "
        "FROM stream_errors WHERE message IS NOT NULL AND attempt_id IS NOT NULL GROUP BY message)"
    ).fetchone()
    for (column, table, values), messages in zip(
        (("fingerprint", "derived_fingerprints", _fingerprints), ("category", "derived_categories", _categories)),
        lacking,
    ):
        messages = messages or []
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {table} AS "
            f"SELECT unnest($1::VARCHAR[]) AS message, unnest($2::VARCHAR[]) AS {column}",
            [messages, values(source, messages)],
        )


class Dataset:
    """`sessions` and `error_events` built once per source; `malformed` lines skipped."""

    def __init__(self, source: LogSource):
        self.source = source
        con = self.con = source.con
        source.stream_tables()
        con.execute(_METRIC_SESSIONS)
        con.execute(_SESSIONS)
        con.execute(_RAW_ERRORS)
        _derive(con, source)
        con.execute(_ERRORS)
        con.execute(_USAGE_DAYS)
        bad_stream = con.execute("SELECT coalesce(sum(malformed), 0) FROM stream_sessions").fetchone()[0]
        bad_metrics = (
            con.execute("SELECT count(*) FROM metric_lines WHERE attempt_id IS NULL").fetchone()[0]
            if source.metrics_files
            else 0
        )
        self.malformed = max(0, int(bad_stream) + int(bad_metrics) - source.unfinished_lines())

    def query(self, sql: str, params: list | None = None) -> list[dict]:
        """Rows of a query as dicts (column name -> value)."""
        cursor = self.con.execute(sql, params or [])
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]


def load(log_dir, *, archives: bool = True, cache: bool = True) -> Dataset:
    """Build the dataset; `cache` keeps the parsed stream under `state/` (`analytics.cache`)."""
    return Dataset(LogSource(log_dir, archives=archives, cache=cache))
