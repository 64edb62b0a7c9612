"""Checking a section of a study file (a mapping) against a dataclass of options: the shared
step of :mod:`.schema` and :mod:`.criteria`, on :mod:`pgg_zoo.config.checks`."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from ..config.checks import (ConfigError, check_option, option_fields, unknown_options_message,
                             where)

__all__ = ["section", "fail"]


def fail(source: Path | str | None, key: str, what: str) -> ConfigError:
    """``<file>: option <key>: <what>``."""
    return ConfigError(f"{where(source)}option {key}: {what}")


def section(cls: type, raw: Any, path: str, source: Path | str | None, *,
            required: tuple[str, ...] = (), skip: tuple[str, ...] = ()) -> Any:
    """``raw`` checked against the options ``cls`` declares, as an instance of ``cls``.

    ``path`` names the section in messages (``selection``, ``claims[0]``; empty for the top
    level); ``required`` keys must be given and not empty; ``skip`` fields are not keys of the
    file.

    Raises:
        ConfigError: ``<file>: option <path>.<key>: ...``, or an unknown key naming the closest
            known one.
    """
    prefix = f"{path}." if path else ""
    if not isinstance(raw, Mapping):
        raise fail(source, path or "study", f"expected a mapping, got {raw!r}")
    fields = {k: f for k, f in option_fields(cls).items() if k not in skip}
    unknown = sorted(str(k) for k in raw if k not in fields)
    if unknown:
        raise ConfigError(where(source) + unknown_options_message(
            [prefix + k for k in unknown], [prefix + k for k in fields], "study file"))
    for key in required:
        if raw.get(key) in (None, "", [], {}):
            raise fail(source, prefix + key, f"missing ({fields[key].metadata['doc']})")
    values = {k: check_option(fields[k], raw[k], key=prefix + k, source=source)
              for k in fields if k in raw}
    return cls(**values)
