"""Named registries and plugin discovery.

Each registry is a thin layer over :class:`mmengine.registry.Registry`. mmengine keeps the
objects, so anything registered here can also be built from an mmengine config dict
(``dict(type="name", ...)``) by the Runner. The layer adds what mmengine lacks and users ask for:

* an unknown name raises :class:`UnknownNameError` listing what is available and the closest
  name, instead of mmengine's ``None`` / "not in the registry";
* registering a name twice raises unless ``replace=True`` is passed explicitly;
* no scope inference from the caller's stack frame and no ``DefaultScope`` singleton: every
  registry has the fixed scope ``pgg_zoo``;
* plugins (built-in and third-party alike) are found through the entry-point group
  ``pgg_zoo.plugins`` and loaded lazily, on the first lookup, never at import time.
"""
from __future__ import annotations

import difflib
import threading
import warnings
from importlib import metadata
from typing import Any, Callable, Iterator, TypeVar

from mmengine.registry import Registry as _MMRegistry

ENTRY_POINT_GROUP = "pgg_zoo.plugins"

T = TypeVar("T")


class RegistryError(Exception):
    """Base class of registry errors."""


class UnknownNameError(RegistryError, KeyError):
    """A name was looked up that is not registered."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])


class DuplicateNameError(RegistryError, ValueError):
    """A name was registered twice without ``replace=True``."""


class Registry:
    """A named mapping from string names to builders (classes or functions).

    Args:
        kind: what the registry holds ("task", "synthesizer", ...), used in messages.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._mm = _MMRegistry(f"pgg_zoo.{kind}", scope="pgg_zoo")
        self._meta: dict[str, dict[str, Any]] = {}
        self._aliases: dict[str, str] = {}

    # -- registration -------------------------------------------------------------------
    def register(
        self, name: str | None = None, *, replace: bool = False, **meta: Any
    ) -> Callable[[T], T]:
        """Decorator registering a class or function under ``name`` (default: its ``__name__``).

        ``meta`` is free-form metadata kept beside the entry (for example ``task="wsol"`` for
        a backbone), queried by :meth:`names`.
        """

        def deco(obj: T) -> T:
            self.add(name or obj.__name__, obj, replace=replace, **meta)  # type: ignore[attr-defined]
            return obj

        return deco

    def add(self, name: str, obj: Any, *, replace: bool = False,
            aliases: tuple[str, ...] | list[str] = (), **meta: Any) -> None:
        """Register ``obj`` under ``name``; raise :class:`DuplicateNameError` if taken.

        ``aliases`` are other names users may write for the same entry (``"slowfast"`` for
        ``"slowfast_r50"``): :meth:`get` and ``in`` accept them, :meth:`canonical` maps them
        back, and :meth:`names` lists only the canonical name.
        """
        if not isinstance(name, str) or not name:
            raise RegistryError(f"{self.kind} names must be non-empty strings, got {name!r}")
        if name in self._aliases and not replace:
            raise DuplicateNameError(
                f"{self.kind} {name!r} is already an alias of {self._aliases[name]!r}; "
                f"pass replace=True to replace it")
        if name in self._mm.module_dict and not replace:
            old = self._mm.module_dict[name]
            raise DuplicateNameError(
                f"{self.kind} {name!r} is already registered (by {_qualname(old)}); "
                f"pass replace=True to replace it"
            )
        for alias in aliases:
            if not isinstance(alias, str) or not alias or alias == name:
                raise RegistryError(f"bad alias {alias!r} for {self.kind} {name!r}")
            taken = self._aliases.get(alias, alias if alias in self._mm.module_dict else None)
            if taken is not None and taken != name and not replace:
                raise DuplicateNameError(
                    f"alias {alias!r} for {self.kind} {name!r} is already taken by {taken!r}; "
                    f"pass replace=True to replace it")
        self._aliases.pop(name, None)
        self._mm.register_module(name=name, module=obj, force=True)
        self._meta[name] = dict(meta)
        for alias in aliases:
            self._aliases[alias] = name

    def remove(self, name: str) -> None:
        """Unregister ``name`` (used by tests and by plugins that replace a built-in)."""
        name = self.canonical(name)
        del self._mm.module_dict[name]
        self._meta.pop(name, None)
        for alias in [a for a, n in self._aliases.items() if n == name]:
            del self._aliases[alias]

    # -- lookup -------------------------------------------------------------------------
    def get(self, name: str) -> Any:
        """Return the object registered under ``name``.

        Raises:
            UnknownNameError: with the available names and the closest match.
        """
        return self._mm.module_dict[self.canonical(name)]

    def canonical(self, name: str) -> str:
        """The registered name of ``name`` (itself, or what the alias ``name`` stands for).

        Raises:
            UnknownNameError: with the available names and the closest match.
        """
        load_plugins()
        try:
            if name in self._mm.module_dict:
                return name
            return self._aliases[name]
        except (KeyError, TypeError):
            raise UnknownNameError(self._unknown_message(name)) from None

    def aliases(self, name: str) -> list[str]:
        """Sorted aliases registered for ``name``."""
        name = self.canonical(name)
        return sorted(a for a, n in self._aliases.items() if n == name)

    def build(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call the builder registered under ``name`` with the given arguments."""
        return self.get(name)(*args, **kwargs)

    def names(self, **meta: Any) -> list[str]:
        """Sorted registered names, optionally only those whose metadata matches ``meta``."""
        load_plugins()
        out = []
        for n in self._mm.module_dict:
            m = self._meta.get(n, {})
            if all(m.get(k) == v for k, v in meta.items()):
                out.append(n)
        return sorted(out)

    def meta(self, name: str) -> dict[str, Any]:
        """Metadata given when ``name`` (or an alias of it) was registered."""
        return dict(self._meta.get(self.canonical(name), {}))

    def __contains__(self, name: object) -> bool:
        load_plugins()
        try:
            return name in self._mm.module_dict or name in self._aliases
        except TypeError:  # unhashable
            return False

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    @property
    def mmengine_registry(self) -> _MMRegistry:
        """The underlying mmengine registry, for ``dict(type=...)`` configs."""
        load_plugins()
        return self._mm

    def _unknown_message(self, name: str) -> str:
        available = sorted(self._mm.module_dict)
        msg = f"unknown {self.kind} {name!r}."
        close = difflib.get_close_matches(str(name), available, n=1, cutoff=0.5)
        if close:
            msg += f" Did you mean {close[0]!r}?"
        msg += f" Available: {', '.join(available) if available else '(none registered)'}"
        if _failed_plugins:
            msg += ". Note: " + "; ".join(_failed_plugins.values())
        return msg

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {sorted(self._mm.module_dict)})"


def _qualname(obj: Any) -> str:
    mod = getattr(obj, "__module__", "?")
    return f"{mod}.{getattr(obj, '__qualname__', repr(obj))}"


# No dataset registry: a task picks its reader from its own options (the layout under
# data_root, data_format), nothing looks a reader up by name, and an empty registry told plugin
# authors to fill something no one reads (docs/plugins.md).
TASKS = Registry("task")
SYNTHESIZERS = Registry("synthesizer")
BACKBONES = Registry("backbone")
METRICS = Registry("metric")
GUIDANCE_MODES = Registry("guidance mode")

_plugins_lock = threading.RLock()
_plugins_state: dict[str, Any] = {"loaded": False, "loading": False, "names": [], "values": set()}


_failed_plugins: dict[str, str] = {}


def _record_failure(name: str, value: str, exc: BaseException) -> None:
    # One broken plugin must not make every other task unusable: warn, remember, and name it
    # in the error of any lookup that then fails.
    msg = f"pgg_zoo plugin {name!r} ({value}) failed to load: {type(exc).__name__}: {exc}"
    _failed_plugins[name] = msg
    warnings.warn(msg, RuntimeWarning, stacklevel=3)


def failed_plugins() -> dict[str, str]:
    """Plugins whose entry point raised while loading: ``{name: message}``."""
    return dict(_failed_plugins)


def _is_builtin(ep: Any) -> bool:
    """Whether entry point ``ep`` belongs to the pgg-zoo distribution itself."""
    dist = getattr(ep, "dist", None)
    name = getattr(dist, "name", None) or ""
    return name.lower().replace("_", "-") == "pgg-zoo"


def load_plugins(reload: bool = False) -> list[str]:
    """Load every entry point of the group ``pgg_zoo.plugins`` once; return their names.

    An entry point names a callable (``module:function``) that receives nothing and registers
    its tasks, synthesizers, backbones and metrics through the public decorators;
    or a module, whose import does the registering. The built-in tasks use exactly this path.
    ``reload=True`` looks for entry points installed since the last call; those already
    loaded are not loaded again.
    """
    with _plugins_lock:
        if _plugins_state["loading"]:
            return list(_plugins_state["names"])  # a plugin looking names up while loading
        if _plugins_state["loaded"] and not reload:
            return list(_plugins_state["names"])
        _plugins_state["loading"] = True
        try:
            names = list(_plugins_state["names"])
            # pgg-zoo's own plugins first: the names they release are taken before a third
            # party's plugin could register one of them
            eps = sorted(metadata.entry_points(group=ENTRY_POINT_GROUP),
                         key=lambda e: (not _is_builtin(e), e.name))
            seen: set[str] = _plugins_state["values"]
            for ep in eps:
                if ep.value in seen:  # the same dist visible twice on sys.path
                    continue
                seen.add(ep.value)
                try:
                    obj = ep.load()
                    if callable(obj):
                        obj()
                except RegistryError as exc:
                    _record_failure(ep.name, ep.value, exc)
                    continue
                except Exception as exc:  # noqa: BLE001 - reported with the plugin named
                    _record_failure(ep.name, ep.value, exc)
                    continue
                names.append(ep.name)
            _plugins_state["names"] = names
            _plugins_state["loaded"] = True
            return list(names)
        finally:
            _plugins_state["loading"] = False
