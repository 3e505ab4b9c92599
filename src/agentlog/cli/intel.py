"""`agentlog cluster`: one raw message per input line in, `fingerprint<TAB>template` out."""

from __future__ import annotations

import click

from agentlog.intel import cluster_lines
from agentlog.terminal import printable


@click.command("cluster")
@click.argument("file", type=click.File("r", encoding="utf-8", errors="replace"), default="-")
def cluster_cmd(file) -> None:
    """Cluster the messages of FILE (or stdin, `-`), one per line, in input order.

    Control characters in a template are shown escaped (a tab as \\t), so each output
    line has exactly one tab."""
    for fingerprint, template in cluster_lines(file):
        click.echo(f"{printable(fingerprint, one_line=True)}\t{printable(template, one_line=True)}")
