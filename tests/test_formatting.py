"""How amounts read in tables and reports."""

from __future__ import annotations

import pytest

from agentlog.formatting import money


@pytest.mark.parametrize(
    ("usd", "shown"),
    [
        (None, "-"),
        (0, "$0.00"),
        (1234.5, "$1,234.50"),
        (0.0042, "$0.0042"),
        (0.00005, "$0.0001"),
        (0.00003, "<$0.0001"),  # printed "$0" before: a cost that is not nothing
        (-0.00003, "-<$0.0001"),
    ],
)
def test_money_never_shows_a_cost_as_nothing(usd, shown):
    assert money(usd) == shown
