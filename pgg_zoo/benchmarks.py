"""Embedded benchmarks as named, registered specifications.

A benchmark is a fixed design (a :class:`BenchmarkSpec`: its name, the task that reads it, and
what its generator needs) plus a generator hook (:meth:`BenchmarkSpec.ensure`) that writes it
on first use. Task plugins register their benchmarks with :func:`register_benchmark` from their
``pgg_zoo.plugins`` entry point, the same public call a third party uses; a task's
``benchmark`` option accepts every name registered for that task::

    import pgg_zoo
    v2 = pgg_zoo.get_benchmark("wsol-finegrained-v2")
    pgg_zoo.register_benchmark(v2.variant("my-flat-birds", texture_amplitude=0, noise_sigma=0.0))
    pgg_zoo.build("wsol", benchmark="my-flat-birds")

A registered name is never redefined: registering another spec under a taken name raises
:class:`~pgg_zoo.registry.DuplicateNameError` (registering an equal spec again is a no-op), and
nothing removes a name. So a released name (every name the built-in plugins register) always
means the design that was released under it, and its folder ``$PGG_ZOO_HOME/benchmarks/<name>``
holds that design; a spec that is not the one registered under its name is written to
``<name>-<hash of its design>`` instead.
"""
from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, Optional, TypeVar

from .registry import DuplicateNameError, RegistryError, UnknownNameError, load_plugins

__all__ = ["BenchmarkSpec", "ParamsSpec", "register_benchmark", "get_benchmark",
           "benchmark_names", "list_benchmarks", "benchmark_option"]

S = TypeVar("S", bound="BenchmarkSpec")

#: Fields of every spec that name it rather than determine its content.
_IDENTITY = ("name", "task")


@dataclass(frozen=True, kw_only=True)
class BenchmarkSpec:
    """Base of every embedded benchmark's specification.

    Subclasses are frozen dataclasses whose fields (besides ``name`` and ``task``) fix the
    content, and implement :meth:`ensure`, the generator hook.

    Attributes:
        name: the registered name, what a task's ``benchmark`` option takes (versioned:
            ``wsol-shapes-v2``).
        task: the task that reads it.
    """

    name: str
    task: str

    def ensure(self, root: Optional[str | Path] = None) -> Path:
        """The benchmark's folder, generated on first use (and when its manifest records
        another design). ``root`` defaults to ``$PGG_ZOO_HOME/benchmarks/<folder_name()>``."""
        raise NotImplementedError(f"{type(self).__name__} has no generator (ensure)")

    def design(self) -> dict[str, Any]:
        """JSON-serializable description of everything that determines the content (the
        fields other than ``name`` and ``task``)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in _IDENTITY}

    def variant(self: S, name: str, **changes: Any) -> S:
        """A copy under the new ``name`` with some design values changed (field names of the
        spec); register it with :func:`register_benchmark` to use it by name."""
        unknown = sorted(set(changes) - set(self.design()))
        if unknown:
            raise ValueError(f"benchmark {self.name!r} has no design value(s) {unknown}; "
                             f"choose from {sorted(self.design())}")
        return dataclasses.replace(self, name=name, **changes)

    def folder_name(self) -> str:
        """``name`` when this spec is the one registered under its name, else
        ``<name>-<hash of the design>`` (so an unregistered variant never overwrites the
        folder of a registered benchmark)."""
        with _LOCK:
            registered = _SPECS.get(self.name)
        if registered is None:
            load_plugins()
            with _LOCK:
                registered = _SPECS.get(self.name)
        if registered == self:
            return self.name
        digest = hashlib.sha1(json.dumps(self.design(), sort_keys=True, default=str).encode())
        return f"{self.name}-{digest.hexdigest()[:8]}"

    def default_root(self) -> Path:
        """``$PGG_ZOO_HOME/benchmarks/<folder_name()>``."""
        from .data.generated import benchmark_home

        return benchmark_home() / self.folder_name()


@dataclass(frozen=True, kw_only=True)
class ParamsSpec(BenchmarkSpec):
    """A spec whose design is a table of values (``params``, JSON-serializable), as the image
    benchmarks record it in their manifest. ``design()`` is ``params`` with ``name`` set to
    the spec's name. ``params`` is copied and read-only."""

    params: Mapping[str, Any]

    def __post_init__(self) -> None:
        copied = json.loads(json.dumps(dict(self.params)))  # a private copy, JSON-clean
        copied.pop("name", None)
        object.__setattr__(self, "params", MappingProxyType(copied))

    def design(self) -> dict[str, Any]:
        """``{"name": name, **params}`` (a fresh dict), what the generator and the manifest
        read."""
        return {"name": self.name, **json.loads(json.dumps(dict(self.params)))}

    def variant(self: S, name: str, **changes: Any) -> S:
        """A copy under ``name`` with some values of ``params`` changed (keys must exist)."""
        params = self.params  # type: ignore[attr-defined]
        unknown = sorted(set(changes) - set(params))
        if unknown:
            raise ValueError(f"benchmark {self.name!r} has no design value(s) {unknown}; "
                             f"choose from {sorted(params)}")
        return dataclasses.replace(self, name=name,  # type: ignore[call-arg]
                                   params={**params, **changes})

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        rest = [f.name for f in dataclasses.fields(self) if f.name != "params"]
        return self.design() == other.design() and all(  # type: ignore[attr-defined]
            getattr(self, k) == getattr(other, k) for k in rest)


_SPECS: dict[str, BenchmarkSpec] = {}
_LOCK = threading.Lock()


def register_benchmark(spec: S) -> S:
    """Register ``spec`` under ``spec.name`` and return it.

    Registering a spec equal to the one already registered under that name does nothing;
    any other spec under a taken name raises.

    Raises:
        RegistryError: ``spec`` is not a :class:`BenchmarkSpec`, or its name or task is not a
            non-empty string.
        DuplicateNameError: the name is registered with another design (released names are
            never redefined: register the variant under a new name).
    """
    if not isinstance(spec, BenchmarkSpec):
        raise RegistryError(f"register_benchmark takes a BenchmarkSpec, got "
                            f"{type(spec).__name__}")
    # the released names first: a spec registered before the plugins load must not take a
    # name a built-in plugin releases (within a plugin's own loading this returns at once)
    load_plugins()
    for key in _IDENTITY:
        value = getattr(spec, key)
        if not isinstance(value, str) or not value:
            raise RegistryError(f"benchmark {key} must be a non-empty string, got {value!r}")
    with _LOCK:
        old = _SPECS.get(spec.name)
        if old is None:
            _SPECS[spec.name] = spec
            return spec
    if old == spec:
        return spec
    raise DuplicateNameError(
        f"benchmark {spec.name!r} is already registered ({old.task}, "
        f"{type(old).__name__}) with another design; a registered benchmark is never "
        f"redefined: register the variant under a new name (spec.variant('<new name>', ...))")


def benchmark_names(task: str | None = None) -> list[str]:
    """Sorted registered benchmark names (of ``task`` only, when given); plugins are loaded
    first."""
    load_plugins()
    with _LOCK:
        return sorted(n for n, s in _SPECS.items() if task is None or s.task == task)


def get_benchmark(name: str, task: str | None = None) -> BenchmarkSpec:
    """The spec registered as ``name`` (for ``task``, when given).

    Raises:
        UnknownNameError: no such benchmark (for that task); the message lists the names and
            the closest one.
    """
    names = benchmark_names(task)
    with _LOCK:
        spec = _SPECS.get(name) if isinstance(name, str) else None
    if spec is None or (task is not None and spec.task != task):
        close = difflib.get_close_matches(str(name), names, n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        what = f"{task} benchmark" if task else "benchmark"
        raise UnknownNameError(f"unknown {what} {name!r}.{hint} Available: "
                               f"{', '.join(names) or '(none registered)'}")
    return spec


def list_benchmarks(task: str | None = None) -> list[BenchmarkSpec]:
    """Every registered spec (of ``task``, when given), sorted by name."""
    return [get_benchmark(n) for n in benchmark_names(task)]


def benchmark_option(name: str, task: str, kinds: tuple[type, ...]) -> BenchmarkSpec:
    """The spec a task's ``benchmark`` option names: registered for ``task`` and an instance of
    one of ``kinds`` (the spec classes the task can read).

    Raises:
        ConfigError: naming the option, the name and what is available.
    """
    from .config import ConfigError

    try:
        spec = get_benchmark(name, task=task)
    except UnknownNameError as exc:
        raise ConfigError(f"option benchmark: {exc}") from None
    if not isinstance(spec, kinds):
        raise ConfigError(f"option benchmark: {name!r} is a {type(spec).__name__}; the {task} "
                          f"task reads {' and '.join(k.__name__ for k in kinds)} benchmarks")
    return spec
