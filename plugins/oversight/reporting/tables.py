"""Plain-text tables aligned for a terminal, with East Asian wide characters counted as two columns."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence


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


def pad(text: str, columns: int) -> str:
    return text + " " * max(0, columns - width(text))


def render(headers: Sequence[str], rows: Sequence[Sequence[str]], max_widths: Sequence[int] | None = None) -> str:
    """Left-aligned columns separated by two spaces, a rule under the header."""
    limits = list(max_widths) if max_widths else [10_000] * len(headers)
    cells = [[clip(str(v), limits[i]) for i, v in enumerate(row)] for row in rows]
    widths = [max([width(h)] + [width(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(pad(h, widths[i]) for i, h in enumerate(headers)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(pad(v, widths[i]) for i, v in enumerate(r)).rstrip() for r in cells]
    return "\n".join(lines)
