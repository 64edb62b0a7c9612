"""The HTML page of ``pgg-zoo report``: one self-contained file comparing runs.

Nothing on the page is fetched: CSS is inline and figures are base64 PNGs, so the file can be
mailed or archived alone. The runs are read and paired by :mod:`pgg_zoo.report`.
"""
from __future__ import annotations

import base64
import html
import io
import re
from pathlib import Path
from typing import Any, Iterable, Sequence

from .atomic import write_text_atomic
from .report import (IGNORED_KEYS, Run, differing_keys, check_reference, config_value,
                     collect_runs, format_stats, group_by_variant, metric_columns,
                     metric_values, nonfinite_warnings, paired_differences,
                     reference_variant, variant_details)

__all__ = ["render_page", "write_page"]


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _folder_figures(runs: Sequence[Run]) -> list[tuple[Path, str]]:
    """``(path, base64)`` of the PNG figures in the folders given (studies write theirs at the
    top; training runs write none), in name order."""
    seen: dict[Path, str] = {}
    for folder in dict.fromkeys(r.source for r in runs):
        for png in sorted(folder.glob("*.png")):
            seen[png] = base64.b64encode(png.read_bytes()).decode("ascii")
    return list(seen.items())


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1240px;
color:#1d2330;padding:0 16px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde2ea;
padding-bottom:4px} h3{font-size:15px;margin:18px 0 6px}
.note{color:#5a6475;font-size:12.5px;margin:4px 0 10px}
table{border-collapse:collapse;margin:6px 0 14px;font-size:13px}
th,td{border:1px solid #dde2ea;padding:4px 9px;text-align:left;white-space:nowrap}
th{background:#f3f5f9;font-weight:600} td.num{text-align:right;font-variant-numeric:tabular-nums}
tr:nth-child(even) td{background:#fafbfc} td.pos{color:#1a7f37} td.neg{color:#b42318}
td.ref{color:#5a6475;font-style:italic}
td.bad,tr:nth-child(even) td.bad{background:#fde8e8;color:#b42318;font-weight:600}
table.details td{white-space:normal;max-width:1000px;overflow-wrap:anywhere}
.warn{color:#b42318;font-size:12.5px;margin:2px 0}
code{background:#f3f5f9;padding:1px 4px;border-radius:3px;font-size:12.5px}
figure{margin:10px 0 18px} figure img{max-width:100%;border:1px solid #dde2ea}
figcaption{font-size:12.5px;color:#5a6475}
"""


_NUMBER = re.compile(r"^[+-]?(\d|nan|inf)")
_FLAGGED = re.compile(r"^[+-]?(nan|inf)!")


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]], klass: str = "") -> str:
    out = [f'<table class="{klass}"><thead><tr>'
           + "".join(f"<th>{html.escape(str(h))}</th>" for h in head) + "</tr></thead><tbody>"]
    for row in rows:
        cells = []
        for cell in row:
            text, cls = cell if isinstance(cell, tuple) else (cell, "")  # (text, css class)
            if _NUMBER.match(str(text)):
                cls = f"{cls} num".strip()
            if _FLAGGED.match(str(text)):  # a NaN or infinite metric: make it stand out
                cls = f"{cls} bad".strip()
            attr = f' class="{cls}"' if cls else ""
            cells.append(f"<td{attr}>{html.escape(str(text))}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _img(b64: str, caption: str) -> str:
    return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{b64}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _paired_cell(diffs: Sequence[float], column: str) -> tuple[str, str]:
    text = format_stats(diffs, signed=True)
    mean = sum(diffs) / len(diffs) if diffs else 0.0
    if not diffs or column in ("leakage", "train_minutes"):
        return text, ""  # lower is better there: no colour
    return text, "pos" if mean > 0 else "neg" if mean < 0 else ""


def _task_section(task: str, runs: Sequence[Run], details: dict[str, str],
                  paired_to: str | None) -> list[str]:
    from .viz import curves_figure

    cols = metric_columns(task, runs)
    groups = group_by_variant(runs)
    parts = [f"<h2>Metrics: {html.escape(task)}</h2>"]
    parts.append(_table(["variant", "seeds", *cols],
                        [[v, len(rs), *(format_stats(metric_values(rs, c)) for c in cols)]
                         for v, rs in groups.items()], klass="metrics"))
    if any(details.get(v) for v in groups):
        parts.append('<p class="note">Variants: the options that differ between the runs '
                     "compared (seed aside).</p>")
        parts.append(_table(["variant", "configuration"],
                            [[v, details.get(v, "")] for v in groups], klass="details"))
    ref = reference_variant(runs, paired_to if paired_to in groups else None)
    if ref and len(groups) > 1:
        rows = [[v, len(seeds), *(_paired_cell(diffs[c], c) for c in cols)]
                for v, (seeds, diffs) in paired_differences(groups, ref, cols).items()]
        parts.append(f"<h3>Paired differences to <code>{html.escape(ref)}</code></h3>")
        parts.append('<p class="note">Variant minus reference, seed by seed (only seeds '
                     "both have); green: the metric went up, red: down (leakage and time "
                     "uncoloured: lower is better there).</p>")
        parts.append(_table(["variant", "paired seeds", *cols], rows, klass="paired"))
    if any("leakage" in r.metrics for r in runs):
        parts.append('<p class="note">Leakage: the share of the guided labels\' input-'
                     "gradient mass outside their provenance on held-out synthesized "
                     "batches (docs/method.md); lower means the model reads less of the "
                     "other sources. Its chance level (uniform gradients) is "
                     + format_stats(metric_values(runs, "leakage_chance")) + " %.</p>")
    metric = cols[0] if cols else None
    fig = curves_figure(f"{task}: training curves", runs, metric)
    if fig is not None:
        parts.append(f"<h3>Training curves: {html.escape(task)}</h3>")
        parts.append(_img(_png(fig), f"{task}: training loss and guidance term per logged "
                                     f"iteration; {metric or 'metric'} and leakage per "
                                     "evaluation; one colour per variant"))
    return parts


def render_page(runs: Sequence[Run], *, title: str = "pgg-zoo report",
                paired_to: str | None = None) -> str:
    """The HTML page comparing ``runs``: runs, configuration differences, then per task the
    metrics (mean ± sample std over seeds), the variants' configurations, the paired
    differences to the reference variant, the leakage note and the training curves; then the
    folders' own figures. NaN or infinite metrics are flagged in their cells and listed at
    the top.

    Raises:
        ValueError: ``paired_to`` is no variant of ``runs``.
    """
    check_reference(runs, paired_to)
    parts = [f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>"
             f"{html.escape(title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>",
             f'<p class="note">{len(runs)} runs from {len({r.source for r in runs})} folders. '
             "Metrics in percent (training time in minutes); mean ± sample standard deviation "
             "over seeds, n = number of seeds.</p>"]
    parts += [f'<p class="warn">{html.escape(w)}</p>' for w in nonfinite_warnings(runs)]
    parts.append("<h2>Runs</h2>")
    parts.append(_table(["folder", "task", "variant", "seed", "final evaluation"],
                        [[str(r.folder), r.task, r.variant, "" if r.seed is None else r.seed,
                          f"epoch {r.evals[-1][0]}" if r.evals else ""] for r in runs]))
    keys = differing_keys([r.config for r in runs], skip=("seed",))  # seed has its column
    parts.append("<h2>Configuration differences</h2>")
    if keys:
        parts.append('<p class="note">Only the options whose values differ between runs '
                     f"(ignored: {', '.join(IGNORED_KEYS)}).</p>")
        parts.append(_table(["variant", "seed", *keys],
                            [[r.variant, "" if r.seed is None else r.seed,
                              *(config_value(r.config, k) for k in keys)] for r in runs]))
    else:
        parts.append('<p class="note">All runs share one configuration.</p>')
    details = variant_details(runs)
    for task in dict.fromkeys(r.task for r in runs):
        parts += _task_section(task, [r for r in runs if r.task == task], details, paired_to)
    figures = _folder_figures(runs)
    if figures:
        parts.append("<h2>Figures from the folders</h2>")
        parts += [_img(b64, str(path)) for path, b64 in figures]
    parts.append("</body></html>")
    return "\n".join(parts)


def write_page(paths: Iterable[str | Path | Run], out: str | Path, *,
               title: str | None = None, paired_to: str | None = None) -> Path:
    """Read the folders ``paths`` (or take the runs given) and write the page to ``out``
    (through a temporary name, so a failed write leaves an older page intact); returns
    ``out``."""
    items = list(paths)
    runs = items if all(isinstance(p, Run) for p in items) else collect_runs(items)
    if not runs:
        raise ValueError("no runs found in the folders given")
    page = render_page(runs, title=title or "pgg-zoo report", paired_to=paired_to)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomic(out, page)
