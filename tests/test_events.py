"""The schema: validation errors name the field, old files read back without loss."""

from __future__ import annotations

import pytest

from agentlog.events import (
    EVENT_TYPES,
    EventError,
    decode_line,
    new_event_id,
    normalize_end,
    now_iso,
    parse_time,
    succeeded,
    validate,
)


def event(**fields):
    return {"attempt_id": "a1", "event_type": "tool_call", "data": {"tool_name": "bash"}, **fields}


def test_every_event_type_of_the_design_is_known():
    assert EVENT_TYPES == {
        "session_start",
        "followup_sent",
        "agent_output",
        "agent_thinking",
        "tool_call",
        "tool_result",
        "error",
        "usage",
        "status_change",
        "session_end",
    }


@pytest.mark.parametrize(
    "fields, field, words",
    [
        ({"event_type": "toolcall"}, "event_type", "'toolcall' is not one of"),
        ({"attempt_id": ""}, "attempt_id", "required"),
        ({"attempt_id": 7}, "attempt_id", "required"),
        ({"executor": 3}, "executor", "Expected `str | null`, got `int` at executor"),
        ({"timestamp": "yesterday"}, "timestamp", "not an ISO 8601 time"),
        ({"data": []}, "data", "Expected `object`, got `array` at data"),
        ({"data": {"tool_params": {}}}, "data", "tool_name"),
        ({"event_type": "usage", "data": {"input_tokens": "many"}}, "data", "got `str` at data.input_tokens"),
    ],
)
def test_validation_names_the_field_and_the_problem(fields, field, words):
    with pytest.raises(EventError) as caught:
        validate(event(**fields))
    assert caught.value.field == field
    assert words in str(caught.value)


def test_unknown_fields_are_kept():
    e = validate(event(custom_tag="x", data={"tool_name": "bash", "new_field": [1, 2]}))
    assert e["custom_tag"] == "x" and e["data"]["new_field"] == [1, 2]


def test_bom_and_missing_optional_fields_read_back():
    line = b'\xef\xbb\xbf{"timestamp":"2026-02-09T14:23:45.123Z","event_type":"error","attempt_id":"a"}\n'
    assert decode_line(line)["attempt_id"] == "a"


@pytest.mark.parametrize(
    "raw, reason",
    [(b"{not json", "not valid JSON"), (b"[1,2]", "JSON object"), (b'{"attempt_id": "a"}', "event_type: missing")],
)
def test_decode_errors_say_why(raw, reason):
    with pytest.raises(EventError, match=reason):
        decode_line(raw)


@pytest.mark.parametrize("status", ["setup_failed", "stale_timeout", "weird"])
def test_unusual_completion_statuses_become_failed_and_keep_the_original(status):
    data = normalize_end({"completion_status": status})
    assert data == {"completion_status": "failed", "completion_status_raw": status}
    assert not succeeded(data)


@pytest.mark.parametrize(
    "data, ok",
    [
        ({"completion_status": "success"}, True),
        ({"outcome": {"status": "completed"}}, True),
        ({"metrics": {"success": True}}, True),
        ({"completion_status": "failed", "outcome": {"status": "failed"}}, False),
        ({}, False),
        (None, False),
    ],
)
def test_one_success_rule_three_spellings(data, ok):
    assert succeeded(data) is ok


def test_times_and_ids():
    stamp = now_iso(1_770_647_025.123)
    assert stamp == "2026-02-09T14:23:45.123Z"
    assert abs(parse_time(stamp) - 1_770_647_025.123) < 1e-6
    ids = [new_event_id() for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(i[14] == "7" for i in ids)  # UUID version 7
    assert new_event_id(1.0) < new_event_id(2.0)  # time-ordered


def test_null_data_is_an_empty_object():
    assert validate({"attempt_id": "a", "event_type": "agent_output", "data": None})["data"] == {}
