"""``pgg-zoo report``: one self-contained HTML page comparing run folders.

Accepts the folders the other commands write:

* a **training run** (``pgg-zoo train``): ``run.json`` (task and full config), ``metrics.json``
  (the last evaluation), ``metrics.jsonl`` (every evaluation), ``leakage.jsonl`` and mmengine's
  ``<timestamp>/vis_data/scalars.json`` (training losses);
* a **study** (``pgg-zoo demo | ablate | modes``): ``metrics.json`` with ``variants`` and
  ``results``, one training run per variant in a sub-folder, and the study's figures;
* an **alpha study** (``pgg-zoo alpha``): ``metrics.json`` with per-seed ``test`` runs.

Every folder becomes a list of :class:`Run` (variant, seed, config, final metrics, curves).
Runs of the same variant are seeds: the page shows mean ± sample std over them, and paired
differences to a reference variant seed by seed (runs of one seed share data order, synthesis
draws and initial weights, so the pairing removes most of the seed-to-seed spread). Nothing on
the page is fetched: CSS is inline and figures are base64 PNGs, so the file can be mailed or
archived alone.
"""
from __future__ import annotations

import base64
import html
import io
import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .stats import mean_std

__all__ = ["Run", "collect_runs", "render_report", "write_report"]

#: Config keys that differ between any two runs without changing what was trained.
IGNORED_KEYS = ("work_dir", "resume", "num_workers", "launcher", "log_backend")
#: Metrics that describe a measurement rather than a result (kept off the tables).
AUX_METRICS = ("leakage_chance", "leakage_slots")


@dataclass
class Run:
    """One trained model, as read from a folder.

    Attributes:
        task: registered task name.
        variant: the row it belongs to (a study's variant name, or for single training runs a
            label made of the config keys that differ between the runs compared).
        seed: the run seed (pairs runs across variants).
        config: configuration (the full one from ``run.json`` when the folder has it, else the
            study's common settings with the variant's overrides).
        metrics: final metrics, in percent (``metrics.json``).
        evals: every evaluation ``[(epoch, metrics)]`` (``metrics.jsonl``).
        leakage: ``[(epoch, leakage %)]`` (``leakage.jsonl``).
        losses: training log lines ``[(iteration, {loss, loss_task, loss_pgg, ...})]``.
        folder: where it was read from.
        source: the folder named on the command line (a study folder for variants).
    """

    task: str
    variant: str
    seed: int | None
    config: dict[str, Any]
    metrics: dict[str, float]
    folder: Path
    source: Path
    evals: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    leakage: list[tuple[int, float]] = field(default_factory=list)
    losses: list[tuple[int, dict[str, float]]] = field(default_factory=list)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read JSON ({exc})") from None


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    out = []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except ValueError:
                raise ValueError(f"{path}, line {n}: not JSON") from None
    return out


def _curves(run: Run) -> None:
    """Fill ``run``'s curves from the files in its folder (absent files leave them empty)."""
    folder = run.folder
    run.evals = [(int(r.get("epoch", i + 1)), dict(r.get("metrics", {})))
                 for i, r in enumerate(_jsonl(folder / "metrics.jsonl"))]
    run.leakage = [(int(r.get("epoch", 0)), float(r["metrics"]["leakage"]))
                   for r in _jsonl(folder / "leakage.jsonl")
                   if "leakage" in r.get("metrics", {})]
    logs = sorted(folder.glob("*/vis_data/scalars.json"))
    if logs:  # the latest run of the folder (a resumed run starts a new timestamp folder)
        run.losses = [(int(r.get("iter", r.get("step", 0))), r)
                      for r in _jsonl(logs[-1]) if "loss" in r]


def _training_run(folder: Path, source: Path, variant: str | None = None,
                  seed: int | None = None, fallback: Mapping[str, Any] | None = None) -> Run:
    meta = _read_json(folder / "run.json") if (folder / "run.json").is_file() else {}
    config = dict(meta.get("config") or fallback or {})
    metrics_file = folder / "metrics.json"
    metrics = dict(_read_json(metrics_file).get("metrics", {})) if metrics_file.is_file() else {}
    run = Run(task=str(meta.get("task") or config.get("task") or "?"), variant=variant or "",
              seed=config.get("seed", seed) if seed is None else seed, config=config,
              metrics=metrics, folder=folder, source=source)
    _curves(run)
    return run


def collect_runs(paths: Iterable[str | Path]) -> list[Run]:
    """Read every folder of ``paths`` (training runs or study folders) into runs.

    Raises:
        FileNotFoundError: a folder holds neither ``run.json`` nor a study's ``metrics.json``.
    """
    from .study import variant_dir_name

    runs: list[Run] = []
    for raw in paths:
        path = Path(raw)
        if (path / "run.json").is_file():
            runs.append(_training_run(path, path))
            continue
        if not (path / "metrics.json").is_file():
            raise FileNotFoundError(f"{path}: not a run folder (no run.json) and not a study "
                                    "folder (no metrics.json)")
        payload = _read_json(path / "metrics.json")
        task = str(payload.get("task", "?"))
        common = dict(payload.get("common") or {})
        if "results" in payload:  # demo / ablate / modes
            variants = payload.get("variants") or {}
            for name, metrics in payload["results"].items():
                sub = path / variant_dir_name(name)
                fallback = {**common, **dict(variants.get(name) or {})}
                seed = payload.get("seed", common.get("seed"))
                if (sub / "run.json").is_file():
                    run = _training_run(sub, path, variant=name, seed=seed, fallback=fallback)
                else:
                    run = Run(task=task, variant=name, seed=seed, config=fallback,
                              metrics={}, folder=path, source=path)
                run.task = task
                run.metrics = dict(metrics)  # the study's record, train_minutes included
                runs.append(run)
        elif "test" in payload:  # pgg-zoo alpha: per-seed test runs of two variants
            seeds = list(payload.get("test_seeds") or [])
            for name, per_seed in payload["test"].items():
                for i, metrics in enumerate(per_seed):
                    runs.append(Run(task=task, variant=name,
                                    seed=seeds[i] if i < len(seeds) else i,
                                    config=dict(common), metrics=dict(metrics), folder=path,
                                    source=path))
        else:
            raise ValueError(f"{path / 'metrics.json'}: neither a study's results nor an alpha "
                             "study's test runs")
    _label_single_runs(runs)
    return runs


def _differing_keys(configs: Sequence[Mapping[str, Any]], skip: Sequence[str] = ()) -> list[str]:
    keys = sorted({k for c in configs for k in c})
    return [k for k in keys if k not in IGNORED_KEYS and k not in skip
            and len({json.dumps(c.get(k), sort_keys=True, default=str) for c in configs}) > 1]


def _label_single_runs(runs: list[Run]) -> None:
    """Name the training runs given directly: by the config keys that differ between them
    (seed aside, so that seeds of one setting share a row)."""
    single = [r for r in runs if not r.variant]
    keys = _differing_keys([r.config for r in single], skip=("seed",))
    for r in single:
        parts = [f"{k}={_fmt_value(r.config.get(k))}" for k in keys]
        r.variant = ", ".join(parts) or r.task


def _fmt_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True)
    return str(v)


def _fmt_stats(values: Sequence[float], signed: bool = False) -> str:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    text = mean_std(vals, signed=signed)
    return f"{text} (n={len(vals)})" if len(vals) > 1 else text


def metric_columns(task: str, runs: Sequence[Run]) -> list[str]:
    """The task's summary metrics that the runs report, then leakage, then training time."""
    have = {k for r in runs for k in r.metrics}
    cols: list[str] = []
    try:
        from .registry import TASKS

        cols = [m for m in TASKS.get(task).summary_metrics if m in have]
    except Exception:  # noqa: BLE001 - a task not installed here still gets its numbers shown
        pass
    if not cols:
        cols = sorted(k for k in have if k not in AUX_METRICS + ("leakage", "train_minutes"))
    cols += [k for k in ("leakage", "train_minutes") if k in have and k not in cols]
    return cols


def reference_variant(runs: Sequence[Run], requested: str | None = None) -> str | None:
    """The variant paired differences are taken to: ``requested``; else the unguided twin of
    the first guided run (same configuration but for the guidance keys: the paper's baseline);
    else the first variant trained with synthesis and without guidance; else the first."""
    from .task.variants import GUIDANCE_KEYS, is_guided

    variants = list(dict.fromkeys(r.variant for r in runs))
    if requested:
        if requested not in variants:
            raise ValueError(f"--paired-to {requested!r}: not a variant here (have {variants})")
        return requested

    def what(r: Run) -> dict[str, Any]:
        skip = (*GUIDANCE_KEYS, *IGNORED_KEYS, "seed")
        return {k: v for k, v in r.config.items() if k not in skip}

    unguided = [r for r in runs if r.config.get("guidance") is False]
    for g in (r for r in runs if r.config.get("guidance") and is_guided(r.config)):
        twin = next((r for r in unguided if what(r) == what(g)), None)
        if twin is not None:
            return twin.variant
    for r in unguided:
        if (r.config.get("synthesizer") or "none") != "none":
            return r.variant
    return variants[0] if variants else None


# -- figures ----------------------------------------------------------------------------------
def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def curves_figure(task: str, runs: Sequence[Run], metric: str | None) -> str | None:
    """Base64 PNG of the training curves of ``runs`` (one line per run): training loss and
    guidance term by iteration, ``metric`` and leakage by epoch; None when no run has any."""
    if not any(r.losses or r.evals or r.leakage for r in runs):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("training loss", "iteration"), ("guidance term alpha·penalty", "iteration"),
              (f"{metric or 'metric'} (%)", "epoch"), ("gradient leakage (%)", "epoch")]
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    variants = list(dict.fromkeys(r.variant for r in runs))
    for r in runs:
        color = colors[variants.index(r.variant) % len(colors)]
        label = f"{r.variant} s{r.seed}" if r.seed is not None else r.variant
        kw = dict(color=color, label=label, marker="." if len(r.evals) < 20 else None)
        if r.losses:
            axes[0].plot([i for i, _ in r.losses], [d["loss"] for _, d in r.losses], **kw)
            pgg = [(i, d["loss_pgg"]) for i, d in r.losses if "loss_pgg" in d]
            if pgg:
                axes[1].plot(*zip(*pgg), **kw)
        if metric and r.evals:
            pts = [(e, m[metric]) for e, m in r.evals if metric in m]
            if pts:
                axes[2].plot(*zip(*pts), **kw)
        if r.leakage:
            axes[3].plot(*zip(*r.leakage), **kw)
    from matplotlib.ticker import MaxNLocator

    for ax, (title, xlabel) in zip(axes, panels):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if ax.lines and xlabel == "epoch":
            ax.set_xlim(left=0)  # a lone final evaluation still reads as "after N epochs"
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
        if not ax.lines:
            ax.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=ax.transAxes,
                    color="gray")
    handles, labels = axes[0].get_legend_handles_labels()
    for ax in axes[1:]:
        h, lab = ax.get_legend_handles_labels()
        handles += [x for x, y in zip(h, lab) if y not in labels]
        labels += [y for y in lab if y not in labels]
    fig.legend(handles, labels, fontsize=7, loc="lower center", ncol=min(6, max(1, len(labels))),
               bbox_to_anchor=(0.5, -0.12 - 0.05 * (len(labels) // 6)))
    fig.suptitle(f"{task}: training curves", fontsize=10)
    return _png(fig)


def _folder_figures(runs: Sequence[Run]) -> list[tuple[Path, str]]:
    """``(path, base64)`` of the PNG figures in the folders given (studies write theirs at the
    top; training runs write none), in name order."""
    seen: dict[Path, str] = {}
    for folder in dict.fromkeys(r.source for r in runs):
        for png in sorted(folder.glob("*.png")):
            seen[png] = base64.b64encode(png.read_bytes()).decode("ascii")
    return list(seen.items())


# -- HTML ---------------------------------------------------------------------------------------
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
code{background:#f3f5f9;padding:1px 4px;border-radius:3px;font-size:12.5px}
figure{margin:10px 0 18px} figure img{max-width:100%;border:1px solid #dde2ea}
figcaption{font-size:12.5px;color:#5a6475}
"""


_NUMBER = re.compile(r"^[+-]?(\d|nan|inf)")


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]], klass: str = "") -> str:
    out = [f'<table class="{klass}"><thead><tr>'
           + "".join(f"<th>{html.escape(str(h))}</th>" for h in head) + "</tr></thead><tbody>"]
    for row in rows:
        cells = []
        for cell in row:
            text, klass = cell if isinstance(cell, tuple) else (cell, "")  # (text, css class)
            if _NUMBER.match(str(text)):
                klass = f"{klass} num".strip()
            attr = f' class="{klass}"' if klass else ""
            cells.append(f"<td{attr}>{html.escape(str(text))}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _img(b64: str, caption: str) -> str:
    return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{b64}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def render_report(runs: Sequence[Run], *, title: str = "pgg-zoo report",
                  paired_to: str | None = None) -> str:
    """The HTML page comparing ``runs`` (see the module docstring for what it shows)."""
    parts = [f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>"
             f"{html.escape(title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>",
             f'<p class="note">{len(runs)} runs from {len({r.source for r in runs})} folders. '
             "Metrics in percent (training time in minutes); mean ± sample standard deviation "
             "over seeds, n = number of seeds.</p>"]
    parts.append("<h2>Runs</h2>")
    parts.append(_table(["folder", "task", "variant", "seed", "final evaluation"],
                        [[str(r.folder), r.task, r.variant, "" if r.seed is None else r.seed,
                          f"epoch {r.evals[-1][0]}" if r.evals else ""] for r in runs]))
    keys = _differing_keys([r.config for r in runs], skip=("seed",))  # seed has its column
    parts.append("<h2>Configuration differences</h2>")
    if keys:
        parts.append('<p class="note">Only the options whose values differ between runs '
                     f"(ignored: {', '.join(IGNORED_KEYS)}).</p>")
        parts.append(_table(["variant", "seed", *keys],
                            [[r.variant, "" if r.seed is None else r.seed,
                              *(_fmt_value(r.config.get(k)) for k in keys)] for r in runs]))
    else:
        parts.append('<p class="note">All runs share one configuration.</p>')
    for task in dict.fromkeys(r.task for r in runs):
        truns = [r for r in runs if r.task == task]
        cols = metric_columns(task, truns)
        by_variant: dict[str, list[Run]] = defaultdict(list)
        for r in truns:
            by_variant[r.variant].append(r)
        parts.append(f"<h2>Metrics: {html.escape(task)}</h2>")
        parts.append(_table(["variant", "seeds", *cols],
                            [[v, ", ".join(str(r.seed) for r in rs),
                              *(_fmt_stats([r.metrics.get(c, math.nan) for r in rs])
                                for c in cols)] for v, rs in by_variant.items()],
                            klass="metrics"))
        ref = reference_variant(truns, paired_to if paired_to in by_variant else None)
        if ref and len(by_variant) > 1:
            ref_by_seed = {r.seed: r for r in by_variant[ref]}
            rows = []
            for v, rs in by_variant.items():
                if v == ref:
                    continue
                pairs = [(r, ref_by_seed[r.seed]) for r in rs if r.seed in ref_by_seed]
                row: list[Any] = [v, ", ".join(str(r.seed) for r, _ in pairs)]
                for c in cols:
                    diffs = [r.metrics[c] - b.metrics[c] for r, b in pairs
                             if c in r.metrics and c in b.metrics]
                    text = _fmt_stats(diffs, signed=True)
                    mean = sum(diffs) / len(diffs) if diffs else 0.0
                    klass = "" if not diffs or c in ("leakage", "train_minutes") else (
                        "pos" if mean > 0 else "neg" if mean < 0 else "")
                    row.append((text, klass))
                rows.append(row)
            parts.append(f"<h3>Paired differences to <code>{html.escape(ref)}</code></h3>")
            parts.append('<p class="note">Variant minus reference, seed by seed (only seeds '
                         "both have); green: the metric went up, red: down (leakage and time "
                         "uncoloured: lower is better there).</p>")
            parts.append(_table(["variant", "paired seeds", *cols], rows, klass="paired"))
        if any("leakage" in r.metrics for r in truns):
            parts.append('<p class="note">Leakage: the share of the guided labels\' input-'
                         "gradient mass outside their provenance on held-out synthesized "
                         "batches (docs/method.md); lower means the model reads less of the "
                         "other sources. Its chance level (uniform gradients) is "
                         + _fmt_stats([r.metrics["leakage_chance"] for r in truns
                                       if "leakage_chance" in r.metrics]) + " %.</p>")
        curve = curves_figure(task, truns, cols[0] if cols else None)
        if curve:
            parts.append(f"<h3>Training curves: {html.escape(task)}</h3>")
            parts.append(_img(curve, f"{task}: training loss and guidance term per logged "
                                     f"iteration; {cols[0] if cols else 'metric'} and leakage "
                                     "per evaluation"))
    figures = _folder_figures(runs)
    if figures:
        parts.append("<h2>Figures from the folders</h2>")
        parts += [_img(b64, str(path)) for path, b64 in figures]
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(paths: Iterable[str | Path], out: str | Path, *, title: str | None = None,
                 paired_to: str | None = None) -> Path:
    """Read the folders ``paths`` and write the report page to ``out`` (through a temporary
    name, so a failed write leaves an older page intact); returns ``out``."""
    import os

    runs = collect_runs(paths)
    if not runs:
        raise ValueError("no runs found in the folders given")
    page = render_report(runs, title=title or "pgg-zoo report", paired_to=paired_to)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out)
    return out
