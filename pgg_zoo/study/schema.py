"""The study file (``study.yaml``): one pre-registered study as data.

A study names the claim it tests, the task and the options every run shares, the variants
(name -> option overrides), the baseline and the guided variant of its paired table, how alpha
is chosen on validation (grid, seeds, metric, split), the test seeds and the alpha validation
chose, the pre-declared criteria (rules of :mod:`.criteria` over paired per-seed differences)
and how their outcomes map to the verdict of each claims-table row. docs/studies.md has the
format with an example.

Every key is declared with :func:`pgg_zoo.config.checks.option` and checked with the same
mechanism as run options and model cards; an error is one line naming the file and the key
(``studies/x/study.yaml: option selection.seeds: expected a list of distinct integers >= 0``).
Checking a file imports nothing heavy; :func:`check_task_options` (which loads the task
plugins) also checks the option names against the task.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..config.checks import KIND_CHECKS, ConfigError, check_number, option, where
from .criteria import Criterion, Measure, template_names
from .sections import fail, section

__all__ = ["StudyFile", "Selection", "TestPhase", "CurvesPhase", "ClaimRow", "Verdict",
           "load_study",
           "parse_study", "check_task_options", "STUDY_FILE", "SUMMARY_FILE"]

#: The file name of a study inside its folder (``studies/<name>/study.yaml``).
STUDY_FILE = "study.yaml"
#: The per-seed numbers beside it.
SUMMARY_FILE = "summary.json"
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


def _seeds(key: str, raw: Any) -> list[int]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"option {key}: expected a non-empty list of seeds, got {raw!r}")
    seeds = [int(check_number(f"{key}[{i}]", s, integer=True, low=0)) for i, s in enumerate(raw)]
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"option {key}: a seed is listed twice in {raw!r}")
    return seeds


def _alphas(key: str, raw: Any) -> list[float]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"option {key}: expected a non-empty list of alphas, got {raw!r}")
    alphas = [float(check_number(f"{key}[{i}]", a, integer=False, low=0))
              for i, a in enumerate(raw)]
    if len(set(alphas)) != len(alphas):
        raise ConfigError(f"option {key}: an alpha is listed twice in {raw!r}")
    if not any(a > 0 for a in alphas):
        raise ConfigError(f"option {key}: needs at least one alpha > 0, got {raw!r}")
    return sorted(alphas)


def _mapping(key: str, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"option {key}: expected a mapping, got {raw!r}")
    bad = [k for k in raw if not isinstance(k, str)]
    if bad:
        raise ConfigError(f"option {key}: keys must be text, got {bad[0]!r}")
    return dict(raw)


def _sequence(key: str, raw: Any) -> list[Any]:
    if not isinstance(raw, list):
        raise ConfigError(f"option {key}: expected a list, got {raw!r}")
    return list(raw)


def _name(key: str, raw: Any) -> str:
    if not isinstance(raw, str) or not _NAME.match(raw):
        raise ConfigError(f"option {key}: expected a name of lower-case letters, digits, '.', "
                          f"'_' and '-', got {raw!r}")
    return raw


KIND_CHECKS.update(study_seeds=_seeds, study_alphas=_alphas, study_mapping=_mapping,
                   study_list=_sequence, study_name=_name)


@dataclass
class Selection:
    """How alpha is chosen: on validation data only, before any test run."""

    alphas: list = option([], "study_alphas",
                          doc="the grid; 0 (no guidance: the guided variant without guidance) "
                              "is a candidate only when listed")
    seeds: list = option([], "study_seeds", doc="selection seeds")
    metric: str = option("", "str", doc="validation metric to maximize")
    split: str = option("val", "str", doc="the split the selection runs evaluate on")
    tolerance: float = option(0.0, "float", low=0,
                              doc="alphas within this much of the best mean count as tied "
                                  "(ties go to the smaller alpha)")


@dataclass
class TestPhase:
    """The test runs: every variant on paired seeds at the alpha validation chose."""

    seeds: list = option([], "study_seeds", doc="paired test seeds")
    alpha: float | None = option(None, "float", low=0, strict=True, optional=True,
                                 doc="the alpha validation chose (its best positive alpha "
                                     "when it chose 0), recorded after the selection and "
                                     "before the test runs")
    split: str = option("test", "str", doc="the split the test runs evaluate on")
    seeds_by_variant: dict = option({}, "study_mapping",
                                    doc="variant -> its own seeds (a smaller design or a "
                                        "replication), instead of seeds")


@dataclass
class CurvesPhase:
    """Learning curves: variants trained again on their test seeds at the test alpha, evaluated
    on the test split every ``every`` epochs (the ``eval_interval`` run option), for measures
    of kind ``reach`` (epochs to reach a level)."""

    variants: list = option([], "study_list", doc="the variants that get a learning curve")
    every: int = option(1, "int", low=1, doc="evaluate every N epochs")
    seeds: list | None = option(None, "study_seeds", optional=True,
                                doc="the seeds (default: each variant's test seeds)")
    options: dict = option({}, "study_mapping",
                           doc="option overrides of the curve runs only (not of training: "
                               "e.g. leakage_items 0 to skip the leakage sample)")


@dataclass
class Verdict:
    """One entry of a claim row's verdict list: its text when every named criterion has the
    given outcome (no ``when``: always)."""

    text: str = option("", "str", doc="verdict text (markdown; may hold {placeholders})")
    when: dict = option({}, "study_mapping", doc="criterion -> true (met) or false (not met)")


@dataclass
class ClaimRow:
    """A row of the claims table this study fills."""

    claim: str = option("", "study_name", doc="key of the paper claim (studies/claims.yaml)")
    verdict: list = option([], "study_list",
                           doc="verdict entries, first match wins (none: the row is always "
                               "the recorded one)")
    numbers: str = option("", "str", doc="numbers column (markdown with {placeholders})")
    recorded: dict = option({}, "study_mapping",
                            doc="verdict and numbers as the research record states them, "
                                "used while no summary holds what the row needs")


@dataclass
class StudyFile:
    """A study file, checked. ``variants`` maps names to option overrides (task and run
    options) over ``options``; ``measures`` and ``criteria`` are :class:`Measure` and
    :class:`Criterion` by name; ``claims`` the rows of the claims table."""

    name: str = option("", "study_name", doc="the study's name (its folder under studies/)")
    title: str = option("", "str", doc="one line: what is compared on which benchmark")
    label: str = option("", "str", doc="the benchmark column of the claims table "
                                       "(default: the benchmark in code)")
    benchmark: str = option("", "str", doc="the benchmark (a released name)")
    design: str = option("", "str", doc="where the design and criteria were written down, "
                                        "and the commit that fixed them")
    task: str = option("", "str", doc="task name")
    options: dict = option({}, "study_mapping", doc="task and run options of every run")
    variants: dict = option({}, "study_mapping", doc="variant name -> option overrides")
    baseline: str = option("", "str", doc="the variant paired differences are taken to")
    guided: str = option("", "str", doc="the guided variant (its alpha is chosen on val)")
    selection: dict | None = option(None, "study_mapping", optional=True,
                                    doc="how alpha is chosen (absent: the test alpha is fixed)")
    test: dict = option({}, "study_mapping", doc="seeds and alpha of the test runs")
    curves: dict | None = option(None, "study_mapping", optional=True,
                                 doc="variants retrained with a learning curve (absent: none)")
    metrics: list = option([], "study_list", doc="metrics of the report's tables (default: "
                                                 "those the measures use)")
    measures: dict = option({}, "study_mapping", doc="name -> {a, b, metric[, seeds]}")
    criteria: dict = option({}, "study_mapping", doc="name -> {rule, measure, ...}")
    claims: list = option([], "study_list", doc="rows of the claims table")

    # filled by parse_study (not keys of the file)
    path: Path | None = None
    parsed_selection: Selection | None = None
    parsed_test: TestPhase | None = None
    parsed_curves: CurvesPhase | None = None
    parsed_measures: dict[str, Measure] = dataclasses.field(default_factory=dict)
    parsed_criteria: dict[str, Criterion] = dataclasses.field(default_factory=dict)
    parsed_claims: list[ClaimRow] = dataclasses.field(default_factory=list)

    @property
    def folder(self) -> Path:
        """The study's folder (its summary is written there)."""
        return self.path.parent if self.path is not None else Path(self.name)

    @property
    def summary_path(self) -> Path:
        return self.folder / SUMMARY_FILE

    def seeds_of(self, variant: str) -> list[int]:
        """The test seeds of ``variant``."""
        assert self.parsed_test is not None
        return list(self.parsed_test.seeds_by_variant.get(variant, self.parsed_test.seeds))

    def curve_seeds_of(self, variant: str) -> list[int]:
        """The seeds of ``variant``'s learning curves (none when it has no curves)."""
        curves = self.parsed_curves
        if curves is None or variant not in curves.variants:
            return []
        return list(curves.seeds) if curves.seeds is not None else self.seeds_of(variant)

    @property
    def measure_kinds(self) -> dict[str, str]:
        """Measure name -> its kind (``difference`` or ``reach``)."""
        return {name: m.kind for name, m in self.parsed_measures.items()}

    @property
    def report_metrics(self) -> list[str]:
        """The metrics of the report's tables: ``metrics``, else those the measures and the
        selection use, in order of first use."""
        if self.metrics:
            return list(self.metrics)
        seen: list[str] = []
        names = [m.metric for m in self.parsed_measures.values()]
        if self.parsed_selection is not None:
            names.insert(0, self.parsed_selection.metric)
        for name in names:
            if name not in seen:
                seen.append(name)
        return seen


_REQUIRED = {"StudyFile": ("name", "task", "variants", "baseline", "guided", "test"),
             "Selection": ("alphas", "seeds", "metric"), "TestPhase": ("seeds",),
             "CurvesPhase": ("variants",),
             "Verdict": ("text",), "ClaimRow": ("claim",)}
_HELD_OUT = ("path", "parsed_selection", "parsed_test", "parsed_curves", "parsed_measures",
             "parsed_criteria", "parsed_claims")


def _section(cls: type, raw: Any, path: str, source: Path | str | None) -> Any:
    return section(cls, raw, path, source, required=_REQUIRED.get(cls.__name__, ()),
                   skip=_HELD_OUT)




def parse_study(raw: Any, source: Path | str | None = None) -> StudyFile:
    """A study file's content (parsed YAML) checked; ``source`` names the file in errors.

    Raises:
        ConfigError: one line, ``<file>: option <key>: <what is wrong>``.
    """
    study = _section(StudyFile, raw, "", source)
    study.path = Path(source) if source is not None else None
    if study.path is not None and study.path.name == STUDY_FILE \
            and study.path.parent.name != study.name:
        raise fail(source, "name", f"{study.name!r} is not the name of the study's folder "
                                    f"{study.path.parent.name!r}")
    for name, overrides in study.variants.items():
        if not isinstance(overrides, Mapping):
            raise fail(source, f"variants.{name}", f"expected a mapping of option overrides, "
                                                    f"got {overrides!r}")
    for role in ("baseline", "guided"):
        if getattr(study, role) not in study.variants:
            raise fail(source, role, f"{getattr(study, role)!r} is not one of the variants "
                                      f"({', '.join(study.variants)})")
    from ..task.variants import is_guided

    if not is_guided(study.variants[study.guided]):
        raise fail(source, "guided", f"variant {study.guided!r} does not train with guidance "
                                      "on true provenance")
    if study.selection is not None:
        study.parsed_selection = _section(Selection, study.selection, "selection", source)
    study.parsed_test = _section(TestPhase, study.test, "test", source)
    if study.parsed_selection is None and study.parsed_test.alpha is None:
        raise fail(source, "test.alpha", "missing: a study without selection fixes its alpha")
    for variant, seeds in study.parsed_test.seeds_by_variant.items():
        key = f"test.seeds_by_variant.{variant}"
        if variant not in study.variants:
            raise fail(source, key, f"{variant!r} is not one of the variants")
        study.parsed_test.seeds_by_variant[variant] = _with_source(_seeds, key, seeds, source)
    for i, metric in enumerate(study.metrics):
        if not isinstance(metric, str):
            raise fail(source, f"metrics[{i}]", f"expected a metric name, got {metric!r}")
    if study.curves is not None:
        study.parsed_curves = _curves(study, study.curves, source)
    study.parsed_measures = {
        name: Measure.parse(name, spec, study.variants, source)
        for name, spec in study.measures.items()}
    curved = study.parsed_curves.variants if study.parsed_curves is not None else []
    for name, measure in study.parsed_measures.items():
        for role in ("a", "b"):
            if measure.kind == "reach" and getattr(measure, role) not in curved:
                raise fail(source, f"measures.{name}.{role}",
                           f"a reach measure reads learning curves; {getattr(measure, role)!r} "
                           f"is not one of curves.variants ({', '.join(curved) or 'none'})")
    study.parsed_criteria = {
        name: Criterion.parse(name, spec, study.parsed_measures, source)
        for name, spec in study.criteria.items()}
    both = sorted(set(study.parsed_measures) & set(study.parsed_criteria))
    if both:
        raise fail(source, f"criteria.{both[0]}", "a measure has that name too; name them apart")
    study.parsed_claims = [_claim_row(study, i, row, source) for i, row in enumerate(study.claims)]
    return study


def _curves(study: StudyFile, raw: Any, source: Path | str | None) -> CurvesPhase:
    curves = _section(CurvesPhase, raw, "curves", source)
    for i, name in enumerate(curves.variants):
        if name not in study.variants:
            raise fail(source, f"curves.variants[{i}]", f"{name!r} is not one of the variants "
                                                         f"({', '.join(study.variants)})")
    if len(set(curves.variants)) != len(curves.variants):
        raise fail(source, "curves.variants", "a variant is listed twice")
    for key in ("eval_interval", "eval_split", "seed", "work_dir", "epochs"):
        if key in curves.options:
            # these make the curve runs other runs than the test runs they stand beside
            raise fail(source, f"curves.options.{key}", "set by the curves phase (every, the "
                                                        "test split and seeds, the variant's "
                                                        "recipe); not an override")
    return curves


def _with_source(check: Any, key: str, raw: Any, source: Path | str | None) -> Any:
    try:
        return check(key, raw)
    except ConfigError as exc:
        raise ConfigError(where(source) + str(exc)) from None


def _claim_row(study: StudyFile, i: int, raw: Any, source: Path | str | None) -> ClaimRow:
    path = f"claims[{i}]"
    row = _section(ClaimRow, raw, path, source)
    entries = []
    for j, entry in enumerate(row.verdict):
        verdict = _section(Verdict, entry, f"{path}.verdict[{j}]", source)
        for crit, outcome in verdict.when.items():
            if crit not in study.parsed_criteria:
                raise fail(source, f"{path}.verdict[{j}].when.{crit}",
                            "not one of the criteria (" + ", ".join(study.parsed_criteria) + ")")
            if not isinstance(outcome, bool):
                raise fail(source, f"{path}.verdict[{j}].when.{crit}",
                            f"expected true (met) or false (not met), got {outcome!r}")
        _check_template(study, verdict.text, f"{path}.verdict[{j}].text", source)
        entries.append(verdict)
    if entries and entries[-1].when:
        raise fail(source, f"{path}.verdict", "the last entry must have no 'when' (the verdict "
                                               "when no other entry applies)")
    row.verdict = entries
    _check_template(study, row.numbers, f"{path}.numbers", source)
    unknown = sorted(set(row.recorded) - {"verdict", "numbers"})
    if unknown:
        raise fail(source, f"{path}.recorded.{unknown[0]}", "unknown key; known: numbers, "
                                                             "verdict")
    for key, text in row.recorded.items():
        if not isinstance(text, str):
            raise fail(source, f"{path}.recorded.{key}", f"expected text, got {text!r}")
    if not entries and not row.recorded.get("verdict"):
        raise fail(source, f"{path}.verdict", "missing: verdict entries (computed from the "
                                              "criteria) or a recorded verdict")
    return row


def _check_template(study: StudyFile, text: str, key: str, source: Path | str | None) -> None:
    try:
        template_names(text, study.measure_kinds, list(study.parsed_criteria))
    except ValueError as exc:
        raise fail(source, key, str(exc)) from None


def load_study(path: str | Path) -> StudyFile:
    """The study file at ``path`` (a ``study.yaml`` or its folder), checked.

    Raises:
        FileNotFoundError: no such file.
        ConfigError: one line naming the file and the key.
    """
    import yaml

    from ..data.errors import utf8_problem

    path = Path(path)
    if path.is_dir():
        path = path / STUDY_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no study file (studies/<name>/{STUDY_FILE})")
    problem = utf8_problem(path)
    if problem:
        raise ConfigError(f"{path}, line {problem[0]}: {problem[1]}")
    try:
        raw = yaml.safe_load(path.read_text("utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f", line {mark.line + 1}" if mark is not None else ""
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}{at}: not valid YAML ({what})") from None
    return parse_study(raw, path)


def check_task_options(study: StudyFile) -> None:
    """Check the option names of ``options`` and every variant against the study's task
    (loads the task plugins).

    Raises:
        ConfigError: ``<file>: option variants.<name>: unknown decoy option 'x' ...``.
    """
    from ..registry import TASKS, RegistryError
    from ..task.building import split_options

    try:
        cls = TASKS.get(study.task)
    except RegistryError as exc:
        raise fail(study.path, "task", str(exc)) from None
    try:
        split_options(cls, study.options)
    except ConfigError as exc:
        raise fail(study.path, "options", str(exc)) from None
    for name, overrides in study.variants.items():
        try:
            split_options(cls, overrides)
        except ConfigError as exc:
            raise fail(study.path, f"variants.{name}", str(exc)) from None
