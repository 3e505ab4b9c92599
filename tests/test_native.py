"""The native core is built by `pip install -e .` and loads as agentlog._core."""

import tomllib
from pathlib import Path

import agentlog._core as core


def test_the_loaded_native_core_is_the_crate_in_this_checkout() -> None:
    cargo = tomllib.loads((Path(__file__).parents[1] / "native" / "Cargo.toml").read_text())
    assert core.version() == cargo["package"]["version"]
