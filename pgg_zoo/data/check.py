"""Check a data set before training: build a task on it, open every split, report counts.

:func:`check_data` builds the task through the public API (``pgg_zoo.build``), opens each split
the task trains and evaluates on (``train``, ``test``, and ``val`` where the data has its own)
with ``task.dataset(split)``, validates what the readers can validate without decoding
everything, loads the first item of each split, and returns a :class:`DataSummary`. A bad file
raises the reader's own error (one line naming the file, and the line for text files).

What is counted comes from the dataset objects; each part is optional (duck-typed), so a
plugin's reader gets as much of the report as it exposes:

* ``len(dataset)``: the items (images, key frames, videos);
* ``labels``: one class id per item (image and video classification); the per-class counts
  are then items per class;
* ``class_instances(indices=None) -> (unit, class ids)``: for data whose items hold several
  labelled instances (action tubes, persons): the class of each instance, and what an instance
  is ("tubes"); the per-class counts are then instances per class;
* ``num_classes`` (or ``classes`` / ``class_names``): the classes the data declares;
* ``annotation_counts(indices=None) -> {name: count}``: localization annotations ("boxes",
  "masks", "videos", "tubes", ...);
* ``validate()``: a check of every file of the split that decodes nothing (headers, file ends,
  folders); skipped when the reader's ``validated`` attribute says it already ran.

``indices`` restricts the counts to those items: a validation split carved from the training
split is a :class:`torch.utils.data.Subset` of it.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from os import PathLike
from typing import Any, Mapping, Sequence

from torch.utils.data import Dataset

from .labels import item_labels, unwrap_subset

__all__ = ["SplitSummary", "DataSummary", "summarize_dataset", "check_data", "task_splits"]


@dataclass(frozen=True)
class SplitSummary:
    """Counts of one split.

    Attributes:
        split: ``"train"``, ``"val"`` or ``"test"``.
        items: number of items (what one training or evaluation sample is).
        num_classes: classes the data declares (None when the reader does not say).
        class_counts: class id -> number of items (or instances) of that class, for the
            classes present in the split.
        class_unit: what ``class_counts`` counts: ``"items"`` or an instance unit ("tubes").
        annotations: localization annotations by kind, e.g. ``{"boxes": 12}``.
    """

    split: str
    items: int
    num_classes: int | None = None
    class_counts: Mapping[int, int] = field(default_factory=dict)
    class_unit: str = "items"
    annotations: Mapping[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        """One line: ``train: 5994 items; 200 classes (items per class: min 29, max 30); ...``."""
        parts = [_count(self.items, "items")]
        if self.class_counts:
            present = len(self.class_counts)
            of = (f" of {self.num_classes}" if self.num_classes is not None
                  and self.num_classes != present else "")
            counts = self.class_counts.values()
            parts.append(f"{present}{of} classes ({self.class_unit} per class: min {min(counts)}, "
                         f"max {max(counts)})")
        elif self.num_classes is not None:
            parts.append(f"{self.num_classes} classes")
        parts += [_count(n, kind) for kind, n in self.annotations.items()]
        return f"{self.split}: " + "; ".join(parts)


def _count(n: int, plural: str) -> str:
    """``"1 box"``, ``"2 boxes"``: ``plural`` in the singular when ``n`` is 1."""
    if n != 1:
        return f"{n} {plural}"
    for end, single in (("ies", "y"), ("xes", "x"), ("s", "")):
        if plural.endswith(end):
            return f"1 {plural[:-len(end)]}{single}"
    return f"1 {plural}"


@dataclass(frozen=True)
class DataSummary:
    """What :func:`check_data` found: the task, the data it read and one summary per split.

    Attributes:
        absent: splits the task knows that this data does not have, with the reason (a
            classification folder without a validation split).
        options: the task options the data was built with (besides ``data_root``).
    """

    task: str
    data_root: str | None
    splits: tuple[SplitSummary, ...]
    absent: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)

    def split(self, name: str) -> SplitSummary:
        """The summary of split ``name`` (KeyError when it was not checked)."""
        for s in self.splits:
            if s.split == name:
                return s
        raise KeyError(name)

    def lines(self) -> list[str]:
        """The report, one line per split (what ``pgg-zoo check-data`` prints before OK)."""
        given = ([f"data_root={self.data_root}"] if self.data_root is not None else []) + \
            [f"{k}={v}" for k, v in self.options.items()]
        out = [f"{self.task} data: {', '.join(given) or 'the embedded benchmark'}"]
        out += ["  " + s.describe() for s in self.splits]
        out += [f"  {name}: none in this data ({why})" for name, why in self.absent.items()]
        return out


def _num_classes(ds: Any) -> int | None:
    n = getattr(ds, "num_classes", None)
    if callable(n):
        n = n()
    if isinstance(n, int):
        return n
    for attr in ("classes", "class_names"):
        names = getattr(ds, attr, None)
        if isinstance(names, Sequence) and not isinstance(names, str):
            return len(names)
    return None


def summarize_dataset(ds: Dataset, split: str) -> SplitSummary:
    """Counts of ``ds`` (any dataset; see the module docstring for what is read).

    Runs the reader's ``validate()`` when it has one and loads the first item, so that a file
    that cannot be read is reported now, naming the file, rather than during training.
    """
    base, indices = unwrap_subset(ds)
    if callable(getattr(base, "validate", None)) and not getattr(base, "validated", False):
        base.validate()
    n = len(ds)
    if n:
        ds[0]  # the first item decodes: frame templates, image modes, clip lengths are right
    unit = "items"
    counts: Counter[int] = Counter()
    instances = getattr(base, "class_instances", None)
    if callable(instances):
        unit, ids = instances(indices)
        counts.update(int(c) for c in ids)
    else:
        labels = item_labels(base, len(base))
        if labels is not None:
            counts.update(labels if indices is None else (labels[i] for i in indices))
    annotation_counts = getattr(base, "annotation_counts", None)
    annotations = dict(annotation_counts(indices)) if callable(annotation_counts) else {}
    return SplitSummary(split, n, _num_classes(base), dict(sorted(counts.items())), unit,
                        annotations)


def task_splits(task: Any) -> tuple[str, ...]:
    """The splits a built task reads: ``train`` and ``test``, with ``val`` first in between
    when the data has a validation split of its own (``task.native_val``)."""
    return ("train", "val", "test") if getattr(task, "native_val", False) else ("train", "test")


def _split_absent(exc: Exception) -> bool:
    """Whether opening a native ``val`` split failed because the data has none (its folder
    is missing, or the reader refuses the split name), not because a file is broken."""
    from ..task import ConfigError
    from .errors import MissingFileError

    if isinstance(exc, MissingFileError):
        return exc.referenced_from is None and not exc.file.suffix  # a split folder, not a file
    # Readers refuse a split name with a plain ValueError; bad files raise subclasses of it.
    return type(exc) in (ValueError, ConfigError)


def check_data(task: str, data_root: str | PathLike[str] | None = None,
               **options: Any) -> DataSummary:
    """Build ``task`` on ``data_root`` with ``options`` and summarize each of its splits.

    Args:
        task: a registered task name (``pgg-zoo list``).
        data_root: the data folder; None checks the task's embedded benchmark.
        options: task options that select or describe the layout, e.g.
            ``data_format="wsoleval", metadata_root=...`` for WSOL.

    Returns:
        The :class:`DataSummary`.

    Raises:
        The readers' errors for bad input, each naming the file (``DatasetFormatError`` and
        ``MissingFileError`` of :mod:`pgg_zoo.data.errors`, the plugins' own ``ValueError``
        subclasses), and ``ConfigError`` for options the task refuses.
    """
    from ..task import build

    if data_root is not None:
        options = {**options, "data_root": str(data_root)}
    built = build(task, **options)
    summaries, absent = [], {}
    for split in task_splits(built):
        try:
            ds = built.dataset(split)
        except Exception as exc:  # noqa: BLE001 - re-raised unless it says the split is absent
            if split == "val" and _split_absent(exc):
                absent[split] = str(exc)
                continue
            raise
        summaries.append(summarize_dataset(ds, split))
    others = {k: v for k, v in options.items() if k != "data_root"}
    root = options.get("data_root")
    return DataSummary(task, None if root is None else str(root), tuple(summaries), absent,
                       others)
