"""Tables for people: Markdown for reports, and plain text aligned for a terminal
(East Asian wide characters counted as two columns). The one place both are built."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence


def width(text: str) -> int:
    """Terminal columns ``text`` takes: wide and fullwidth characters (Chinese) count two."""
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text
    )


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` columns, with an ellipsis when cut."""
    if width(text) <= limit:
        return text
    out, used = "", 0
    for c in text:
        w = width(c)
        if used + w > limit - 1:
            break
        out, used = out + c, used + w
    return out + "…"


def pad(text: str, columns: int, right: bool = False) -> str:
    """``text`` padded to ``columns`` terminal columns (right-aligned when ``right``)."""
    gap = " " * max(0, columns - width(text))
    return gap + text if right else text + gap


def render(headers: Sequence[str], rows: Sequence[Sequence[str]], max_widths: Sequence[int] | None = None) -> str:
    """Left-aligned columns separated by two spaces, a rule under the header."""
    limits = list(max_widths) if max_widths else [10_000] * len(headers)
    cells = [[clip(str(v), limits[i]) for i, v in enumerate(row)] for row in rows]
    widths = [max([width(h)] + [width(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(pad(h, widths[i]) for i, h in enumerate(headers)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(pad(v, widths[i]) for i, v in enumerate(r)).rstrip() for r in cells]
    return "\n".join(lines)


def markdown_cell(value: object) -> str:
    """A value as a Markdown table cell: None is empty, pipes escaped, one line."""
    return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")


def markdown(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table."""
    out = ["| " + " | ".join(markdown_cell(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(markdown_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(out)
