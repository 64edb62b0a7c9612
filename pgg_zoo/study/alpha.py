"""Alpha chosen on validation data only (:func:`choose_alpha`), then tested once
(:func:`alpha_study`)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from ..registry import TASKS
from ..task import Task
from .runs import run_variants, seeded_common, write_json

__all__ = ["ALPHA_GRID", "selection_metric", "choose_alpha", "alpha_for_test", "alpha_study",
           "alpha_variant_name"]


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


def choose_alpha(val: Mapping[float, Sequence[float]], tolerance: float = 0.0) -> float:
    """The alpha with the best mean validation metric; ties go to the smaller alpha (the
    weaker intervention). ``val`` maps alpha (0 = no guidance) to one value per seed; alphas
    whose mean is within ``tolerance`` of the best count as tied."""
    import numpy as np

    means = {a: float(np.mean(v)) for a, v in val.items()}
    best = max(means.values())
    return min(a for a, m in means.items() if m >= best - tolerance)


def alpha_for_test(val: Mapping[float, Sequence[float]], tolerance: float = 0.0) -> float:
    """The alpha the guided test runs use: :func:`choose_alpha`, or when validation chose no
    guidance (alpha 0), the best positive alpha (the rule every study here declares: the
    guided rows are still measured, and say so)."""
    chosen = choose_alpha(val, tolerance)
    positive = {a: v for a, v in val.items() if a > 0}
    if chosen > 0 or not positive:
        return chosen
    return choose_alpha(positive, tolerance)


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
    from ..stats import mean_std

    out_dir = Path(out_dir)
    metric = metric or selection_metric(task_name)
    grid = [0.0] + sorted(float(a) for a in alphas if float(a) > 0)
    val: dict[float, list[dict[str, float]]] = {a: [] for a in grid}
    cls = TASKS.get(task_name)
    for seed in seeds:
        variants = {alpha_variant_name(a): _alpha_variant(cls, a, eval_split="val") for a in grid}
        results, _ = run_variants(task_name, variants, out_dir / "select" / f"s{seed}",
                                  seeded_common(seed, epochs, common), log=log)
        for a in grid:
            val[a].append(results[alpha_variant_name(a)])
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
                                  seeded_common(seed, epochs, common), log=log)
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
        lines.append("| paired difference | " + " | ".join(
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


def alpha_variant_name(alpha: float) -> str:
    """The name of the selection run at ``alpha``: ``no-guidance`` (0) or ``alpha=<a>``."""
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

    from ..viz import save_figure

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
