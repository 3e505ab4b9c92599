"""The one Jinja2 environment for every HTML agentlog writes (dashboard, report, replay export).

Autoescape is on for every template: prompts, tool output and error messages carry HTML
and scripts, and they must reach the page as text. No template uses `|safe` on agent
data; data for scripts goes through `|tojson` (which escapes `<`, `>`, `&` and `'`).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import jinja2

from .. import formatting as fmt


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("agentlog.web", "templates"),
        autoescape=True,  # every extension, not only .html: nothing renders unescaped by accident
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        duration=fmt.duration,
        money=fmt.money,
        count=fmt.count,
        percent=fmt.percent,
        when=fmt.when,
        clip=fmt.clip,
        number=fmt.number,
    )
    return env


def render(name: str, **context) -> str:
    return environment().get_template(name).render(**context)


def static_text(name: str) -> str:
    """A vendored static file's text, for pages that must open offline (report, replay export)."""
    return resources.files("agentlog.web").joinpath("static", name).read_text(encoding="utf-8")
