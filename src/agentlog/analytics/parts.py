"""Per-attempt partial aggregates: what a stretch of the stream says about each session.

A part is one row per attempt (and source file) with only mergeable aggregates: counts,
sums, min/max, the latest `session_end` with its time; then a row per error and a row
per day of the attempt's `usage` events (its tokens and cost that day: a session that
crosses midnight is charged to both days). The `kind` of each row says which.  Parts of
any stretches of any files merge into the part of their union (`merge` is associative),
and `finish` turns the merged parts into the `stream_sessions` table.  This is what lets
`analytics.cache` parse only the bytes appended since the last run.

Sums stay NULL when a stretch has no `usage` event, so a merged sum is NULL exactly when
the whole session has none; `FINISH` makes that 0.
"""

from __future__ import annotations

TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens", "reasoning_tokens")
_SUMS = (*TOKEN_FIELDS, "usage_cost")
_COUNTS = ("ends", "tool_calls", "tool_failures", "errors", "followups", "retries", "malformed")
_FIRSTS = ("task_id", "task_title", "executor", "model")

_END_TIME = "coalesce(timestamp, '-infinity'::TIMESTAMPTZ)"


def partial(relation: str, keys: str = "filename, attempt_id") -> str:
    """The parts of the event rows in `relation` (the pinned stream columns), grouped by `keys`."""
    return f"""
SELECT {keys},
       {", ".join(f"min({c}) AS {c}" for c in _FIRSTS)},
       min(timestamp) AS started, max(timestamp) AS last_seen,
       count(*) FILTER (event_type = 'session_end') AS ends,
       max({_END_TIME}) FILTER (event_type = 'session_end') AS end_time,
       arg_max({{'completion_status': data.completion_status, 'duration_ms': data.duration_ms,
                 'total_tokens': data.total_tokens, 'cost_usd': data.cost_usd, 'success': data.success,
                 'outcome': data.outcome, 'metrics': data.metrics}}, {_END_TIME})
           FILTER (event_type = 'session_end') AS end_data,
       count(*) FILTER (event_type = 'tool_call') AS tool_calls,
       count(*) FILTER (event_type = 'tool_result' AND data.result = 'error') AS tool_failures,
       count(*) FILTER (event_type = 'error') AS errors,
       count(*) FILTER (event_type = 'followup_sent') AS followups,
       count(*) FILTER (event_type = 'session_start' AND data.prompt_type = 'retry') AS retries,
       {", ".join(f"sum(data.{t}) FILTER (event_type = 'usage') AS {t}" for t in TOKEN_FIELDS)},
       sum(data.cost_usd) FILTER (event_type = 'usage') AS usage_cost,
       list({{'ts': timestamp, 'message': data.error_message,
              'fingerprint': nullif(data.error_fingerprint, ''),
              'category': nullif(data.error_category, '')}}) FILTER (event_type = 'error') AS error_list,
       list({{'day': timestamp::DATE, {", ".join(f"'{t}': data.{t}" for t in TOKEN_FIELDS)},
              'usage_cost': data.cost_usd}}) FILTER (event_type = 'usage') AS usage_list,
       count(*) FILTER (event_type IS NULL) AS malformed
FROM {relation}
GROUP BY {keys}
"""


def flat(relation: str, keys: str) -> str:
    """Partial rows with their error lists turned into rows of their own (kind 'error'),
    and their usage lists into one row per day (kind 'usage').

    A list per attempt is costly to carry and merge; error rows cost nothing to append.
    """
    return f"""
SELECT 'session' AS kind, * EXCLUDE (error_list, usage_list) FROM {relation}
UNION ALL BY NAME
SELECT 'error' AS kind, {keys}, unnest(error_list, recursive := true)
FROM {relation} WHERE error_list IS NOT NULL
UNION ALL BY NAME
SELECT 'usage' AS kind, {keys}, day, {", ".join(f"sum({c}) AS {c}" for c in _SUMS)}
FROM (SELECT {keys}, unnest(usage_list, recursive := true) FROM {relation} WHERE usage_list IS NOT NULL)
GROUP BY {keys}, day
"""


def scan(relation: str, keys: str = "filename, attempt_id") -> str:
    """The flat parts of the event rows in `relation` (scanned once: `flat` reads its input twice)."""
    return f"WITH part AS MATERIALIZED ({partial(relation, keys)}) {flat('part', keys)}"


def merge(relation: str) -> str:
    """Flat parts in `relation` merged: one session row per attempt, one usage row per
    attempt and day, the error rows as they are."""
    return f"""
SELECT 'session' AS kind, attempt_id,
       {", ".join(f"min({c}) AS {c}" for c in _FIRSTS)},
       min(started) AS started, max(last_seen) AS last_seen,
       max(end_time) AS end_time, arg_max(end_data, end_time) AS end_data,
       {", ".join(f"sum({c})::BIGINT AS {c}" for c in _COUNTS)},
       {", ".join(f"sum({c}) AS {c}" for c in _SUMS)}
FROM {relation} WHERE kind = 'session'
GROUP BY attempt_id
UNION ALL BY NAME
SELECT * FROM {relation} WHERE kind = 'error'
UNION ALL BY NAME
{usage(relation, "'usage' AS kind, ")}
"""


def finish(relation: str) -> str:
    """The `stream_sessions` columns from the flat parts in `relation`."""
    return f"""
SELECT attempt_id, {", ".join(_FIRSTS)}, started, last_seen, ends > 0 AS has_end, end_data,
       tool_calls, tool_failures, errors, followups, retries,
       {", ".join(f"coalesce({c}, 0) AS {c}" for c in _SUMS)}, malformed
FROM ({merge(relation)}) WHERE kind = 'session'
"""


def errors(relation: str) -> str:
    """The error events (attempt_id, ts, message, fingerprint, category) in the flat parts."""
    return f"SELECT attempt_id, ts, message, fingerprint, category FROM {relation} WHERE kind = 'error'"


def usage(relation: str, extra: str = "") -> str:
    """Tokens and cost of each attempt's `usage` events per day (UTC) in the flat parts."""
    return f"""
SELECT {extra}attempt_id, day, {", ".join(f"sum({c}) AS {c}" for c in _SUMS)}
FROM {relation} WHERE kind = 'usage' GROUP BY attempt_id, day
"""


def build(con, relation: str) -> None:
    """The temp tables `stream_sessions`, `stream_errors` and `stream_usage` from the flat
    parts in `relation`."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE stream_sessions AS {finish(relation)}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE stream_errors AS {errors(relation)}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE stream_usage AS {usage(relation)}")
