"""What every report is built on: the `sessions` table (one row per attempt) and the
`error_events` view (a view, so a report pays only for the error columns it reads).

Both come from ONE scan of the stream: the per-attempt aggregation also collects each
attempt's errors as a list, so no report reads the files twice.  Sessions finished
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
"""

from __future__ import annotations

from functools import lru_cache

from .source import LogSource

_TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens",
                 "reasoning_tokens")

_STREAM_SESSIONS = f"""
CREATE OR REPLACE TEMP TABLE stream_sessions AS
SELECT attempt_id,
       min(task_id) AS task_id, min(task_title) AS task_title,
       min(executor) AS executor, min(model) AS model,
       min(timestamp) AS started, max(timestamp) AS last_seen,
       count(*) FILTER (event_type = 'session_end') > 0 AS has_end,
       arg_max({{'completion_status': data.completion_status, 'duration_ms': data.duration_ms,
                 'total_tokens': data.total_tokens, 'cost_usd': data.cost_usd, 'success': data.success,
                 'outcome': data.outcome, 'metrics': data.metrics}},
               coalesce(timestamp, '-infinity'::TIMESTAMPTZ)) FILTER (event_type = 'session_end') AS end_data,
       count(*) FILTER (event_type = 'tool_call') AS tool_calls,
       count(*) FILTER (event_type = 'tool_result' AND data.result = 'error') AS tool_failures,
       count(*) FILTER (event_type = 'error') AS errors,
       count(*) FILTER (event_type = 'followup_sent') AS followups,
       count(*) FILTER (event_type = 'session_start' AND data.prompt_type = 'retry') AS retries,
       {", ".join(f"coalesce(sum(data.{t}) FILTER (event_type = 'usage'), 0) AS {t}" for t in _TOKEN_FIELDS)},
       coalesce(sum(data.cost_usd) FILTER (event_type = 'usage'), 0) AS usage_cost,
       list({{'ts': timestamp, 'message': data.error_message,
              'fingerprint': nullif(data.error_fingerprint, ''),
              'category': nullif(data.error_category, '')}}) FILTER (event_type = 'error') AS error_list,
       count(*) FILTER (event_type IS NULL) AS malformed
FROM events
GROUP BY attempt_id
"""

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
           s.end_data, m.line, s.error_list,
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
       tool_calls, tool_failures, errors, followups, retries, from_metrics, error_list
FROM joined
"""

_RAW_ERRORS = """
CREATE OR REPLACE TEMP VIEW raw_errors AS
SELECT attempt_id, task_id, task_title, task_size, executor, model, started AS session_started,
       status AS session_status, duration_ms AS session_duration_ms,
       e.ts AS ts, e.message AS message, e.fingerprint AS fingerprint, e.category AS category
FROM (SELECT *, unnest(error_list) AS e FROM sessions)
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


@lru_cache(maxsize=65536)
def _analyze(message: str):
    from ..intel import analyze_error  # compiled on first use: only when old errors need it

    return analyze_error(message)


def _derive(con, column: str, table: str, pick) -> None:
    """Fill `table(message, value)` for the distinct messages that lack `column`."""
    messages = [row[0] for row in con.execute(
        f"SELECT DISTINCT message FROM raw_errors WHERE {column} IS NULL AND message IS NOT NULL").fetchall()]
    values = [pick(_analyze(m)) for m in messages]
    con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS "
                f"SELECT unnest($1::VARCHAR[]) AS message, unnest($2::VARCHAR[]) AS {column}",
                [messages, values])


class Dataset:
    """`sessions` and `error_events` built once per source; `malformed` lines skipped."""

    def __init__(self, source: LogSource):
        self.source = source
        con = self.con = source.con
        con.execute(_STREAM_SESSIONS)
        con.execute(_METRIC_SESSIONS)
        con.execute(_SESSIONS)
        con.execute(_RAW_ERRORS)
        _derive(con, "fingerprint", "derived_fingerprints", lambda info: info.fingerprint)
        _derive(con, "category", "derived_categories", lambda info: info.category)
        con.execute(_ERRORS)
        bad_stream = con.execute("SELECT coalesce(sum(malformed), 0) FROM stream_sessions").fetchone()[0]
        bad_metrics = con.execute("SELECT count(*) FROM metric_lines WHERE attempt_id IS NULL").fetchone()[0] \
            if source.metrics_files else 0
        self.malformed = max(0, int(bad_stream) + int(bad_metrics) - source.unfinished_lines())

    def query(self, sql: str, params: list | None = None) -> list[dict]:
        """Rows of a query as dicts (column name -> value)."""
        cursor = self.con.execute(sql, params or [])
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]


def load(log_dir, *, archives: bool = True) -> Dataset:
    return Dataset(LogSource(log_dir, archives=archives))
