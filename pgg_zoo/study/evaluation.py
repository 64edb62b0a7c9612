"""A study file evaluated on its summary: the measures, each criterion's outcome, and the
verdict and numbers of each claims-table row (or the row as recorded, where no summary holds
what it needs)."""
from __future__ import annotations

from dataclasses import dataclass, field

from .criteria import Measure, Outcome, Paired, paired_values, render, template_names
from .reach import Reach, reach_values
from .schema import ClaimRow, StudyFile
from .summary import Summary

__all__ = ["Evaluation", "RowResult", "evaluate", "measure_values", "ORIGINS"]

#: Where a claims-table row comes from: a summary written by a run, a summary transcribed
#: from the research record, or the study file's ``recorded`` block.
ORIGINS = {"run": "re-run", "transcribed": "transcribed per-seed values",
           "recorded": "recorded, not regenerated"}


@dataclass(frozen=True)
class RowResult:
    """A claims-table row: its verdict and numbers texts and where they come from
    (a key of :data:`ORIGINS`); ``recorded_verdict`` is the study file's record, if any."""

    claim: str
    verdict: str
    numbers: str
    origin: str
    recorded_verdict: str = ""


@dataclass
class Evaluation:
    study: StudyFile
    summary: Summary | None
    measures: dict[str, Paired | Reach | None] = field(default_factory=dict)
    outcomes: dict[str, Outcome | None] = field(default_factory=dict)
    rows: list[RowResult] = field(default_factory=list)

    @property
    def alphas(self) -> dict[str, float | None]:
        s = self.summary
        test = s.test_alpha if s is not None and s.test_alpha is not None \
            else self.study.parsed_test.alpha
        return {"alpha": test, "chosen_alpha": s.chosen_alpha if s is not None else None}


def evaluate(study: StudyFile, summary: Summary | None) -> Evaluation:
    """Measures, criteria and claim rows of ``study`` on ``summary`` (None: no summary)."""
    ev = Evaluation(study, summary)
    ev.measures = {name: measure_values(m, summary)
                   for name, m in study.parsed_measures.items()}
    ev.outcomes = {name: c.evaluate(ev.measures) for name, c in study.parsed_criteria.items()}
    ev.rows = [_row(ev, row) for row in study.parsed_claims]
    return ev


def measure_values(measure: Measure, summary: Summary | None) -> Paired | Reach | None:
    """``measure`` on ``summary``: paired differences of the test runs, or (kind reach) the
    epochs to reach on the learning curves; None when the summary holds no numbers for it."""
    if summary is None:
        return None
    if measure.kind == "reach":
        return reach_values(measure.a, measure.b, measure.metric, summary.curve_runs,
                            measure.seeds)
    return paired_values(measure, summary.test_runs)


def _row(ev: Evaluation, row: ClaimRow) -> RowResult:
    recorded = row.recorded.get("verdict", "")
    regenerated = _regenerated(ev, row) if ev.summary is not None else None
    if regenerated is not None:
        verdict, numbers = regenerated
        origin = "run" if ev.summary.from_runs else "transcribed"
        return RowResult(row.claim, verdict, numbers, origin, recorded)
    return RowResult(row.claim, recorded, row.recorded.get("numbers", ""), "recorded", recorded)


def _regenerated(ev: Evaluation, row: ClaimRow) -> tuple[str, str] | None:
    """(verdict, numbers) computed from the summary; None when it lacks a number they need
    (or the row declares no computed verdict)."""
    if not row.verdict:
        return None
    measures, criteria = ev.study.measure_kinds, list(ev.study.parsed_criteria)
    needed = {c for v in row.verdict for c in v.when}
    for text in [row.numbers, *(v.text for v in row.verdict)]:
        needed.update(n for n in template_names(text, measures, criteria) if n in criteria)
    if any(ev.outcomes.get(c) is None for c in needed):
        return None
    numbers = render(row.numbers, ev.measures, ev.outcomes, ev.alphas)
    for entry in row.verdict:
        if all(ev.outcomes[c].held == want for c, want in entry.when.items()):
            verdict = render(entry.text, ev.measures, ev.outcomes, ev.alphas)
            if verdict is None or numbers is None:
                return None
            return verdict, numbers
    raise AssertionError("the last verdict entry has no condition")  # checked by parse_study
