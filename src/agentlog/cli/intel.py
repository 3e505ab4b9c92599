"""`agentlog cluster`: one raw message per input line in, `fingerprint<TAB>template` out."""

from __future__ import annotations

import click

from agentlog.intel import cluster_lines
from agentlog.terminal import printable


@click.command("cluster")
@click.argument("file", type=click.File("r", encoding="utf-8", errors="replace"), default="-")
@click.option(
    "--online",
    is_flag=True,
    help="Print each line's cluster as soon as it is read (for endless streams), from what "
    "the lines before it taught; by default the whole input is read first, so that "
    "every line gets the cluster learned from all of them.",
)
def cluster_cmd(file, online: bool) -> None:
    """Cluster the messages of FILE (or stdin, `-`), one per line, in input order.

    Prints `fingerprint<TAB>template` for each line.  The miner learns which words vary: a
    position that takes three or more values among otherwise equal messages is a variable,
    so lines that differ only in a user name or a service name share a fingerprint. Control
    characters in a template are shown escaped (a tab as \\t), so each output line has
    exactly one tab."""
    for fingerprint, template in cluster_lines(file, online=online):
        click.echo(f"{printable(fingerprint, one_line=True)}\t{printable(template, one_line=True)}")
