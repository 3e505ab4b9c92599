"""Tables for people: recorded text made printable, headers kept whole, sized to the
terminal (or, in a pipe or file, to their content)."""

from __future__ import annotations

from typing import Any


def print_table(
    title: str | None,
    columns: list[tuple[str, bool]],
    rows: list[list[Any]],
    console: Any = None,
    *,
    last_row_style: str = "",
) -> None:
    """Print a table for people: `columns` are (header, numeric); the title and cells are
    made printable (recorded text never reaches the terminal raw, nor as Rich markup).

    Headers never break inside a word. On a terminal the table takes the terminal's width:
    wordy columns fold first, then headers of numbers go on two lines, then the borders go;
    only a terminal too narrow even for that makes Rich fold everything. Elsewhere (a
    pipe, a file) the table has its natural width and nothing wraps.
    """
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from ..terminal import cell, printable

    console = console or Console()
    texts = [[printable(value) for value in row] for row in rows]
    table = Table(title=cell(title) if title is not None else None, title_justify="left")
    for header, numeric in columns:
        table.add_column(header, justify="right" if numeric else "left", overflow="fold")
    for i, row in enumerate(texts):
        style = last_row_style if i == len(texts) - 1 else ""
        table.add_row(*(cell(text) for text in row), style=style)
    if not console.is_terminal:
        width, console.width = console.width, max(_natural_width(console, table), 20)
        try:
            console.print(table)
        finally:
            console.width = width
        return
    widths = _column_widths(console, table, columns, texts)
    if widths is None:  # too narrow for borders: the compact style has none
        table.box, table.show_edge, table.padding = box.SIMPLE_HEAD, False, (0, 0)
        widths = _column_widths(console, table, columns, texts)
    for column, width in zip(table.columns, widths or []):
        column.width = width
    console.print(table)


def _natural_width(console: Any, table: Any) -> int:
    from rich.measure import Measurement

    return Measurement.get(console, console.options.update_width(1 << 16), table).maximum


def _column_widths(
    console: Any, table: Any, columns: list[tuple[str, bool]], texts: list[list[str]]
) -> list[int | None] | None:
    """Widths that fit the terminal with whole header words (Nones: it fits as it is), or
    None when they cannot."""
    from rich.cells import cell_len

    def longest(lines: list[str], words: bool) -> int:
        parts = [p for line in lines for p in (line.split() if words else line.splitlines())]
        return max(map(cell_len, parts), default=0)

    ideal = [max(longest([h], False), longest([row[i] for row in texts], False)) for i, (h, _) in enumerate(columns)]
    header_word = [longest([h], True) for h, _ in columns]
    cell_word = [longest([row[i] for row in texts], not numeric) for i, (_, numeric) in enumerate(columns)]
    available = console.width - (_natural_width(console, table) - sum(ideal))
    widths, excess = list(ideal), sum(ideal) - available
    if excess <= 0:
        return [None] * len(columns)
    # Narrowed in this order: wordy text down to its longest word; the headers of numbers
    # to their longest word (a number itself never folds); wordy text down to its header's.
    whole = [max(h, c) for h, c in zip(header_word, cell_word)]
    wordy = [not numeric for _, numeric in columns]
    floors = (
        [w if t else i for w, t, i in zip(whole, wordy, ideal)],
        whole,
        [h if t else w for h, t, w in zip(header_word, wordy, whole)],
    )
    for floor in floors:
        while excess > 0:
            room = [(widths[i] - floor[i], i) for i in range(len(columns)) if widths[i] > floor[i]]
            if not room:
                break
            widths[max(room)[1]] -= 1
            excess -= 1
    return widths if excess <= 0 else None
