"""The comparisons a task declares (its demo, mask ablation and guidance computation modes),
one seed each, with their tables and figures."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from ..registry import TASKS
from ..task.variants import is_guided, unguided
from ..viz import format_table
from .runs import run_variants, seeded_common, write_json

__all__ = ["demo", "ablate", "compare_modes", "alpha_sweep", "alpha_figure", "ALPHAS"]


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
    common = seeded_common(seed, epochs, common)
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
    common = seeded_common(seed, epochs, common)
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

    from ..viz import save_figure

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
                                  seeded_common(seed, epochs, common), "modes.md", log)
    log(f"table: {Path(out_dir) / 'modes.md'}")
    return {"results": results, "table": table}
