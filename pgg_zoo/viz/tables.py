"""Plain-text tables for the terminal and markdown docs."""
from __future__ import annotations

from typing import Mapping, Sequence


def format_table(rows: Mapping[str, Mapping[str, float | str]], columns: Sequence[str],
                 first: str = "run", fmt: str = "{:.2f}") -> str:
    """A markdown table with one row per key of ``rows`` and the given metric columns."""
    header = [first, *columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for name, metrics in rows.items():
        cells = [name]
        for c in columns:
            v = metrics.get(c, "")
            cells.append(fmt.format(v) if isinstance(v, (int, float)) else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
