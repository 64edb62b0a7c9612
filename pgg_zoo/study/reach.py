"""Epochs to reach a level: the learning-curve measure of a study's ``curves`` runs.

The paper's convergence claim ("50 -> 15 epochs") compares how soon two runs get somewhere.
Here, per seed, the level is the **final value of variant b's curve** (its last evaluation);
``E_b`` is the first evaluated epoch at which b reaches its own final value and ``E_a`` the
first at which variant a reaches that same value (None: never). Their ratio ``E_a / E_b`` is
"how much of b's training a needs"; a seed on which a never reaches the level counts as an
infinitely slow one (ratio ``inf``), so a median over seeds stays defined and is pulled the
way the miss points.

Curves are ``[(epoch, {metric: value}), ...]`` as :func:`pgg_zoo.study.read_curve` returns
them from a run's ``metrics.jsonl`` (``eval_interval`` epochs apart).
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from .runs import epochs_to_reach

__all__ = ["Reach", "Curve", "reach_values", "REACH_FIELDS", "ratio_text"]

Curve = Sequence[tuple[int, Mapping[str, float]]]


@dataclass(frozen=True)
class Reach:
    """Per seed (ascending): b's final value (``target``), the epoch a reaches it (``a``),
    the epoch b reaches it (``b``) and the last evaluated epoch of b (``last``)."""

    seeds: tuple[int, ...]
    target: tuple[float, ...]
    a: tuple[int | None, ...]
    b: tuple[int, ...]
    last: tuple[int, ...]

    @property
    def n(self) -> int:
        return len(self.seeds)

    @property
    def ratios(self) -> tuple[float, ...]:
        """``E_a / E_b`` per seed; ``inf`` where a never reaches the level."""
        return tuple(math.inf if ea is None else ea / eb for ea, eb in zip(self.a, self.b))

    @property
    def median_ratio(self) -> float:
        return statistics.median(self.ratios) if self.n else math.nan

    @property
    def reached(self) -> int:
        """Seeds on which a reaches the level."""
        return sum(1 for e in self.a if e is not None)

    def count_before(self, epoch: int | None, of: str = "a") -> int:
        """Seeds on which ``of`` (a or b) reaches the level before ``epoch`` (None: before
        the seed's last evaluated epoch)."""
        values = self.a if of == "a" else self.b
        return sum(1 for e, last in zip(values, self.last)
                   if e is not None and e < (last if epoch is None else epoch))


def _epochs(values: Sequence[int | None]) -> str:
    return "[" + ", ".join("never" if e is None else str(e) for e in values) + "]"


def ratio_text(x: float) -> str:
    """A ratio E_a / E_b as text: ``0.40``, ``never`` (inf), ``nan``."""
    return "never" if math.isinf(x) else ("nan" if math.isnan(x) else f"{x:.2f}")


#: ``{measure:field}`` of a reach measure's placeholder -> its text (no field: ``median``).
REACH_FIELDS: dict[str, Callable[[Reach], str]] = {
    "median": lambda r: ratio_text(r.median_ratio),
    "ratios": lambda r: "[" + ", ".join(ratio_text(x) for x in r.ratios) + "]",
    "a": lambda r: _epochs(r.a),
    "b": lambda r: _epochs(r.b),
    "reached": lambda r: f"{r.reached} of {r.n}",
    "a_early": lambda r: f"{r.count_before(None, 'a')} of {r.n}",
    "b_early": lambda r: f"{r.count_before(None, 'b')} of {r.n}",
    "target": lambda r: "[" + ", ".join(f"{t:.2f}" for t in r.target) + "]",
    "n": lambda r: str(r.n),
}


def reach_values(a: str, b: str, metric: str,
                 curves: Mapping[str, Mapping[int, Curve]],
                 seeds: Sequence[int] | None = None) -> Reach | None:
    """The reach of variant ``a`` toward variant ``b``'s final ``metric`` on ``curves``
    (variant -> seed -> curve), over the seeds both have curves for (and ``seeds``, when
    given) whose every point reports the metric; None when there is no such seed."""
    ca, cb = curves.get(a, {}), curves.get(b, {})
    common = sorted(set(ca) & set(cb))
    if seeds is not None:
        common = [s for s in common if s in seeds]
    common = [s for s in common if ca[s] and cb[s]
              and all(metric in m for _, m in [*ca[s], *cb[s]])]
    if not common:
        return None
    target, ea, eb, last = [], [], [], []
    for s in common:
        final_epoch, final = max(cb[s], key=lambda point: point[0])
        level = float(final[metric])
        target.append(level)
        ea.append(epochs_to_reach(sorted(ca[s], key=lambda p: p[0]), metric, level))
        reached_b = epochs_to_reach(sorted(cb[s], key=lambda p: p[0]), metric, level)
        eb.append(final_epoch if reached_b is None else reached_b)
        last.append(final_epoch)
    return Reach(tuple(common), tuple(target), tuple(ea), tuple(eb), tuple(last))
