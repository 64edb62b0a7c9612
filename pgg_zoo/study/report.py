"""``pgg-zoo study report``: a study's tables (markdown) from its summary: the selection, the
test runs per variant, the paired differences to the baseline per seed (mean ± std, SE), the
learning curves and epochs to reach (studies with a ``curves`` section), each criterion's
outcome and the verdict of each claims-table row."""
from __future__ import annotations

import math
from typing import Mapping, Sequence

from ..stats import mean_std
from .criteria import Paired
from .declared import stale_runs
from .evaluation import ORIGINS, Evaluation, evaluate
from .reach import REACH_FIELDS, Reach, ratio_text
from .schema import StudyFile
from .summary import Summary

__all__ = ["study_report"]


def _cell(values: Sequence[float], signed: bool = False) -> str:
    if not values:
        return "-"
    per_seed = ", ".join(f"{v:+.1f}" if signed else f"{v:.1f}" for v in values)
    return f"{mean_std(values, signed=signed)} [{per_seed}]"


def _values(runs: Mapping[int, Mapping[str, float]], metric: str) -> list[float]:
    return [float(m[metric]) for _, m in sorted(runs.items()) if metric in m]


def _selection(study: StudyFile, summary: Summary) -> list[str]:
    sel = study.parsed_selection
    metrics = [summary.selection_metric or (sel.metric if sel else "")] + [
        m for m in study.report_metrics if m != (sel.metric if sel else None)]
    seeds = ", ".join(str(s) for s in sel.seeds) if sel else "?"
    lines = [f"## Selection ({summary.selection_split} split, metric `{metrics[0]}`, seeds "
             f"{seeds})", ""]
    if not summary.selection_runs:
        lines += ["No per-seed selection numbers in the summary." + (
            f" Validation chose alpha {summary.chosen_alpha:g}."
            if summary.chosen_alpha is not None else ""), ""]
        return lines
    lines += ["| alpha | " + " | ".join(f"{summary.selection_split} {m}" for m in metrics) + " |",
              "|---|" + "---|" * len(metrics)]
    for alpha, runs in sorted(summary.selection_runs.items()):
        mark = f"**{alpha:g}** (chosen)" if alpha == summary.chosen_alpha else f"{alpha:g}"
        lines.append(f"| {mark} | " + " | ".join(_cell(_values(runs, m)) for m in metrics)
                     + " |")
    lines.append("")
    if summary.chosen_alpha is not None:
        line = f"Validation chose alpha {summary.chosen_alpha:g}"
        if summary.selected_alpha not in (None, summary.chosen_alpha):
            line += f"; the rule gives the guided test runs the best positive alpha, " \
                    f"{summary.selected_alpha:g}"
        recorded = study.parsed_test.alpha
        if recorded is not None and summary.selected_alpha not in (None, recorded):
            line += f". **The study file records test.alpha {recorded:g}**"
        lines += [line + ".", ""]
    else:
        lines += ["The selection is incomplete (not every alpha ran on every seed).", ""]
    return lines


def _test(study: StudyFile, summary: Summary) -> list[str]:
    metrics = study.report_metrics
    alpha = summary.test_alpha if summary.test_alpha is not None else study.parsed_test.alpha
    lines = [f"## Test ({summary.test_split} split, alpha {alpha:g})" if alpha is not None
             else f"## Test ({summary.test_split} split)", "",
             "| variant | seeds | " + " | ".join(metrics) + " |",
             "|---|---|" + "---|" * len(metrics)]
    for name in study.variants:
        runs = summary.test_runs.get(name, {})
        seeds = ", ".join(str(s) for s in sorted(runs)) or "-"
        lines.append(f"| {name} | {seeds} | " + " | ".join(_cell(_values(runs, m))
                                                           for m in metrics) + " |")
    base = summary.test_runs.get(study.baseline, {})
    lines += ["", f"Paired differences to `{study.baseline}` (same seed), mean ± std [per "
                  "seed], SE = std / sqrt(seeds):", "",
              f"| variant - {study.baseline} | " + " | ".join(metrics) + " |",
              "|---|" + "---|" * len(metrics)]
    for name in study.variants:
        if name == study.baseline:
            continue
        runs = summary.test_runs.get(name, {})
        cells = []
        for m in metrics:
            seeds = sorted(s for s in set(runs) & set(base) if m in runs[s] and m in base[s])
            p = Paired(tuple(seeds), tuple(runs[s][m] for s in seeds),
                       tuple(base[s][m] for s in seeds))
            se = "" if p.n < 2 or math.isnan(p.se) else f" (SE {p.se:.2f})"
            cells.append(_cell(p.diffs, signed=True) + se if p.n else "-")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines + [""]


def _curves(ev: Evaluation) -> list[str]:
    study, summary = ev.study, ev.summary
    lines = [f"## Learning curves ({summary.curve_split} split, evaluated every "
             f"{summary.curve_every} epoch(s), alpha {summary.curve_alpha:g})", ""]
    metrics = sorted({m.metric for m in study.parsed_measures.values() if m.kind == "reach"})
    for metric in metrics:
        lines += [f"`{metric}` per evaluated epoch:", "", "| variant | seed | epochs | values |",
                  "|---|---|---|---|"]
        for name, runs in summary.curve_runs.items():
            for seed, curve in sorted(runs.items()):
                lines.append(f"| {name} | {seed} | {', '.join(str(e) for e, _ in curve)} | "
                             + ", ".join(f"{m[metric]:.2f}" if metric in m else "-"
                                         for _, m in curve) + " |")
        lines.append("")
    for name, measure in study.parsed_measures.items():
        reach = ev.measures.get(name)
        if measure.kind != "reach" or not isinstance(reach, Reach):
            continue
        lines += [f"`{name}`: the first evaluated epoch at which each run reaches "
                  f"`{measure.b}`'s final {measure.metric} (E_a: `{measure.a}`, E_b: "
                  f"`{measure.b}` itself); median E_a / E_b {REACH_FIELDS['median'](reach)}, "
                  f"`{measure.a}` reaches it on {REACH_FIELDS['reached'](reach)} seeds.", "",
                  "| seed | level | E_a | E_b | E_a / E_b |", "|---|---|---|---|---|"]
        for i, seed in enumerate(reach.seeds):
            ea = "never" if reach.a[i] is None else str(reach.a[i])
            lines.append(f"| {seed} | {reach.target[i]:.2f} | {ea} | {reach.b[i]} | "
                         f"{ratio_text(reach.ratios[i])} |")
        lines.append("")
    return lines + _curve_ends(study, summary)


def _curve_ends(study: StudyFile, summary: Summary) -> list[str]:
    """Whether each curve run ended where its test run did: the evaluations along the way do
    not touch training (the loaders and synthesis draw from their own seeded generators), so
    they should; a difference says the curve runs are not the runs the test table holds."""
    same, differ = 0, []
    for name, runs in summary.curve_runs.items():
        for seed, curve in runs.items():
            test = summary.test_runs.get(name, {}).get(seed)
            if not curve or test is None:
                continue
            final = curve[-1][1]
            shared = [m for m in final if m in test]
            off = [m for m in shared if abs(final[m] - test[m]) > 1e-9]
            if off:
                shown = ", ".join(f"{m} {final[m]:.2f} against {test[m]:.2f}" for m in off)
                differ.append(f"{name} s{seed} ({shown})")
            elif shared:
                same += 1
    if not same and not differ:
        return []
    line = f"Curve runs ending at their test run's values: {same} of {same + len(differ)}"
    return [line + (": differ: " + "; ".join(differ) if differ else "") + ".", ""]


def _criteria(ev: Evaluation) -> list[str]:
    if not ev.study.parsed_criteria:
        return ["## Criteria", "", "None declared (not a pre-registered study).", ""]
    lines = ["## Criteria (pre-declared)", "", "| criterion | rule | measure | outcome | "
             "compared | as declared |", "|---|---|---|---|---|---|"]
    for name, crit in ev.study.parsed_criteria.items():
        m = ev.study.parsed_measures[crit.params.measure]
        measure = f"{m.a} - {m.b}, {m.metric}" if m.kind == "difference" else \
            f"{m.a} reaching {m.b}'s final {m.metric}"
        out = ev.outcomes[name]
        outcome = "no numbers" if out is None else ("**met**" if out.held else "not met")
        lines.append(f"| {name} | `{crit.rule}` | {measure} | {outcome} | "
                     f"{out.text if out else '-'} | {crit.params.says} |")
    return lines + [""]


def _claims(ev: Evaluation) -> list[str]:
    if not ev.rows:
        return ["## Claims-table rows", "", "None: the study is not a row of the claims table.",
                ""]
    lines = ["## Claims-table rows", "", "| claim | verdict | numbers | from |",
             "|---|---|---|---|"]
    for row in ev.rows:
        lines.append(f"| {row.claim} | {row.verdict} | {row.numbers} | {ORIGINS[row.origin]} |")
        if row.origin != "recorded" and row.recorded_verdict \
                and row.recorded_verdict != row.verdict:
            lines.append(f"| | *recorded:* {row.recorded_verdict} | | the record's verdict |")
    return lines + [""]


def study_report(study: StudyFile, summary: Summary | None) -> str:
    """The markdown report of ``study`` on ``summary`` (None: only the recorded rows)."""
    head = [f"# {study.name}: {study.title}".rstrip(": "), ""]
    about = f"Task `{study.task}`"
    if study.benchmark:
        about += f", benchmark `{study.benchmark}`"
    if study.design:
        about += f"; design and criteria: {study.design}"
    head += [about + ".", ""]
    if summary is None:
        head += [f"No summary ({study.summary_path}): `pgg-zoo study run {study.path}` "
                 "writes it. Rows below are as recorded.", ""]
        return "\n".join(head + _claims(evaluate(study, None)))
    source = f"Summary: {study.summary_path} ({summary.source}"
    source += f", {summary.threads} torch thread(s) per run)" if summary.threads else ")"
    head += [source + (f". {summary.note}" if summary.note else "") + ".", ""]
    stale = stale_runs(study, summary)
    if stale:
        head += ["**The summary's runs are not the ones the study file declares now** (run the "
                 "study again; the claims table is not regenerated from it):", ""]
        head += [f"* {line}" for line in stale] + [""]
    ev = evaluate(study, summary)
    body: list[str] = []
    if summary.has_selection:
        body += _selection(study, summary)
    if summary.test_runs:
        body += _test(study, summary)
    if summary.curve_runs:
        body += _curves(ev)
    body += _criteria(ev) + _claims(ev)
    return "\n".join(head + body)
