"""Classification metrics: top-1/top-5, balanced (mean per-class) accuracy, per-group and
worst-group accuracy (Waterbirds protocol: group = y * n_places + place).

All values are percentages in [0, 100]. The pure functions take arrays and are what the
protocol names in ``pgg_zoo.registry.METRICS`` point to; :class:`ClassificationMetric` is the
mmengine metric the task evaluates with.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

__all__ = ["topk_accuracy", "balanced_accuracy", "group_accuracies", "worst_group_accuracy",
           "ClassificationMetric", "METRIC_FUNCTIONS", "register_metrics"]


def _ranked(scores_or_topk: np.ndarray, k: int) -> np.ndarray:
    """(N, k) class ids ranked best first, from scores (N, K) or already ranked ids (N, >=k)."""
    a = np.asarray(scores_or_topk)
    if a.ndim == 1:
        return a.reshape(-1, 1)[:, :k]
    if np.issubdtype(a.dtype, np.integer):
        return a[:, :k]
    # stable sort on -score: ties go to the lower class id, as torch.topk does on CPU
    return np.argsort(-a, axis=1, kind="stable")[:, :k]


def topk_accuracy(scores: np.ndarray, labels: Sequence[int], k: int = 1) -> float:
    """% of samples whose label is among the ``k`` best classes.

    Args:
        scores: float (N, K) scores, or int (N, >=k) class ids ranked best first, or int (N,)
            predicted classes (k = 1 only).
        labels: (N,) class ids.
    """
    y = np.asarray(labels).reshape(-1, 1)
    if len(y) == 0:
        return float("nan")
    return 100.0 * float((_ranked(scores, k) == y).any(axis=1).mean())


def _mean_by(correct: np.ndarray, keys: np.ndarray) -> dict[int, float]:
    return {int(g): 100.0 * float(correct[keys == g].mean()) for g in np.unique(keys)}


def balanced_accuracy(preds: np.ndarray, labels: Sequence[int]) -> float:
    """Mean over the classes present in ``labels`` of the per-class top-1 accuracy (%)."""
    y = np.asarray(labels)
    correct = _ranked(preds, 1)[:, 0] == y
    per = _mean_by(correct, y)
    return float(np.mean(list(per.values()))) if per else float("nan")


def group_accuracies(preds: np.ndarray, labels: Sequence[int], groups: Sequence[int]
                     ) -> dict[int, float]:
    """Top-1 accuracy (%) of every group present (groups < 0, i.e. unknown, are skipped)."""
    y, g = np.asarray(labels), np.asarray(groups)
    correct = _ranked(preds, 1)[:, 0] == y
    keep = g >= 0
    return _mean_by(correct[keep], g[keep])


def worst_group_accuracy(preds: np.ndarray, labels: Sequence[int], groups: Sequence[int]
                         ) -> float:
    """The lowest per-group top-1 accuracy (%) over the groups present."""
    per = group_accuracies(preds, labels, groups)
    return min(per.values()) if per else float("nan")


class ClassificationMetric(BaseMetric):
    """mmengine metric over the task's predictions (``top5``, ``label``, ``group`` per image).

    Output keys: ``top1``, ``top5`` (top-min(5, K)), ``balanced_acc``, and when every sample
    has a group (>= 0): ``group<g>_acc`` for each group, ``worst_group_acc`` and
    ``mean_group_acc`` (the unweighted mean over groups).
    """

    default_prefix = ""  # keys stay unprefixed ("top1"), without mmengine's warning

    def process(self, data_batch: Any, data_samples: Sequence[dict[str, Any]]) -> None:
        for p in data_samples:
            self.results.append((np.asarray(p["top5"], dtype=np.int64), int(p["label"]),
                                 int(p.get("group", -1))))

    def compute_metrics(self, results: list) -> dict[str, float]:
        k = min(len(r[0]) for r in results)
        ranked = np.stack([r[0][:k] for r in results])
        labels = np.array([r[1] for r in results])
        groups = np.array([r[2] for r in results])
        out = {"top1": topk_accuracy(ranked, labels, 1),
               "top5": topk_accuracy(ranked, labels, min(5, k)),
               "balanced_acc": balanced_accuracy(ranked, labels)}
        if (groups >= 0).all():
            per = group_accuracies(ranked, labels, groups)
            out.update({f"group{g}_acc": v for g, v in per.items()})
            out["worst_group_acc"] = min(per.values())
            out["mean_group_acc"] = float(np.mean(list(per.values())))
        return out


def _top5(scores: np.ndarray, labels: Sequence[int]) -> float:
    return topk_accuracy(scores, labels, k=5)


#: protocol name -> (function, signature note)
METRIC_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "top1[cls]": topk_accuracy,
    "top5[cls]": _top5,
    "balanced_acc[cls]": balanced_accuracy,
    "group_acc[waterbirds]": group_accuracies,
    "worst_group_acc[waterbirds]": worst_group_accuracy,
}


def register_metrics(replace: bool = False) -> list[str]:
    """Add the protocol-named metrics to ``pgg_zoo.registry.METRICS`` (meta task="classification").

    ``[cls]``: plain classification accuracy over all samples; ``[waterbirds]``: per-group
    accuracy with ``group = y * n_places + place`` (Sagawa et al. 2020), worst = minimum.
    """
    from pgg_zoo.registry import METRICS

    for name, fn in METRIC_FUNCTIONS.items():
        METRICS.add(name, fn, replace=replace, task="classification",
                    protocol=name[name.index("[") + 1:-1], higher_is_better=True)
    return list(METRIC_FUNCTIONS)
