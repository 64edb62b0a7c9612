"""The corrupted-sample policy shared by every task: ``on_error="raise" | "skip"``.

The engine wraps each dataset it loads in :class:`SafeDataset` (config key ``on_error``), so a
task gets the policy without writing any code:

* ``"raise"`` (default): the first bad item stops the run with its own exception; a note naming
  the dataset index is added to it (the dataset's message usually names the file).
* ``"skip"``: the failure is reported (a :class:`BadSampleWarning` and a record in
  :attr:`SafeDataset.bad_samples`) and the next item (wrapping around) is returned instead, so
  one unreadable file never ends an epoch *silently* and never ends it at all. Too many
  consecutive failures mean a wrong root rather than a bad file and raise ``RuntimeError``.

Datasets with their own policy (the STAD readers' ``SkipPolicy``) keep it: under ``"skip"`` they
recover by themselves and the wrapper never sees an error; under ``"raise"`` both raise.

With ``DataLoader`` workers each worker holds its own copy of the wrapper, so
:attr:`SafeDataset.bad_samples` in the main process only lists items loaded there; the warnings
(forwarded to the console by each worker) are the cross-process report.
"""
from __future__ import annotations

import warnings
from typing import Any

from torch.utils.data import Dataset

ON_ERROR_CHOICES = ("raise", "skip")


class BadSampleWarning(UserWarning):
    """An item could not be loaded and was replaced under ``on_error="skip"``."""


class SafeDataset(Dataset):
    """Wrap ``dataset`` so that per-item exceptions follow the ``on_error`` policy.

    Args:
        dataset: any map-style dataset.
        on_error: ``"raise"`` or ``"skip"`` (see the module docstring).
        max_consecutive: under ``"skip"``, how many items in a row may fail before giving up.

    Attributes:
        bad_samples: one dict per skipped item: ``index``, ``error`` (type and message) and
            ``path`` when the exception carries one (``filename`` or ``path`` attribute).
    """

    def __init__(self, dataset: Dataset, on_error: str = "raise", max_consecutive: int = 50) -> None:
        check_on_error(on_error)
        if max_consecutive < 1:
            raise ValueError(f"max_consecutive must be >= 1, got {max_consecutive}")
        self.dataset = dataset
        self.on_error = on_error
        self.max_consecutive = int(max_consecutive)
        self.bad_samples: list[dict[str, Any]] = []
        self._bad: set[int] = set()

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> Any:
        # Readers expose useful attributes (num_classes, metainfo, bad_samples of their own);
        # the wrapper must not hide them. Only called when normal lookup fails.
        if name == "dataset":  # not yet set (unpickling): avoid infinite recursion
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __getitem__(self, index: int) -> Any:
        if self.on_error == "raise":
            try:
                return self.dataset[index]
            except Exception as exc:
                exc.add_note(f"(while loading item {index} of {type(self.dataset).__name__}; "
                             "set on_error='skip' to skip and report bad items)")
                raise
        n = len(self)
        tries = min(n, self.max_consecutive)
        i = int(index)
        last: BaseException | None = None
        for _ in range(tries):
            if i not in self._bad:  # a known-bad item is not decoded again
                try:
                    return self.dataset[i]
                except Exception as exc:  # noqa: BLE001 - the policy is about any failure
                    last = exc
                    self._bad.add(i)
                    path = getattr(exc, "path", None) or getattr(exc, "filename", None)
                    self.bad_samples.append({"index": i, "path": None if path is None else str(path),
                                             "error": f"{type(exc).__name__}: {exc}"})
                    warnings.warn(f"skipping bad item {i} of {type(self.dataset).__name__}: "
                                  f"{type(exc).__name__}: {exc}", BadSampleWarning, stacklevel=2)
            i = (i + 1) % n
        raise RuntimeError(
            f"{tries} consecutive items failed to load from index {index} of "
            f"{type(self.dataset).__name__} (a wrong data root?); last error: {last!r}"
        ) from last


def check_on_error(on_error: Any) -> str:
    """Return ``on_error`` if it is a valid policy, else raise ``ValueError``."""
    if on_error not in ON_ERROR_CHOICES:
        raise ValueError(f"on_error must be one of {ON_ERROR_CHOICES}, got {on_error!r}")
    return on_error


def apply_on_error(dataset: Dataset, on_error: str | None) -> Dataset:
    """``dataset`` wrapped in :class:`SafeDataset` (``None`` means ``"raise"``)."""
    return SafeDataset(dataset, on_error or "raise")
