"""A study's per-seed numbers (``summary.json`` beside its ``study.yaml``, committed).

Layout::

    {"study": "<name>",
     "source": "pgg-zoo study run" | "transcribed from docs/results.md (commit <hash>)",
     "threads": 1,
     "note": "<optional: what a reader must know, e.g. values rounded as printed>",
     "selection": {"metric": "top1", "split": "val", "chosen_alpha": 1.0, "test_alpha": 1.0,
                   "runs": {"<alpha>": {"<seed>": {"<metric>": value, ...}, ...}, ...}},
     "test": {"alpha": 1.0, "split": "test",
              "runs": {"<variant>": {"<seed>": {"<metric>": value, ...}, ...}, ...}},
     "curves": {"every": 2, "split": "test", "alpha": 1.0,
                "runs": {"<variant>": {"<seed>": {"epochs": [2, 4, ...],
                                                  "<metric>": [value, ...], ...}, ...}, ...}}}

Each phase may also hold ``options``: per variant (per alpha for ``selection``) the options
the study file declared for its runs (:mod:`pgg_zoo.study.declared`), so that a summary whose
runs the file no longer describes is caught instead of read.

Numbers are the runs' metrics as the engine wrote them (percent); a transcribed summary holds
the per-seed values a research record printed (rounded as printed), and says so in
``source``. ``selection.chosen_alpha`` is validation's choice, ``selection.test_alpha`` the
alpha the selection rule gives the guided test runs (the best positive one when validation
chose 0), ``test.alpha`` the alpha the test runs used (the study file's record). ``curves``
(only for a study file with a ``curves`` section) holds each curve run's evaluations, one
value per evaluated epoch and metric. ``threads`` is the torch thread count every run trained
with (``pgg-zoo study run --threads``; absent in a transcribed summary): CPU results depend on
it, so a re-run reproduces the per-seed numbers only with the same count. Timings are left out: they are not reproducible, the summary is.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..config.checks import ConfigError

__all__ = ["Summary", "read_summary", "write_summary", "RUN_SOURCE", "alpha_key", "CurveRuns"]

#: ``source`` of a summary written by ``pgg-zoo study run``.
RUN_SOURCE = "pgg-zoo study run"
#: Metrics a run reports that are not reproducible and stay out of a summary.
UNREPRODUCIBLE = ("train_minutes",)

Runs = dict[str, dict[int, dict[str, float]]]
#: variant -> seed -> [(epoch, metrics), ...], epochs ascending
CurveRuns = dict[str, dict[int, list[tuple[int, dict[str, float]]]]]


def alpha_key(alpha: float) -> str:
    """The text key of an alpha in a summary (``0``, ``0.001``, ``100``)."""
    return f"{alpha:g}"


@dataclass
class Summary:
    """Per-seed metrics of a study's runs: ``test_runs[variant][seed]`` and
    ``selection_runs[alpha][seed]``."""

    study: str
    source: str = RUN_SOURCE
    note: str = ""
    threads: int | None = None
    test_alpha: float | None = None
    test_split: str = "test"
    test_runs: Runs = field(default_factory=dict)
    selection_metric: str | None = None
    selection_split: str = "val"
    chosen_alpha: float | None = None
    selected_alpha: float | None = None
    selection_runs: dict[float, dict[int, dict[str, float]]] = field(default_factory=dict)
    curve_every: int | None = None
    curve_split: str = "test"
    curve_alpha: float | None = None
    curve_runs: CurveRuns = field(default_factory=dict)
    #: per phase, the options each variant (alpha) was trained with (pgg_zoo.study.declared)
    selection_options: dict[float, dict[str, Any]] = field(default_factory=dict)
    test_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    curve_options: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def from_runs(self) -> bool:
        """Whether ``pgg-zoo study run`` wrote it (else: transcribed from a record)."""
        return self.source == RUN_SOURCE

    @property
    def has_selection(self) -> bool:
        return self.chosen_alpha is not None or bool(self.selection_runs)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"study": self.study, "source": self.source}
        if self.threads is not None:
            out["threads"] = self.threads
        if self.note:
            out["note"] = self.note
        if self.has_selection:
            out["selection"] = {
                "metric": self.selection_metric, "split": self.selection_split,
                "chosen_alpha": self.chosen_alpha,
                "test_alpha": self.selected_alpha,
                "runs": {alpha_key(a): _seeds_out(r)
                         for a, r in sorted(self.selection_runs.items())}}
            if self.selection_options:
                out["selection"]["options"] = {alpha_key(a): o for a, o in
                                               sorted(self.selection_options.items())}
        out["test"] = {"alpha": self.test_alpha, "split": self.test_split,
                       "runs": {v: _seeds_out(r) for v, r in self.test_runs.items()}}
        if self.test_options:
            out["test"]["options"] = dict(self.test_options)
        if self.curve_runs:
            out["curves"] = {"every": self.curve_every, "split": self.curve_split,
                             "alpha": self.curve_alpha,
                             "runs": {v: {str(s): _curve_out(c) for s, c in sorted(r.items())}
                                      for v, r in self.curve_runs.items()}}
            if self.curve_options:
                out["curves"]["options"] = dict(self.curve_options)
        return out


def _curve_out(curve: list[tuple[int, dict[str, float]]]) -> dict[str, list]:
    """Columns: ``epochs`` and one list per metric (the metrics every point reports)."""
    metrics = [m for m in curve[0][1] if m not in UNREPRODUCIBLE
               and all(m in point for _, point in curve)] if curve else []
    out: dict[str, list] = {"epochs": [e for e, _ in curve]}
    out.update({m: [point[m] for _, point in curve] for m in metrics})
    return out


def _seeds_out(runs: Mapping[int, Mapping[str, float]]) -> dict[str, dict[str, float]]:
    return {str(s): {k: v for k, v in m.items() if k not in UNREPRODUCIBLE}
            for s, m in sorted(runs.items())}


class _Reader:
    def __init__(self, path: Path):
        self.path = path

    def fail(self, key: str, what: str) -> ConfigError:
        return ConfigError(f"{self.path}: {key}: {what}")

    def mapping(self, raw: Any, key: str) -> Mapping[str, Any]:
        if not isinstance(raw, Mapping):
            raise self.fail(key, f"expected a mapping, got {raw!r}")
        return raw

    def number(self, raw: Any, key: str, optional: bool = False) -> float | None:
        if raw is None and optional:
            return None
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or math.isinf(raw):
            raise self.fail(key, f"expected a number, got {raw!r}")
        return float(raw)

    def seed_runs(self, raw: Any, key: str) -> dict[int, dict[str, float]]:
        out: dict[int, dict[str, float]] = {}
        for seed, metrics in self.mapping(raw, key).items():
            if not str(seed).isdigit():
                raise self.fail(f"{key}.{seed}", "expected a seed (an integer) as the key")
            values = self.mapping(metrics, f"{key}.{seed}")
            out[int(seed)] = {m: self.number(v, f"{key}.{seed}.{m}") for m, v in values.items()}
        return out

    def options(self, raw: Any, key: str) -> dict[str, dict[str, Any]]:
        return {str(name): dict(self.mapping(opts, f"{key}.{name}"))
                for name, opts in self.mapping(raw, key).items()}

    def curve(self, raw: Any, key: str) -> list[tuple[int, dict[str, float]]]:
        columns = self.mapping(raw, key)
        epochs = columns.get("epochs")
        if not isinstance(epochs, list) or not epochs or any(
                isinstance(e, bool) or not isinstance(e, int) or e < 0 for e in epochs):
            raise self.fail(f"{key}.epochs", f"expected a list of epochs, got {epochs!r}")
        if sorted(set(epochs)) != epochs:
            raise self.fail(f"{key}.epochs", f"expected ascending distinct epochs, got {epochs!r}")
        points: list[tuple[int, dict[str, float]]] = [(e, {}) for e in epochs]
        for metric, values in columns.items():
            if metric == "epochs":
                continue
            if not isinstance(values, list) or len(values) != len(epochs):
                raise self.fail(f"{key}.{metric}", f"expected {len(epochs)} values (one per "
                                                   f"epoch), got {values!r}")
            for i, v in enumerate(values):
                points[i][1][metric] = self.number(v, f"{key}.{metric}[{i}]")
        return points


def read_summary(path: str | Path) -> Summary | None:
    """The summary at ``path``; None when there is no such file.

    Raises:
        ConfigError: a malformed summary, one line naming the file and the key.
    """
    path = Path(path)
    if not path.is_file():
        return None
    r = _Reader(path)
    try:
        raw = json.loads(path.read_text("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    raw = r.mapping(raw, "summary")
    for key in ("study", "source"):
        if not isinstance(raw.get(key), str):
            raise r.fail(key, f"expected text, got {raw.get(key)!r}")
    threads = raw.get("threads")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                or threads < 1):
        raise r.fail("threads", f"expected a positive integer, got {threads!r}")
    test = r.mapping(raw.get("test", {}), "test")
    summary = Summary(study=raw["study"], source=raw["source"], note=str(raw.get("note", "")),
                      test_options=r.options(test.get("options", {}), "test.options"),
                      threads=threads,
                      test_alpha=r.number(test.get("alpha"), "test.alpha", optional=True),
                      test_split=str(test.get("split", "test")),
                      test_runs={v: r.seed_runs(runs, f"test.runs.{v}") for v, runs in
                                 r.mapping(test.get("runs", {}), "test.runs").items()})
    if "selection" in raw:
        sel = r.mapping(raw["selection"], "selection")
        summary.selection_metric = sel.get("metric")
        summary.selection_split = str(sel.get("split", "val"))
        summary.chosen_alpha = r.number(sel.get("chosen_alpha"), "selection.chosen_alpha",
                                        optional=True)
        summary.selected_alpha = r.number(sel.get("test_alpha"), "selection.test_alpha",
                                          optional=True)
        runs = r.mapping(sel.get("runs", {}), "selection.runs")
        for a, seeds in runs.items():
            try:
                alpha = float(a)
            except ValueError:
                raise r.fail(f"selection.runs.{a}", "expected an alpha as the key") from None
            summary.selection_runs[alpha] = r.seed_runs(seeds, f"selection.runs.{a}")
        for a, options in r.options(sel.get("options", {}), "selection.options").items():
            try:
                summary.selection_options[float(a)] = options
            except ValueError:
                raise r.fail(f"selection.options.{a}", "expected an alpha as the key") from None
    if "curves" in raw:
        curves = r.mapping(raw["curves"], "curves")
        every = curves.get("every")
        if every is not None and (isinstance(every, bool) or not isinstance(every, int)
                                  or every < 1):
            raise r.fail("curves.every", f"expected a positive integer, got {every!r}")
        summary.curve_every = every
        summary.curve_split = str(curves.get("split", "test"))
        summary.curve_alpha = r.number(curves.get("alpha"), "curves.alpha", optional=True)
        summary.curve_options = r.options(curves.get("options", {}), "curves.options")
        for v, seeds in r.mapping(curves.get("runs", {}), "curves.runs").items():
            out = summary.curve_runs.setdefault(v, {})
            for seed, columns in r.mapping(seeds, f"curves.runs.{v}").items():
                if not str(seed).isdigit():
                    raise r.fail(f"curves.runs.{v}.{seed}", "expected a seed (an integer) as "
                                                            "the key")
                out[int(seed)] = r.curve(columns, f"curves.runs.{v}.{seed}")
    return summary


def write_summary(path: str | Path, summary: Summary) -> Path:
    """Write ``summary`` (through a temporary name, then renamed)."""
    from .runs import write_json

    return write_json(path, summary.to_json())
