"""Plain-text tables for the terminal and markdown docs."""
from __future__ import annotations

import math
from typing import Mapping, Sequence

__all__ = ["format_table", "format_number"]


def format_number(v: float, fmt: str = "{:.2f}") -> str:
    """``v`` written with ``fmt``; a NaN or infinite value gets a ``!`` (``nan!``, ``inf!``,
    ``-inf!``) so that a failed measurement stands out of a column of numbers."""
    text = fmt.format(v)
    return text if math.isfinite(v) else text + "!"


def format_table(rows: Mapping[str, Mapping[str, float | str]], columns: Sequence[str],
                 first: str = "run", fmt: str = "{:.2f}") -> str:
    """A markdown table with one row per key of ``rows`` and the given metric columns
    (numbers written with ``fmt``, strings as they are, a missing value as an empty cell)."""
    header = [first, *columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for name, metrics in rows.items():
        cells = [name]
        for c in columns:
            v = metrics.get(c, "")
            cells.append(format_number(v, fmt) if isinstance(v, (int, float)) else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
