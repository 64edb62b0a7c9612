"""How configuration values are declared and checked: one mechanism for every typed options
object (the run options of :class:`~pgg_zoo.config.run.RunConfig`, the fields of a model
card, a study file).

An option is a dataclass field made with :func:`option`: its kind (``int``, ``float``,
``bool``, ``choice``, ``path``, ``str``, ...), bounds, choices and one line of documentation sit
in the field's metadata, beside its default. :func:`check_option` checks and normalizes one
raw value against that declaration and :func:`checked_values` a whole mapping, so every error
has the same form: ``[<file>: ]option <name>: <what is wrong>``.

This module imports nothing heavy: the task layer and the command line validate cheaply.
"""
from __future__ import annotations

import dataclasses
import difflib
from dataclasses import field
from pathlib import Path
from typing import Any, Callable, Mapping


class ConfigError(ValueError):
    """An unknown or invalid configuration key (of a task, of a run, or in a config file)."""


#: Custom kinds: ``kind -> (key, raw) -> value`` (raising :class:`ConfigError`), for options
#: whose rule is more than a type and bounds (a checkpoint interval, a mapping of factors).
KIND_CHECKS: dict[str, Callable[[str, Any], Any]] = {}
#: Kinds for which ``null`` means the field's default rather than an error.
NULL_IS_DEFAULT = {"choice", "resume"}


#: The ``default`` of an :func:`option` that has none (a required field).
REQUIRED: Any = dataclasses.MISSING


def option(default: Any, kind: str, *, low: float | None = None, strict: bool = False,
           high: float | None = None, choices: tuple[Any, ...] | None = None,
           optional: bool = False, doc: str = "") -> Any:
    """A dataclass field with its checking rule in ``metadata`` (the type, the bounds and the
    documentation of an option live in one place).

    ``kind``: ``int``, ``float``, ``bool``, ``str``, ``choice`` (one of ``choices``),
    ``path`` (text or ``Path``, stored as text), or a name of :data:`KIND_CHECKS`.
    ``optional``: ``None`` is a valid value. ``default``: :data:`REQUIRED` for a field that
    must be given.
    """
    meta = dict(kind=kind, low=low, strict=strict, high=high, choices=choices,
                optional=optional, doc=doc)
    if default is REQUIRED:
        return field(metadata=meta)
    if isinstance(default, (dict, list)):  # a mutable default: one fresh copy per instance
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def where(source: str | Path | None) -> str:
    """The ``"<file>: "`` prefix of an error message (empty without a file)."""
    return f"{source}: " if source is not None else ""


def unknown_options_message(unknown: list[str], known: tuple[str, ...] | list[str],
                            kind: str) -> str:
    """``unknown run option 'epoch' (did you mean 'epochs'?); known: ...``."""
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
        hints.append(f"{key!r} (did you mean {close[0]!r}?)" if close else repr(key))
    s = "s" if len(unknown) > 1 else ""
    return f"unknown {kind} option{s} {', '.join(hints)}; known: {', '.join(sorted(known))}"


def _number(key: str, raw: Any, integer: bool) -> int | float:
    want = "an integer" if integer else "a number"
    value: Any = raw
    if isinstance(raw, str):
        try:
            value = float(raw.strip())
        except ValueError:
            value = None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value \
            or value in (float("inf"), float("-inf")):
        raise ConfigError(f"option {key}: expected {want}, got {raw!r}")
    if integer:
        if float(value) != int(value):
            raise ConfigError(f"option {key}: expected {want}, got {raw!r}")
        return int(value)
    return float(value) if isinstance(raw, str) else value


def check_number(key: str, raw: Any, *, integer: bool, low: float | None = None,
                 strict: bool = False, high: float | None = None) -> int | float:
    """``raw`` as a number within bounds, or :class:`ConfigError` naming ``key``
    (``option lr: must be > 0, got 0.0``)."""
    value = _number(key, raw, integer)
    if low is not None and not (value > low if strict else value >= low):
        raise ConfigError(f"option {key}: must be {'>' if strict else '>='} {low:g}, got {raw!r}")
    if high is not None and value > high:
        raise ConfigError(f"option {key}: must be <= {high:g}, got {raw!r}")
    return value


def check_option(f: dataclasses.Field, raw: Any, *, key: str | None = None,
                 source: str | Path | None = None) -> Any:
    """The checked, normalized value of the option declared by field ``f``.

    Raises:
        ConfigError: ``[<source>: ]option <key>: <what is wrong>``.
    """
    key = key or f.name
    m = f.metadata
    try:
        if raw is None:
            if m["optional"]:
                return None
            if m["kind"] in NULL_IS_DEFAULT:
                # null has always meant "the default" for these (launcher, on_error, ...)
                return f.default
            raise ConfigError(f"option {key}: must not be null")
        kind = m["kind"]
        if kind in ("int", "float"):
            return check_number(key, raw, integer=kind == "int", low=m["low"],
                                strict=m["strict"], high=m["high"])
        if kind == "bool":
            if not isinstance(raw, bool):
                raise ConfigError(f"option {key}: expected true or false, got {raw!r}")
            return raw
        if kind == "str":
            if not isinstance(raw, str):
                raise ConfigError(f"option {key}: expected text, got {raw!r}")
            return raw
        if kind == "choice":
            value = raw.lower() if isinstance(raw, str) and key == "optimizer" else raw
            if value not in m["choices"]:
                shown = ", ".join(str(c) for c in m["choices"] if c is not None)
                raise ConfigError(f"option {key}: expected one of {shown}, got {raw!r}")
            return value
        if kind == "path":
            if not isinstance(raw, (str, Path)):
                raise ConfigError(f"option {key}: expected a path, got {raw!r}")
            try:  # a name the file system gave as undecodable bytes cannot be recorded
                str(raw).encode("utf-8")
            except UnicodeEncodeError:
                raise ConfigError(f"option {key}: the path {raw!r} is not valid UTF-8; rename "
                                  "the folder or give a UTF-8 path") from None
            return str(raw)
        if kind in KIND_CHECKS:
            return KIND_CHECKS[kind](key, raw)
        raise AssertionError(kind)  # pragma: no cover - a field with an unknown kind
    except ConfigError as exc:
        if source is None:
            raise
        raise ConfigError(where(source) + str(exc)) from None


def option_fields(cls: type) -> dict[str, dataclasses.Field]:
    """``name -> field`` of the options a dataclass declares with :func:`option`."""
    return {f.name: f for f in dataclasses.fields(cls) if "kind" in f.metadata}


def checked_values(cls: type, values: Mapping[str, Any], *, kind: str,
                   source: str | Path | None = None,
                   allow_unknown: bool = False) -> dict[str, Any]:
    """The values of ``values`` checked against the options ``cls`` declares.

    Raises:
        ConfigError: an unknown key (unless ``allow_unknown``: then dropped), naming the
            closest known one, or a bad value; ``kind`` names the options in the message
            (``unknown run option 'epoch' (did you mean 'epochs'?)``).
    """
    fields = option_fields(cls)
    unknown = sorted(set(values) - set(fields))
    if unknown and not allow_unknown:
        raise ConfigError(where(source) + unknown_options_message(unknown, list(fields), kind))
    return {k: check_option(fields[k], values[k], source=source)
            for k in fields if k in values}


def option_problems(obj: Any, prefix: str = "") -> list[str]:
    """Every option of the dataclass instance ``obj`` whose value breaks its declaration, as
    ``option <prefix><name>: <what is wrong>`` (empty when all hold). Values are checked as
    they are: a number written as text is a problem here (a file that holds the instance was
    read as YAML, where numbers are numbers).
    """
    out = []
    for name, f in option_fields(type(obj)).items():
        raw = getattr(obj, name)
        key = prefix + name
        kind = f.metadata["kind"]
        if raw is None and not f.metadata["optional"]:
            out.append(f"option {key}: must not be null")
            continue
        if isinstance(raw, str) and kind in ("int", "float"):
            want = "an integer" if kind == "int" else "a number"
            out.append(f"option {key}: expected {want}, got {raw!r}")
            continue
        try:
            check_option(f, raw, key=key)
        except ConfigError as exc:
            out.append(str(exc))
    return out


def option_docs(cls: type) -> dict[str, tuple[Any, str]]:
    """``name -> (default, description)`` of every option of ``cls`` (docs, ``--help``)."""
    defaults = cls()
    return {name: (getattr(defaults, name), f.metadata["doc"])
            for name, f in option_fields(cls).items()}
