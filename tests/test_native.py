"""The native core is built by `pip install -e .` and loads as agentlog._core."""

import tomllib
from pathlib import Path

from hypothesis import given, strategies as st

import agentlog._core as core


def test_the_loaded_native_core_is_the_crate_in_this_checkout() -> None:
    cargo = tomllib.loads((Path(__file__).parents[1] / "native" / "Cargo.toml").read_text())
    assert core.version() == cargo["package"]["version"]


_IDS = st.text(alphabet="0123456789abcdefABCDEF", min_size=19, max_size=21) | st.text(max_size=24)


@given(added=st.lists(_IDS, max_size=40), asked=st.lists(_IDS, max_size=40))
def test_an_idset_holds_exactly_what_a_python_set_would(added, asked) -> None:
    """The journal's set of written ids packs an alert id's 20 lowercase hex digits into 10
    bytes: any other string (upper case, one digit more or less, not hex) stays itself."""
    ids, expected = core.IdSet(), set()
    for i, value in enumerate(added):
        if i % 2:
            ids.add(value)
        else:
            ids.update([value])
        expected.add(value)
    assert len(ids) == len(expected)
    for value in asked + added:
        assert (value in ids) == (value in expected)
