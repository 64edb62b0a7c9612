"""Comparisons of training variants on the same data and seeds (demo, ablations)."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from .registry import TASKS
from .task import Task, build
from .task.variants import MODE_VARIANTS, is_guided, unguided
from .viz import format_table

__all__ = ["demo", "ablate", "compare_modes", "alpha_study", "run_variants", "run_paired",
           "read_curve", "epochs_to_reach", "alpha_sweep",
           "alpha_figure", "selection_metric", "choose_alpha", "variant_dir_name", "write_json",
           "MODE_VARIANTS", "ALPHAS", "ALPHA_GRID"]


def variant_dir_name(name: str) -> str:
    """The folder (under a study's ``out_dir``) where variant ``name`` trains."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name.replace("+", "_"))


def run_variants(
    task_name: str,
    variants: Mapping[str, Mapping[str, Any]],
    out_dir: str | Path,
    common: Mapping[str, Any] | None = None,
    log: Any = print,
) -> tuple[dict[str, dict[str, float]], dict[str, Task]]:
    """Train and evaluate each variant (config overrides) with the same ``common`` settings.

    Each variant trains in ``out_dir/variant_dir_name(variant)`` and its metrics are written
    there by the engine; returns ``({variant: metrics}, {variant: trained task})``.
    """
    out_dir = Path(out_dir)
    results: dict[str, dict[str, float]] = {}
    tasks: dict[str, Task] = {}
    for name, overrides in variants.items():
        cfg = {**(common or {}), **overrides}
        cfg.setdefault("work_dir", str(out_dir / variant_dir_name(name)))
        t0 = time.time()
        task = build(task_name, **cfg)
        log(f"[{name}] training {task!r}")
        metrics = task.train()
        metrics["train_minutes"] = (time.time() - t0) / 60
        results[name] = metrics
        tasks[name] = task
        log(f"[{name}] done in {metrics['train_minutes']:.1f} min: "
            + ", ".join(f"{k}={v:.2f}" for k, v in metrics.items() if k != "train_minutes"))
    return results, tasks


def run_paired(
    task_name: str,
    variants: Mapping[str, Mapping[str, Any]],
    out_dir: str | Path,
    seeds: Sequence[int],
    common: Mapping[str, Any] | None = None,
    log: Any = print,
) -> dict[int, dict[str, dict[str, float]]]:
    """:func:`run_variants` for each of ``seeds`` (paired: same data order, draws and initial
    weights per seed), resumable.

    Variant ``v`` of seed ``s`` trains in ``out_dir/s<s>/variant_dir_name(v)``; a folder that
    already holds a finished run (``metrics.json``) is read, not retrained, so an interrupted
    study continues where it stopped. Per seed, ``out_dir/s<s>/metrics.json`` gathers the
    results in ``pgg-zoo demo``'s layout (``task``, ``seed``, ``common``, ``variants``,
    ``results``), which ``scripts/summarize_runs.py`` aggregates. Returns
    ``{seed: {variant: metrics}}``.
    """
    common = dict(common or {})
    out: dict[int, dict[str, dict[str, float]]] = {}
    for seed in seeds:
        folder = Path(out_dir) / f"s{seed}"
        summary_file = folder / "metrics.json"
        old = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
        results: dict[str, dict[str, float]] = dict(old.get("results", {}))
        specs: dict[str, dict[str, Any]] = dict(old.get("variants", {}))
        for name, overrides in variants.items():
            work = folder / variant_dir_name(name)
            if (work / "metrics.json").is_file():
                log(f"[s{seed} {name}] finished earlier: read {work / 'metrics.json'}")
                done = json.loads((work / "metrics.json").read_text())["metrics"]
                metrics = {**done, "train_minutes": results.get(name, {}).get(
                    "train_minutes", float("nan"))}
            else:
                fresh, _ = run_variants(task_name, {name: overrides}, folder,
                                        {**common, "seed": seed}, log=log)
                metrics = fresh[name]
            # re-read before writing: another process may have added variants of this seed
            old = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
            results = {**old.get("results", {}), **results, name: metrics}
            specs = {**old.get("variants", {}), **specs, name: {**common, **overrides}}
            write_json(summary_file, {"task": task_name, "seed": seed, "common": common,
                                      "variants": specs, "results": results})
        out[seed] = {name: results[name] for name in variants}
    return out


def read_curve(path: str | Path) -> list[tuple[int, dict[str, float]]]:
    """``[(epoch, metrics), ...]`` from a JSON-lines file of ``{"epoch", "metrics"}`` records
    (a run's ``metrics.jsonl``, written every ``eval_interval`` epochs)."""
    out = []
    for line in Path(path).read_text().splitlines():
        rec = json.loads(line)
        out.append((int(rec["epoch"]), rec["metrics"]))
    return out


def epochs_to_reach(curve: Sequence[tuple[int, Mapping[str, float]]], metric: str,
                    target: float) -> int | None:
    """The first epoch of ``curve`` (:func:`read_curve`) whose ``metric`` is >= ``target``
    (the paper's "epochs to converge"); None when it never is."""
    return next((e for e, m in curve if m[metric] >= target), None)


def write_json(path: str | Path, payload: Any) -> Path:
    """Write JSON through a temporary name and rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=float))
    os.replace(tmp, path)
    return path


def _common(seed: int, epochs: int | None, common: Mapping[str, Any]) -> dict[str, Any]:
    out = {"seed": seed, **common}
    if epochs is not None:
        out["epochs"] = epochs
    return out


def _study(task_name: str, variants: Mapping[str, Mapping[str, Any]], out_dir: Path,
           common: Mapping[str, Any], table_name: str, log: Any):
    """Run the variants; print and write the table (``table_name``) and ``metrics.json``."""
    cls = TASKS.get(task_name)
    results, tasks = run_variants(task_name, variants, out_dir, common, log=log)
    columns = list(cls.summary_metrics) or sorted(next(iter(results.values())))
    if "leakage" not in columns and any("leakage" in r for r in results.values()):
        columns.append("leakage")  # the mechanism next to the outcome (docs/method.md)
    table = format_table(results, columns + ["train_minutes"])
    log("\n" + table)
    (out_dir / table_name).write_text(table + "\n")
    write_json(out_dir / "metrics.json", {"task": task_name, "seed": common.get("seed"),
                                          "common": dict(common),
                                          "variants": {k: dict(v) for k, v in variants.items()},
                                          "results": results})
    return results, tasks, columns, table


def demo(task_name: str, out_dir: str | Path = "work_dirs/demo", seed: int = 0,
         epochs: int | None = None, log: Any = print, **common: Any) -> dict[str, Any]:
    """Train the task's demo variants (``Task.study_variants("demo")``: by default its
    synthesizer alone and with guidance) on its embedded benchmark.

    Prints a comparison table (the task's ``summary_metrics``), writes ``metrics.json`` and
    ``figure.png`` (the task's ``demo_figure``, when it draws one) to ``out_dir``.
    """
    out_dir = Path(out_dir)
    cls = TASKS.get(task_name)
    common = _common(seed, epochs, common)
    variants = cls.study_variants("demo")
    results, tasks, columns, table = _study(task_name, variants, out_dir, common, "table.md",
                                            log)
    first = next(iter(tasks.values()))
    figure = first.demo_figure(tasks, out_dir / "figure.png")
    if figure is not None:
        log(f"figure: {figure}")
    log(f"metrics: {out_dir / 'metrics.json'}")
    return {"results": results, "table": table, "figure": figure}


ALPHAS = (0.0, 0.01, 0.03, 0.05, 0.09)


def ablate(task_name: str, out_dir: str | Path = "work_dirs/ablate", seed: int = 0,
           epochs: int | None = None, alphas: tuple[float, ...] = ALPHAS,
           log: Any = print, **common: Any) -> dict[str, Any]:
    """The task's mask ablation (``Task.study_variants("ablate")``) and an alpha sweep of its
    guided variant, on the same data and seed.

    Every guided variant runs at ``alpha`` (default: the task's); the sweep adds the guided
    variant at each other alpha of ``alphas`` (alpha 0 is its unguided twin, already in the
    ablation). Writes ``ablation.md`` / ``metrics.json``, ``alpha.png`` (the summary metrics
    against alpha) and the task's ``ablation_figures`` to ``out_dir``.
    """
    out_dir = Path(out_dir)
    cls = TASKS.get(task_name)
    common = _common(seed, epochs, common)
    base_alpha = float(common.pop("alpha", cls.default_options()["alpha"]))
    ablation = cls.study_variants("ablate")
    variants = {k: ({**v, "alpha": base_alpha} if v.get("guidance", True) else dict(v))
                for k, v in ablation.items()}
    guided = next(k for k, v in ablation.items() if is_guided(v))
    for a in alphas:
        if a == 0 or a == base_alpha:
            continue  # alpha 0 is the unguided twin, base_alpha the guided variant itself
        variants[f"{guided} a={a:g}"] = {**ablation[guided], "alpha": a}
    results, tasks, columns, table = _study(task_name, variants, out_dir, common,
                                            "ablation.md", log)
    figure = alpha_figure(alpha_sweep(variants, results), columns, out_dir / "alpha.png")
    first = next(iter(tasks.values()))
    extra = first.ablation_figures(tasks, out_dir)
    log(f"table: {out_dir / 'ablation.md'}\nfigures: " + ", ".join(map(str, [figure, *extra])))
    return {"results": results, "table": table, "figure": figure}


def alpha_sweep(variants: Mapping[str, Mapping[str, Any]],
                results: Mapping[str, Mapping[str, float]]) -> dict[float, Mapping[str, float]]:
    """``{alpha: metrics}`` of an ablation's alpha sweep: the runs of its first guided,
    true-provenance variant at each alpha, and (alpha 0) the run of the same data and synthesis
    without guidance; the mask controls and other variants are left out."""
    guided = next((v for v in variants.values() if is_guided(v)), None)
    if guided is None:
        return {}
    base = unguided(guided)
    sweep: dict[float, Mapping[str, float]] = {}
    for name, spec in variants.items():
        if name not in results or unguided(spec) != base:
            continue
        if not spec.get("guidance", True):
            sweep[0.0] = results[name]
        elif is_guided(spec):
            sweep[float(spec["alpha"])] = results[name]
    return sweep


def alpha_figure(sweep: Mapping[float, Mapping[str, float] | Sequence[Mapping[str, float]]],
                 columns: list[str], path: Path) -> Path:
    """Metrics against alpha (alpha = 0 is plain CutMix), one line per summary metric.

    ``sweep`` maps alpha to one run's metrics, or to a list of runs (seeds): then the line is
    the mean with sample-std error bars.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from .viz import save_figure

    alphas = sorted(sweep)
    runs = {a: [sweep[a]] if isinstance(sweep[a], Mapping) else list(sweep[a]) for a in alphas}
    seeds = max(len(r) for r in runs.values())
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for col in columns:
        vals = [np.array([m.get(col, float("nan")) for m in runs[a]], dtype=float)
                for a in alphas]
        means = [v.mean() for v in vals]
        if seeds > 1:
            errs = [v.std(ddof=1) if len(v) > 1 else 0.0 for v in vals]
            ax.errorbar(alphas, means, yerr=errs, marker="o", capsize=3, label=col)
        else:
            ax.plot(alphas, means, marker="o", label=col)
    ax.set_xlabel("alpha (0 = the same synthesis without guidance)")
    ax.set_ylabel("metric (%)" + (f", mean ± std over {seeds} seeds" if seeds > 1 else ""))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def compare_modes(task_name: str, out_dir: str | Path = "work_dirs/modes", seed: int = 0,
                  epochs: int | None = None, modes: Mapping[str, Mapping[str, Any]] | None = None,
                  log: Any = print, **common: Any) -> dict[str, Any]:
    """The task's guided variant (``Task.guided_variant``: its synthesis + guidance with true
    provenance), trained with each guidance computation mode on the same data and seed.

    ``modes`` maps a name to overrides of the guidance computation (``guidance_mode``,
    ``guidance_options``, or ``guidance: False``); the default is the task's
    ``study_variants("modes")``. Writes ``modes.md`` and ``metrics.json`` (with each run's
    ``train_minutes``) to ``out_dir``.
    """
    cls = TASKS.get(task_name)
    if modes is None:
        variants = cls.study_variants("modes")
    else:
        variants = {name: {**cls.guided_variant(), **dict(opts)} for name, opts in modes.items()}
    results, _, _, table = _study(task_name, variants, Path(out_dir),
                                  _common(seed, epochs, common), "modes.md", log)
    log(f"table: {Path(out_dir) / 'modes.md'}")
    return {"results": results, "table": table}


#: Alpha grid of :func:`alpha_study`: orders of magnitude, since the useful scale depends on the
#: model, the input size and the reduction (docs/method.md, "Choosing alpha").
ALPHA_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)


def selection_metric(task_name: str) -> str:
    """The validation metric a task's choices are made on (``Task.selection_metric``, else the
    first of its ``summary_metrics``)."""
    cls = TASKS.get(task_name)
    name = cls.selection_metric or next(iter(cls.summary_metrics), None)
    if not name:
        raise ValueError(f"task {task_name!r} declares no selection_metric or summary_metrics")
    return str(name)


def choose_alpha(val: Mapping[float, Sequence[float]]) -> float:
    """The alpha with the best mean validation metric; ties go to the smaller alpha (the
    weaker intervention). ``val`` maps alpha (0 = no guidance) to one value per seed."""
    import numpy as np

    best = max(float(np.mean(v)) for v in val.values())
    return min(a for a, v in val.items() if float(np.mean(v)) == best)


def alpha_study(task_name: str, out_dir: str | Path = "work_dirs/alpha",
                seeds: Sequence[int] = (0, 1, 2), alphas: Sequence[float] = ALPHA_GRID,
                test_seeds: Sequence[int] = (0, 1, 2, 3, 4), epochs: int | None = None,
                metric: str | None = None, log: Any = print, **common: Any) -> dict[str, Any]:
    """Choose alpha on validation data only, then report the test numbers of that alpha once.

    1. Selection: for every alpha of ``alphas`` and alpha 0 (no guidance), train the task's
       default synthesis (+ guidance with true provenance) for each of ``seeds`` with
       ``eval_split="val"`` (a validation split the task has, or one carved from its training
       data, which the run then leaves out of training). The test split is not read.
    2. The alpha with the best mean validation ``metric`` (default: the task's selection
       metric) is chosen (:func:`choose_alpha`); alpha 0 may win, and then guidance did not
       help on validation.
    3. Test: the chosen alpha and no guidance, each for ``test_seeds`` (paired: same data
       order, draws and initial weights per seed), evaluated on test.

    Writes ``alpha.md`` (both tables), ``metrics.json`` (every run's metrics, the choice) and
    ``alpha.png`` (validation metric and leakage against alpha) to ``out_dir``.
    """
    from .stats import mean_std

    out_dir = Path(out_dir)
    metric = metric or selection_metric(task_name)
    grid = [0.0] + sorted(float(a) for a in alphas if float(a) > 0)
    val: dict[float, list[dict[str, float]]] = {a: [] for a in grid}
    cls = TASKS.get(task_name)
    for seed in seeds:
        variants = {_alpha_name(a): _alpha_variant(cls, a, eval_split="val") for a in grid}
        results, _ = run_variants(task_name, variants, out_dir / "select" / f"s{seed}",
                                  _common(seed, epochs, common), log=log)
        for a in grid:
            val[a].append(results[_alpha_name(a)])
    for a in grid:
        if any(metric not in r for r in val[a]):
            raise ValueError(f"validation runs did not report {metric!r}; metrics: "
                             f"{sorted(val[a][0])}")
    chosen = choose_alpha({a: [r[metric] for r in val[a]] for a in grid})
    log(f"chosen alpha (best mean validation {metric}): {chosen:g}")

    test: dict[str, list[dict[str, float]]] = {"no guidance": [], f"alpha={chosen:g}": []}
    finals = {"no guidance": 0.0, f"alpha={chosen:g}": chosen}
    for seed in test_seeds:
        variants = {name: _alpha_variant(cls, a, eval_split="test") for name, a in finals.items()
                    if name == "no guidance" or a > 0}
        results, _ = run_variants(task_name, variants, out_dir / "test" / f"s{seed}",
                                  _common(seed, epochs, common), log=log)
        for name in variants:
            test[name].append(results[name])

    cols = [metric, "leakage"]
    lines = [f"# alpha study: {task_name}", "",
             f"Selection on the validation split, {len(seeds)} seeds {list(seeds)}; "
             f"metric `{metric}` (mean ± std over seeds).", "",
             "| alpha | " + " | ".join(f"val {c}" for c in cols) + " |",
             "|---|" + "---|" * len(cols)]
    for a in grid:
        mark = " (chosen)" if a == chosen else ""
        lines.append(f"| {a:g}{mark} | " + " | ".join(
            mean_std([r.get(c, float("nan")) for r in val[a]]) for c in cols) + " |")
    lines += ["", f"Test, chosen alpha {chosen:g}, {len(test_seeds)} paired seeds "
              f"{list(test_seeds)}.", "",
              "| variant | " + " | ".join(f"test {c}" for c in cols) + " |",
              "|---|" + "---|" * len(cols)]
    for name, runs in test.items():
        if runs:
            lines.append(f"| {name} | " + " | ".join(
                mean_std([r.get(c, float("nan")) for r in runs]) for c in cols) + " |")
    if chosen > 0 and test["no guidance"]:
        diff = {c: [g.get(c, float("nan")) - b.get(c, float("nan"))
                    for g, b in zip(test[f"alpha={chosen:g}"], test["no guidance"])] for c in cols}
        lines.append(f"| paired difference | " + " | ".join(
            mean_std(diff[c]) + " [" + ", ".join(f"{d:+.1f}" for d in diff[c]) + "]"
            for c in cols) + " |")
    table = "\n".join(lines)
    log("\n" + table)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "alpha.md").write_text(table + "\n")
    write_json(out_dir / "metrics.json", {
        "task": task_name, "metric": metric, "chosen_alpha": chosen, "common": dict(common),
        "seeds": list(seeds), "test_seeds": list(test_seeds),
        "validation": {f"{a:g}": val[a] for a in grid}, "test": test})
    figure = _alpha_val_figure(val, metric, chosen, out_dir / "alpha.png")
    log(f"table: {out_dir / 'alpha.md'}\nfigure: {figure}")
    return {"chosen_alpha": chosen, "validation": val, "test": test, "table": table,
            "figure": figure}


def _alpha_name(alpha: float) -> str:
    return "no-guidance" if alpha == 0 else f"alpha={alpha:g}"


def _alpha_variant(cls: type[Task], alpha: float, eval_split: str) -> dict[str, Any]:
    if alpha == 0:
        return {**cls.unguided_variant(), "eval_split": eval_split}
    return {**cls.guided_variant(), "alpha": alpha, "eval_split": eval_split}


def _alpha_val_figure(val: Mapping[float, Sequence[Mapping[str, float]]], metric: str,
                      chosen: float, path: Path) -> Path:
    """Validation metric (left axis) and leakage (right axis) against alpha, log scale; the
    no-guidance level as dashed lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from .viz import save_figure

    pos = sorted(a for a in val if a > 0)
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    ax2 = ax.twinx()
    for axis, key, color in ((ax, metric, "tab:blue"), (ax2, "leakage", "tab:red")):
        vals = {a: np.array([r.get(key, np.nan) for r in val[a]], dtype=float) for a in val}
        means = [np.nanmean(vals[a]) for a in pos]
        errs = [np.nanstd(vals[a], ddof=1) if len(vals[a]) > 1 else 0.0 for a in pos]
        axis.errorbar(pos, means, yerr=errs, marker="o", capsize=3, color=color,
                      label=f"val {key}")
        if 0.0 in vals:
            axis.axhline(float(np.nanmean(vals[0.0])), color=color, linestyle="--", linewidth=1,
                         label=f"val {key}, no guidance")
        axis.set_ylabel(key, color=color)
    ax.set_xscale("log")
    ax.set_xlabel("alpha")
    if chosen > 0:
        ax.axvline(chosen, color="gray", linestyle=":", linewidth=1)
    ax.set_title(f"validation {metric} and leakage vs alpha (chosen {chosen:g})", fontsize=8)
    ax.grid(alpha=0.3)
    fig.legend(fontsize=6, loc="lower left")
    return save_figure(fig, path)
