"""Training variants of one task side by side: each variant in its own run folder, per seed,
resumable (a folder that holds a finished run is read, not retrained)."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..atomic import write_text_atomic
from ..task import Task, build

__all__ = ["variant_dir_name", "run_variants", "run_paired", "read_curve", "epochs_to_reach",
           "write_json", "seeded_common", "finished_metrics", "METRICS_FILE"]

#: The file a finished run leaves in its folder (the engine writes it last).
METRICS_FILE = "metrics.json"


def finished_metrics(work_dir: str | Path) -> dict[str, float] | None:
    """The metrics of the finished run in ``work_dir`` (its ``metrics.json``), None when the
    folder holds no finished run."""
    path = Path(work_dir) / METRICS_FILE
    if not path.is_file():
        return None
    return dict(json.loads(path.read_text("utf-8"))["metrics"])


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
    ``results``), which ``pgg-zoo report --markdown`` aggregates. Returns
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


def read_curve(path: str | Path, split: str | None = None) -> list[tuple[int, dict[str, float]]]:
    """``[(epoch, metrics), ...]``, epochs ascending, from a JSON-lines file of
    ``{"epoch", "split", "metrics"}`` records (a run's ``metrics.jsonl``, written every
    ``eval_interval`` epochs); ``split``: only the evaluations on that split. An epoch
    evaluated twice (a run resumed from a checkpoint of that epoch) keeps its last record."""
    by_epoch: dict[int, dict[str, float]] = {}
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        if split is not None and rec.get("split", split) != split:
            continue
        by_epoch[int(rec["epoch"])] = dict(rec["metrics"])
    return sorted(by_epoch.items())


def epochs_to_reach(curve: Sequence[tuple[int, Mapping[str, float]]], metric: str,
                    target: float) -> int | None:
    """The first epoch of ``curve`` (:func:`read_curve`) whose ``metric`` is >= ``target``
    (the paper's "epochs to converge"); None when it never is."""
    return next((e for e, m in curve if m[metric] >= target), None)


def write_json(path: str | Path, payload: Any) -> Path:
    """Write JSON through a temporary name and rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomic(path, json.dumps(payload, indent=2, default=float))


def seeded_common(seed: int, epochs: int | None, common: Mapping[str, Any]) -> dict[str, Any]:
    """``common`` with ``seed`` and (when given) ``epochs`` set."""
    out = {"seed": seed, **common}
    if epochs is not None:
        out["epochs"] = epochs
    return out
