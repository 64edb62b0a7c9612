"""Pre-declared criteria as data: a closed vocabulary of rules over paired per-seed numbers.

A **measure** is a paired difference ``a - b`` of one metric between two variants of a study,
per seed (the seeds both variants ran on; the runs of one seed share data order, synthesis
draws and initial weights). A **criterion** applies one rule of :data:`RULES` to a measure:

=========================  ============================================================
rule                       holds when (d = the per-seed differences, n seeds)
=========================  ============================================================
``mean_above``             mean(d) > threshold (default 0)
``mean_below``             mean(d) < threshold (default 0)
``every_seed_above``       every d > threshold (default 0)
``every_seed_below``       every d < threshold (default 0): "lower on every seed"
``mean_above_spread``      mean(d) > k * std(d) (default k 1): "above its seed spread"
``mean_above_k_se``        mean(d) > k * SE, SE = std(d) / sqrt(n) (default k 2)
``mean_plus_k_se_below``   mean(d) + k * SE < threshold: an effect that size is excluded
``share_of_gap_at_least``  mean(d) / mean(gap) >= share: the share of a gap recovered
``mean_within``            abs(mean(d)) <= bound (or_spread: <= max(bound, std(d)))
=========================  ============================================================

A measure of ``kind: reach`` reads the study's learning curves instead (:mod:`.reach`): per
seed, ``E_a`` = the first evaluated epoch at which variant a reaches variant b's final value,
``E_b`` = the first at which b reaches it itself, r = E_a / E_b (``inf`` where a never
reaches it). Its rules:

================================  =====================================================
rule                              holds when
================================  =====================================================
``median_reach_ratio_at_most``    median(r) <= ratio (every_seed: and a reaches on every seed)
``median_reach_ratio_at_least``   median(r) >= ratio
``reached_before_on_at_least``    E_a < epoch (default: the last evaluated) on >= k seeds
                                  (``of: b``: E_b, b reaching its own final value early)
``never_reached_on_at_least``     a never reaches the level on >= k seeds
================================  =====================================================

std is the sample standard deviation (``ddof=1``). Every rule is evaluated on the numbers of a
study's summary, never typed by hand. Verdict and numbers texts hold placeholders
(:func:`render`): ``{measure}`` (``+0.44 ± 0.75``), ``{measure:field}`` with field one of
:data:`MEASURE_FIELDS`, ``{criterion}`` (the value the rule compares), ``{criterion:held}``
(``met`` / ``not met``), ``{alpha}`` (the test alpha) and ``{chosen_alpha}`` (validation's
choice); a reach measure's fields are :data:`~pgg_zoo.study.reach.REACH_FIELDS`.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping, Sequence

from ..config.checks import option
from .reach import REACH_FIELDS, Reach, ratio_text
from .sections import fail, section

__all__ = ["Paired", "Measure", "Criterion", "Outcome", "RULES", "MEASURE_FIELDS", "render",
           "template_names", "paired_values", "MEASURE_KINDS"]

#: What a measure compares: per-seed paired differences of final metrics, or learning curves.
MEASURE_KINDS = ("difference", "reach")


@dataclass(frozen=True)
class Paired:
    """Per-seed values of two variants and their differences ``a - b`` (seeds ascending)."""

    seeds: tuple[int, ...]
    a: tuple[float, ...]
    b: tuple[float, ...]

    @property
    def diffs(self) -> tuple[float, ...]:
        return tuple(x - y for x, y in zip(self.a, self.b))

    @property
    def n(self) -> int:
        return len(self.seeds)

    @property
    def mean(self) -> float:
        return sum(self.diffs) / self.n if self.n else math.nan

    @property
    def std(self) -> float:
        """Sample standard deviation (nan below two seeds)."""
        if self.n < 2:
            return math.nan
        m = self.mean
        return math.sqrt(sum((d - m) ** 2 for d in self.diffs) / (self.n - 1))

    @property
    def se(self) -> float:
        return self.std / math.sqrt(self.n) if self.n else math.nan

    def count(self, test: Callable[[float], bool]) -> int:
        return sum(1 for d in self.diffs if test(d))


def _signed(x: float) -> str:
    return "nan" if math.isnan(x) else f"{x:+.2f}"


def _plain(x: float) -> str:
    return "nan" if math.isnan(x) else f"{x:.2f}"


#: ``{measure:field}`` of a placeholder -> its text.
MEASURE_FIELDS: dict[str, Callable[[Paired], str]] = {
    "mean_std": lambda p: _signed(p.mean) + ("" if p.n < 2 else f" ± {_plain(p.std)}"),
    "mean": lambda p: _signed(p.mean),
    "std": lambda p: _plain(p.std),
    "se": lambda p: _plain(p.se),
    "seeds": lambda p: "[" + ", ".join(f"{d:+.1f}" for d in p.diffs) + "]",
    "lower": lambda p: f"{p.count(lambda d: d < 0)} of {p.n}",
    "higher": lambda p: f"{p.count(lambda d: d > 0)} of {p.n}",
    "n": lambda p: str(p.n),
    "a": lambda p: _plain(sum(p.a) / p.n),
    "b": lambda p: _plain(sum(p.b) / p.n),
}


@dataclass(frozen=True)
class Outcome:
    """A criterion evaluated: whether it holds, the number it compared (as text) and one line
    saying what was compared."""

    held: bool
    value: str
    text: str


@dataclass
class Rule:
    """Options every rule has; subclasses add their parameters and :meth:`evaluate`."""

    measure: str = option("", "str", doc="the measure it is evaluated on")
    says: str = option("", "str", doc="the criterion in words, as pre-declared")
    #: the kind of measure (:data:`MEASURE_KINDS`) the rule reads
    kind: ClassVar[str] = "difference"

    def evaluate(self, m: Any, measures: Mapping[str, Any]) -> Outcome:
        raise NotImplementedError

    def needs(self) -> tuple[str, ...]:
        """The measures the rule reads."""
        return (self.measure,)


@dataclass
class MeanAbove(Rule):
    threshold: float = option(0.0, "float", doc="the mean must exceed it")

    def evaluate(self, m: Paired, measures: Mapping[str, Paired]) -> Outcome:
        return Outcome(m.mean > self.threshold, _signed(m.mean),
                       f"mean {_signed(m.mean)} > {self.threshold:g}")


@dataclass
class MeanBelow(Rule):
    threshold: float = option(0.0, "float", doc="the mean must be below it")

    def evaluate(self, m: Paired, measures: Mapping[str, Paired]) -> Outcome:
        return Outcome(m.mean < self.threshold, _signed(m.mean),
                       f"mean {_signed(m.mean)} < {self.threshold:g}")


@dataclass
class EverySeedAbove(Rule):
    threshold: float = option(0.0, "float", doc="every seed's difference must exceed it")

    def evaluate(self, m: Paired, measures: Mapping[str, Paired]) -> Outcome:
        k = m.count(lambda d: d > self.threshold)
        return Outcome(m.n > 0 and k == m.n, f"{k} of {m.n}",
                       f"above {self.threshold:g} on {k} of {m.n} seeds")


@dataclass
class EverySeedBelow(Rule):
    threshold: float = option(0.0, "float", doc="every seed's difference must be below it")

    def evaluate(self, m: Paired, measures: Mapping[str, Paired]) -> Outcome:
        k = m.count(lambda d: d < self.threshold)
        return Outcome(m.n > 0 and k == m.n, f"{k} of {m.n}",
                       f"below {self.threshold:g} on {k} of {m.n} seeds")


@dataclass
class MeanAboveSpread(Rule):
    k: float = option(1.0, "float", low=0, strict=True, doc="multiples of the seed spread")

    def evaluate(self, m: Paired, measures: Mapping[str, Paired]) -> Outcome:
        bound = self.k * m.std
        shown = "std" if self.k == 1 else f"{self.k:g} std"
        return Outcome(m.mean > bound, _signed(m.mean),
                       f"mean {_signed(m.mean)} > {shown} {_plain(bound)}")


@dataclass
class MeanAboveKSE(Rule):
    k: float = option(2.0, "float", low=0, strict=True, doc="standard errors")

    def evaluate(self, m: Paired, measures: Mapping[str, Paired]) -> Outcome:
        bound = self.k * m.se
        return Outcome(m.mean > bound, _plain(bound),
                       f"mean {_signed(m.mean)} > {self.k:g} SE = {_plain(bound)}")


@dataclass
class MeanPlusKSEBelow(Rule):
    k: float = option(2.0, "float", low=0, strict=True, doc="standard errors")
    threshold: float | None = option(None, "float", optional=True,
                                     doc="the effect size to exclude (required)")

    def evaluate(self, m: Paired, measures: Mapping[str, Paired]) -> Outcome:
        top = m.mean + self.k * m.se
        return Outcome(top < self.threshold, _plain(top),
                       f"mean + {self.k:g} SE = {_plain(top)} < {self.threshold:g}")


@dataclass
class ShareOfGapAtLeast(Rule):
    gap: str = option("", "str", doc="the measure of the whole gap (required)")
    share: float = option(0.8, "float", low=0, doc="the share of the gap to recover")

    def needs(self) -> tuple[str, ...]:
        return (self.measure, self.gap)

    def evaluate(self, m: Paired, measures: Mapping[str, Paired]) -> Outcome:
        whole = measures[self.gap].mean
        ratio = m.mean / whole if whole else math.nan
        return Outcome(ratio >= self.share, f"{ratio * 100:.0f} %",
                       f"{_signed(m.mean)} of {_signed(whole)} = {ratio * 100:.0f} % >= "
                       f"{self.share * 100:g} %")


@dataclass
class MeanWithin(Rule):
    bound: float = option(0.0, "float", low=0, doc="the largest allowed abs(mean)")
    or_spread: bool = option(False, "bool", doc="allow up to the seed spread when larger")

    def evaluate(self, m: Paired, measures: Mapping[str, Paired]) -> Outcome:
        limit = max(self.bound, m.std) if self.or_spread else self.bound
        return Outcome(abs(m.mean) <= limit, _plain(abs(m.mean)),
                       f"|mean| {_plain(abs(m.mean))} <= {_plain(limit)}")


@dataclass
class MedianReachRatioAtMost(Rule):
    ratio: float = option(0.5, "float", low=0, strict=True, doc="the largest median E_a / E_b")
    every_seed: bool = option(False, "bool", doc="a must also reach the level on every seed")
    kind: ClassVar[str] = "reach"

    def evaluate(self, m: Reach, measures: Mapping[str, Any]) -> Outcome:
        med = m.median_ratio
        held = med <= self.ratio and (not self.every_seed or m.reached == m.n)
        text = f"median E_a/E_b {ratio_text(med)} <= {self.ratio:g}"
        if self.every_seed:
            text += f", reached on {m.reached} of {m.n} seeds (all needed)"
        return Outcome(held, ratio_text(med), text)


@dataclass
class MedianReachRatioAtLeast(Rule):
    ratio: float = option(0.9, "float", low=0, strict=True, doc="the smallest median E_a / E_b")
    kind: ClassVar[str] = "reach"

    def evaluate(self, m: Reach, measures: Mapping[str, Any]) -> Outcome:
        med = m.median_ratio
        return Outcome(med >= self.ratio, ratio_text(med),
                       f"median E_a/E_b {ratio_text(med)} >= {self.ratio:g}")


@dataclass
class ReachedBeforeOnAtLeast(Rule):
    k: int = option(1, "int", low=1, doc="seeds needed")
    epoch: int | None = option(None, "int", low=1, optional=True,
                               doc="reached before this epoch (default: the last evaluated)")
    of: str = option("a", "choice", choices=("a", "b"),
                     doc="a: E_a (a reaching b's final value); b: E_b (b reaching its own)")
    kind: ClassVar[str] = "reach"

    def evaluate(self, m: Reach, measures: Mapping[str, Any]) -> Outcome:
        count = m.count_before(self.epoch, self.of)
        before = f"epoch {self.epoch}" if self.epoch is not None else "the last epoch"
        return Outcome(count >= self.k, f"{count} of {m.n}",
                       f"E_{self.of} before {before} on {count} of {m.n} seeds >= {self.k}")


@dataclass
class NeverReachedOnAtLeast(Rule):
    k: int = option(1, "int", low=1, doc="seeds needed")
    kind: ClassVar[str] = "reach"

    def evaluate(self, m: Reach, measures: Mapping[str, Any]) -> Outcome:
        never = m.n - m.reached
        return Outcome(never >= self.k, f"{never} of {m.n}",
                       f"never reached on {never} of {m.n} seeds >= {self.k}")


#: The rules a criterion may use, by name.
RULES: dict[str, type[Rule]] = {
    "mean_above": MeanAbove, "mean_below": MeanBelow,
    "every_seed_above": EverySeedAbove, "every_seed_below": EverySeedBelow,
    "mean_above_spread": MeanAboveSpread, "mean_above_k_se": MeanAboveKSE,
    "mean_plus_k_se_below": MeanPlusKSEBelow, "share_of_gap_at_least": ShareOfGapAtLeast,
    "mean_within": MeanWithin,
    "median_reach_ratio_at_most": MedianReachRatioAtMost,
    "median_reach_ratio_at_least": MedianReachRatioAtLeast,
    "reached_before_on_at_least": ReachedBeforeOnAtLeast,
    "never_reached_on_at_least": NeverReachedOnAtLeast,
}
_REQUIRED_PARAMS = {"mean_plus_k_se_below": ("threshold",), "share_of_gap_at_least": ("gap",)}


@dataclass
class _MeasureSpec:
    a: str = option("", "str", doc="the variant whose values come first (a - b)")
    b: str = option("", "str", doc="the variant subtracted")
    metric: str = option("", "str", doc="the metric")
    seeds: list | None = option(None, "study_seeds", optional=True,
                                doc="only these seeds (default: every seed both ran)")
    kind: str = option("difference", "choice", choices=MEASURE_KINDS,
                       doc="difference: a - b of the test runs' final metric; reach: epochs "
                           "for a's curve to reach b's final value (the curves runs)")


@dataclass(frozen=True)
class Measure:
    """The paired difference ``a - b`` of ``metric``, per seed (``kind`` difference), or the
    epochs a's learning curve takes to reach b's final value (``kind`` reach)."""

    name: str
    a: str
    b: str
    metric: str
    seeds: tuple[int, ...] | None = None
    kind: str = "difference"

    @classmethod
    def parse(cls, name: str, raw: Any, variants: Mapping[str, Any],
              source: Path | str | None) -> "Measure":
        spec = section(_MeasureSpec, raw, f"measures.{name}", source,
                       required=("a", "b", "metric"))
        for role in ("a", "b"):
            if getattr(spec, role) not in variants:
                raise fail(source, f"measures.{name}.{role}",
                           f"{getattr(spec, role)!r} is not one of the variants "
                           f"({', '.join(variants)})")
        return cls(name, spec.a, spec.b, spec.metric,
                   tuple(spec.seeds) if spec.seeds is not None else None, spec.kind)


@dataclass(frozen=True)
class Criterion:
    """A named, pre-declared criterion: a rule of :data:`RULES` on a measure."""

    name: str
    rule: str
    params: Rule

    @classmethod
    def parse(cls, name: str, raw: Any, measures: Mapping[str, Measure],
              source: Path | str | None) -> "Criterion":
        path = f"criteria.{name}"
        if not isinstance(raw, Mapping):
            raise fail(source, path, f"expected a mapping with a rule, got {raw!r}")
        rule = raw.get("rule")
        if rule not in RULES:
            raise fail(source, f"{path}.rule", f"expected one of {', '.join(RULES)}, got "
                                               f"{rule!r}")
        params = section(RULES[rule], {k: v for k, v in raw.items() if k != "rule"}, path,
                         source, required=("measure",) + _REQUIRED_PARAMS.get(rule, ()))
        for key, measure in (("measure", params.measure),
                             ("gap", getattr(params, "gap", None))):
            if measure is not None and measure not in measures:
                raise fail(source, f"{path}.{key}", f"{measure!r} is not one of the measures "
                                                    f"({', '.join(measures) or 'none'})")
            if measure is not None and measures[measure].kind != params.kind:
                raise fail(source, f"{path}.{key}",
                           f"rule {rule} reads a measure of kind {params.kind}; {measure!r} "
                           f"is of kind {measures[measure].kind}")
        return cls(name, rule, params)

    def evaluate(self, measures: Mapping[str, Paired | Reach | None]) -> Outcome | None:
        """The outcome on ``measures`` (computed :class:`Paired` or
        :class:`~pgg_zoo.study.reach.Reach` by name); None when a measure it needs is missing
        (no summary holds it)."""
        if any(measures.get(name) is None or measures[name].n == 0
               for name in self.params.needs()):
            return None
        return self.params.evaluate(measures[self.params.measure], measures)


def paired_values(measure: Measure, runs: Mapping[str, Mapping[int, Mapping[str, float]]]
                  ) -> Paired | None:
    """``measure`` on ``runs`` (variant -> seed -> metrics): the seeds both variants ran on
    (and ``measure.seeds``, when given) that report the metric; None when there is none."""
    a, b = runs.get(measure.a, {}), runs.get(measure.b, {})
    seeds = sorted(set(a) & set(b))
    if measure.seeds is not None:
        seeds = [s for s in seeds if s in measure.seeds]
    seeds = [s for s in seeds if measure.metric in a[s] and measure.metric in b[s]]
    if not seeds:
        return None
    return Paired(tuple(seeds), tuple(float(a[s][measure.metric]) for s in seeds),
                  tuple(float(b[s][measure.metric]) for s in seeds))


_PLACEHOLDER = re.compile(r"\{([A-Za-z_][\w-]*)(?::(\w+))?\}")
#: Placeholders every template may use besides the measures and criteria.
GLOBAL_NAMES = ("alpha", "chosen_alpha")


def _fields(kind: str) -> Mapping[str, Callable[[Any], str]]:
    return REACH_FIELDS if kind == "reach" else MEASURE_FIELDS


def template_names(text: str, measures: Sequence[str] | Mapping[str, str],
                   criteria: Sequence[str] = ()) -> list[str]:
    """The measure and criterion names ``text`` uses; ``measures`` names the measures (a
    mapping: name -> kind, default difference).

    Raises:
        ValueError: an unknown name, or a field the name does not have, naming it.
    """
    kinds = dict(measures) if isinstance(measures, Mapping) else dict.fromkeys(measures,
                                                                                 "difference")
    used = []
    for match in _PLACEHOLDER.finditer(text):
        name, field = match.group(1), match.group(2)
        if name in GLOBAL_NAMES:
            if field:
                raise ValueError(f"{{{name}}} takes no field, got {{{name}:{field}}}")
            continue
        if name in criteria:
            if field not in (None, "held"):
                raise ValueError(f"placeholder {{{name}:{field}}}: a criterion has only "
                                 f"{{{name}}} and {{{name}:held}}")
        elif name in kinds:
            fields = _fields(kinds[name])
            if field is not None and field not in fields:
                raise ValueError(f"placeholder {{{name}:{field}}}: unknown field; known: "
                                 f"{', '.join(fields)}")
        else:
            known = sorted([*measures, *criteria, *GLOBAL_NAMES])
            raise ValueError(f"placeholder {{{name}}} is not a measure or criterion "
                             f"({', '.join(known)})")
        used.append(name)
    return used


def render(text: str, measures: Mapping[str, Paired | Reach | None],
           outcomes: Mapping[str, Outcome | None], alphas: Mapping[str, float | None]
           ) -> str | None:
    """``text`` with its placeholders filled; None when one needs a missing number."""
    missing = False

    def fill(match: re.Match) -> str:
        nonlocal missing
        name, field = match.group(1), match.group(2)
        if name in GLOBAL_NAMES:
            value = alphas.get(name)
            if value is None:
                missing = True
                return ""
            return f"{value:g}"
        if name in outcomes:
            outcome = outcomes[name]
            if outcome is None:
                missing = True
                return ""
            return ("met" if outcome.held else "not met") if field == "held" else outcome.value
        paired = measures.get(name)
        if paired is None:
            missing = True
            return ""
        if isinstance(paired, Reach):
            return REACH_FIELDS[field or "median"](paired)
        return MEASURE_FIELDS[field or "mean_std"](paired)

    out = _PLACEHOLDER.sub(fill, text)
    return None if missing else out
