"""Reading run folders into comparable runs: the core of ``pgg-zoo report``.

Accepts the folders the other commands write:

* a **training run** (``pgg-zoo train``): ``run.json`` (task and full configuration),
  ``metrics.json`` (the last evaluation), ``metrics.jsonl`` (every evaluation),
  ``leakage.jsonl`` and mmengine's ``<timestamp>/vis_data/scalars.json`` (training losses);
* a **study** (``pgg-zoo demo | ablate | modes``): ``metrics.json`` with ``variants`` and
  ``results``, one training run per variant in a sub-folder, and the study's figures;
* an **alpha study** (``pgg-zoo alpha``): ``metrics.json`` with per-seed ``test`` runs.

Every folder becomes a list of :class:`Run` (variant, seed, config, final metrics, curves).
Runs of the same variant are seeds: the reports show mean ± sample std over them, and paired
differences to a reference variant seed by seed (runs of one seed share data order, synthesis
draws and initial weights, so the pairing removes most of the seed-to-seed spread). The HTML
page is :func:`render_report` / :func:`write_report` (:mod:`pgg_zoo.report_html`), the markdown
summary :func:`pgg_zoo.report_markdown.markdown_report`; both read runs and pair them here.
"""
from __future__ import annotations

import json
import math
import os
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .stats import mean_std

__all__ = ["Run", "collect_runs", "run_config", "render_report", "write_report",
           "metric_columns", "reference_variant", "check_reference", "group_by_variant",
           "paired_differences", "differing_keys", "variant_details", "config_value",
           "metric_values", "format_stats", "nonfinite_warnings"]

#: Config keys that differ between any two runs without changing what was trained.
IGNORED_KEYS = ("work_dir", "resume", "num_workers", "launcher", "log_backend")
#: Metrics that describe a measurement rather than a result (kept off the tables).
AUX_METRICS = ("leakage_chance", "leakage_slots")


@dataclass
class Run:
    """One trained model, as read from a folder.

    Attributes:
        task: registered task name.
        variant: the row it belongs to: a study's variant name; for a training run given
            directly, the name of the study variant it trained (its parent folder is the
            study's), else its folder name (seeds of one configuration share one name).
        seed: the run seed (pairs runs across variants).
        config: flat configuration (task options and run options together: from ``run.json``
            when the folder has it, else the study's common settings with the variant's
            overrides).
        metrics: final metrics, in percent (``metrics.json``); a null value reads as NaN.
        evals: every evaluation ``[(epoch, metrics)]`` (``metrics.jsonl``).
        leakage: ``[(epoch, leakage %)]`` (``leakage.jsonl``).
        losses: training log lines ``[(iteration, {loss, loss_task, loss_pgg, ...})]``.
        folder: where it was read from.
        source: the folder named on the command line (a study folder for variants).
        spec: the study's own record of the variant's options (``metrics.json``'s
            ``variants``), None for runs given directly.
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
    spec: dict[str, Any] | None = None


# -- reading ------------------------------------------------------------------------------------
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


def _metrics(raw: Mapping[str, Any]) -> dict[str, float]:
    # a writer that cannot encode NaN writes null: keep it as the failed value it is
    return {k: math.nan if v is None else v for k, v in raw.items()}


def run_config(meta: Mapping[str, Any], path: str | Path = "run.json") -> dict[str, Any]:
    """The flat configuration of a run from its ``run.json`` payload ``meta``.

    Two layouts: ``{"task", "data", "config": {...}}`` (task and run options in one dict), and
    ``{"task", "data", "task_options": {...}, "run": {...}}`` (kept apart), read as
    ``{**task_options, **run}`` so that runs of either layout compare key by key. ``{}`` when
    the payload holds neither.

    Raises:
        ValueError: one of those entries is not a JSON object (``path`` names the file).
    """
    if "task_options" in meta or "run" in meta:
        parts = {name: meta.get(name) or {} for name in ("task_options", "run")}
    else:
        parts = {"config": meta.get("config") or {}}
    for name, part in parts.items():
        if not isinstance(part, Mapping):
            raise ValueError(f"{path}: {name!r} must be a JSON object, not "
                             f"{type(part).__name__}")
    flat: dict[str, Any] = {}
    for part in parts.values():
        flat.update(part)
    return flat


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
    run_file = folder / "run.json"
    meta = _read_json(run_file) if run_file.is_file() else {}
    config = run_config(meta, run_file) or dict(fallback or {})
    metrics_file = folder / "metrics.json"
    metrics = _metrics(_read_json(metrics_file).get("metrics", {})) \
        if metrics_file.is_file() else {}
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
                spec = variants.get(name)
                fallback = {**common, **dict(spec or {})}
                seed = payload.get("seed", common.get("seed"))
                if sub.is_dir():  # its run.json and curves (a log without run.json too)
                    run = _training_run(sub, path, variant=name, seed=seed, fallback=fallback)
                else:
                    run = Run(task=task, variant=name, seed=seed, config=fallback,
                              metrics={}, folder=path, source=path)
                run.task = task
                run.metrics = _metrics(metrics)  # the study's record, train_minutes included
                run.spec = None if spec is None else dict(spec)
                runs.append(run)
        elif "test" in payload:  # pgg-zoo alpha: per-seed test runs of two variants
            seeds = list(payload.get("test_seeds") or [])
            for name, per_seed in payload["test"].items():
                for i, metrics in enumerate(per_seed):
                    runs.append(Run(task=task, variant=name,
                                    seed=seeds[i] if i < len(seeds) else i,
                                    config=dict(common), metrics=_metrics(metrics),
                                    folder=path, source=path))
        else:
            raise ValueError(f"{path / 'metrics.json'}: neither a study's results nor an alpha "
                             "study's test runs")
    _name_single_runs(runs)
    return runs


# -- naming -------------------------------------------------------------------------------------
def differing_keys(configs: Sequence[Mapping[str, Any]], skip: Sequence[str] = ()) -> list[str]:
    """The keys whose values differ between ``configs`` (:data:`IGNORED_KEYS` and ``skip``
    aside), sorted."""
    keys = sorted({k for c in configs for k in c})
    return [k for k in keys if k not in IGNORED_KEYS and k not in skip
            and len({json.dumps(c.get(k), sort_keys=True, default=str) for c in configs}) > 1]


def _study_variant(folder: Path) -> str | None:
    """The variant of the study in ``folder``'s parent that trained in ``folder``, if any."""
    from .study import variant_dir_name

    folder = folder.resolve()
    summary = folder.parent / "metrics.json"
    if not summary.is_file():
        return None
    try:
        payload = json.loads(summary.read_text())
    except (OSError, ValueError):
        return None  # not a study's summary: the folder is named by itself
    if not isinstance(payload, Mapping):
        return None
    names = [*(payload.get("results") or {}), *(payload.get("variants") or {})]
    return next((n for n in names if variant_dir_name(n) == folder.name), None)


def _without_seed(name: str, seed: Any) -> str:
    """``name`` less a trailing seed token (``a0.05_s1`` -> ``a0.05`` for seed 1)."""
    if seed is None:
        return name
    short = re.sub(rf"(?:^|[_.\-])(?:s|seed)[_\-]?0*{re.escape(str(seed))}$", "", name)
    return short or name


def _folder_label(runs: Sequence[Run]) -> str:
    """A name for the seeds of one configuration given as folders: their common folder name
    (a trailing seed token aside), else their names' common start, else the first name."""
    names = [_without_seed(r.folder.resolve().name, r.seed) for r in runs]
    if len(set(names)) == 1:
        return names[0]
    prefix = re.sub(r"[_.\- ]+$", "", os.path.commonprefix(names))
    return prefix or names[0]


def _name_single_runs(runs: list[Run]) -> None:
    """Name the training runs given directly, briefly.

    Runs whose configurations differ only in the seed form one variant (their seeds). It is
    named after the study variant it trained when its folders are a study's (``s0/pgg`` ->
    ``pgg``), else after its folder. A folder name that another variant already uses gets its
    parent folder in front (``a/run``, ``b/run``), then a number. The full configuration
    difference is :func:`variant_details`'s to show."""
    single = [r for r in runs if not r.variant]
    keys = differing_keys([r.config for r in single], skip=("seed",))
    groups: dict[str, list[Run]] = defaultdict(list)
    for r in single:
        groups[json.dumps([r.config.get(k) for k in keys], default=str)].append(r)
    named: list[tuple[list[Run], str, bool]] = []  # (runs, name, name is the study's)
    for rs in groups.values():
        study = {_study_variant(r.folder) for r in rs}
        if len(study) == 1 and None not in study:
            named.append((rs, study.pop(), True))
        else:
            named.append((rs, _folder_label(rs), False))
    # study variant names are shared on purpose (seeds of one variant across studies)
    fixed = {r.variant for r in runs if r.variant} | {n for _, n, own in named if own}
    counts: dict[str, int] = defaultdict(int)
    for _, name, own in named:
        counts[name] += not own
    used = set(fixed)
    for rs, name, own in named:
        if not own and (counts[name] > 1 or name in fixed):
            parent = rs[0].folder.resolve().parent.name
            name = f"{parent}/{name}" if parent else name
        base, k = name, 2
        while not own and name in used:
            name, k = f"{base} #{k}", k + 1
        used.add(name)
        for r in rs:
            r.variant = name


def config_value(config: Mapping[str, Any], key: str) -> str:
    """``config[key]`` as a table shows it; ``(unset)`` when the run does not set ``key`` (a
    study's variant that leaves an option to the task's default)."""
    return _fmt_value(config[key]) if key in config else "(unset)"


def _fmt_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True)
    return str(v)


def variant_details(runs: Sequence[Run]) -> dict[str, str]:
    """``{variant: "key=value, ..."}``: the options that differ between ``runs`` (seed and
    :data:`IGNORED_KEYS` aside), as each variant has them; values its seeds disagree on are
    joined by ``|``. Empty strings when every run shares one configuration."""
    keys = differing_keys([r.config for r in runs], skip=("seed",))
    out: dict[str, str] = {}
    for variant, rs in group_by_variant(runs).items():
        parts = []
        for k in keys:
            values = dict.fromkeys(config_value(r.config, k) for r in rs)
            parts.append(f"{k}={'|'.join(values)}")
        out[variant] = ", ".join(parts)
    return out


# -- comparing ----------------------------------------------------------------------------------
def group_by_variant(runs: Sequence[Run]) -> dict[str, list[Run]]:
    """``{variant: its runs}`` in the order the variants first appear."""
    out: dict[str, list[Run]] = defaultdict(list)
    for r in runs:
        out[r.variant].append(r)
    return dict(out)


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


def check_reference(runs: Sequence[Run], requested: str | None) -> None:
    """Raise ValueError (one line, naming the variants present) when ``requested`` is given
    and is not the variant of any of ``runs``."""
    variants = list(dict.fromkeys(r.variant for r in runs))
    if requested is not None and requested not in variants:
        raise ValueError(f"--paired-to {requested!r}: no such variant; the variants here are "
                         + ", ".join(repr(v) for v in variants))


def reference_variant(runs: Sequence[Run], requested: str | None = None) -> str | None:
    """The variant paired differences are taken to: ``requested``; else the unguided twin of
    the first guided run (same configuration but for the guidance keys: the paper's baseline);
    else the first variant trained with synthesis and without guidance; else the first.

    Raises:
        ValueError: ``requested`` is no variant of ``runs``.
    """
    from .task.variants import GUIDANCE_KEYS, is_guided

    if requested:
        check_reference(runs, requested)
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
    return runs[0].variant if runs else None


def paired_differences(groups: Mapping[str, Sequence[Run]], ref: str, columns: Sequence[str]
                       ) -> dict[str, tuple[list[Any], dict[str, list[float]]]]:
    """``{variant: (paired seeds, {column: [variant - reference, seed by seed]})}`` for every
    variant of ``groups`` but ``ref``, over the seeds both have (a metric either run lacks is
    left out of that seed's pair; a NaN stays in and makes the difference NaN)."""
    ref_by_seed = {r.seed: r for r in groups[ref]}
    out: dict[str, tuple[list[Any], dict[str, list[float]]]] = {}
    for variant, rs in groups.items():
        if variant == ref:
            continue
        pairs = [(r, ref_by_seed[r.seed]) for r in rs if r.seed in ref_by_seed]
        out[variant] = ([r.seed for r, _ in pairs],
                        {c: [r.metrics[c] - b.metrics[c] for r, b in pairs
                             if c in r.metrics and c in b.metrics] for c in columns})
    return out


def metric_values(runs: Sequence[Run], column: str) -> list[float]:
    """``column`` of each run that recorded it (NaN kept: it is a failed value, not a gap)."""
    return [r.metrics[column] for r in runs if column in r.metrics]


def _finite(v: Any) -> bool:
    return not isinstance(v, (int, float)) or math.isfinite(v)


def _signed(v: float, signed: bool, digits: int) -> str:
    if math.isnan(v):
        return "nan"  # a NaN has no sign worth writing
    return f"{v:{'+' if signed else ''}.{digits}f}"


def format_stats(values: Sequence[float], *, signed: bool = False,
                 per_seed: bool = False) -> str:
    """One table cell for ``values`` (one per seed): ``"mean ± sample std"`` followed by the
    number of seeds ``(n=3)``, or with ``per_seed`` by the values ``[30.0, 40.0]``; one value
    alone as itself; none as ``""``. When a value is NaN or infinite the mean is too and the
    cell says so: ``nan! (n=3)``, ``inf!`` (never the mean of the others)."""
    vals = [float(v) for v in values]
    if not vals:
        return ""
    if all(math.isfinite(v) for v in vals):
        text = mean_std(vals, signed=signed)
    else:  # sum, not fsum: fsum raises on inf - inf where the mean is NaN
        text = _signed(sum(vals) / len(vals), signed, 2) + "!"
    if len(vals) < 2:
        return text
    if per_seed:
        return f"{text} [" + ", ".join(_signed(v, signed, 1) for v in vals) + "]"
    return f"{text} (n={len(vals)})"


def nonfinite_warnings(runs: Sequence[Run]) -> list[str]:
    """One line per metric that some run recorded as NaN or infinite, naming the run
    folders (with variant and seed where one folder holds several runs); [] when none."""
    shared = {f for f, n in Counter(r.folder for r in runs).items() if n > 1}
    bad: dict[str, list[str]] = defaultdict(list)
    for r in runs:
        for k, v in r.metrics.items():
            if not _finite(v):
                where = f"{r.folder} ({r.variant}, seed {r.seed})" if r.folder in shared \
                    else str(r.folder)
                bad[k].append(f"{where}: {v}")
    return [f"warning: metric {k!r} is not finite in " + "; ".join(places)
            for k, places in bad.items()]


# -- the page (pgg_zoo.report_html) -------------------------------------------------------------
def render_report(runs: Sequence[Run], *, title: str = "pgg-zoo report",
                  paired_to: str | None = None) -> str:
    """The HTML page comparing ``runs`` (:func:`pgg_zoo.report_html.render_page`)."""
    from .report_html import render_page

    return render_page(runs, title=title, paired_to=paired_to)


def write_report(paths: Iterable[str | Path | Run], out: str | Path, *,
                 title: str | None = None, paired_to: str | None = None) -> Path:
    """Write the page comparing ``paths`` (folders, or runs :func:`collect_runs` already
    read) to ``out`` (:func:`pgg_zoo.report_html.write_page`); returns ``out``."""
    from .report_html import write_page

    return write_page(paths, out, title=title, paired_to=paired_to)
