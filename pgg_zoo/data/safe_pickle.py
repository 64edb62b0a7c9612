"""Read pickles that come from third parties without running their code.

Annotation pickles (UCF101-24/JHMDB tubes, skeleton files) are fetched from mirrors the user does
not control, and a plain :func:`pickle.load` runs whatever callable the file names (``os.system``
included) before any validation sees the content. :func:`load_pickle` resolves only an allow-list
of globals: builtin containers and scalars, ``collections.OrderedDict``/``defaultdict`` and what
numpy needs to rebuild arrays, dtypes and scalars (numpy 1.x ``numpy.core`` and numpy 2
``numpy._core`` spellings, so Python 2-era files load too). Any other global is refused with
:class:`UnsafePickleError` naming the file and the global, before it is imported or called.
"""
from __future__ import annotations

import _compat_pickle
import importlib
import os
import pickle
from typing import Any, Callable, Dict, Tuple

__all__ = ["UnsafePickleError", "load_pickle", "ALLOWED_GLOBALS"]


class UnsafePickleError(ValueError):
    """A pickle names a global outside the allow-list; nothing it names was imported or called.

    Attributes:
        path: the file, as a string.
        global_name: the refused global as ``module.name``.
    """

    def __init__(self, path: str, global_name: str) -> None:
        super().__init__(
            f"{path}: refusing to unpickle global '{global_name}' (only builtin containers, "
            f"numbers, strings and numpy arrays are allowed in a data pickle)")
        self.path = path
        self.global_name = global_name


_BUILTINS = ("dict", "list", "tuple", "set", "frozenset", "str", "bytes", "bytearray", "int",
             "float", "bool", "complex")

# numpy's reconstructors are looked up under whichever of numpy._core (numpy 2) / numpy.core
# (numpy 1) this install has, so a file written by either major version reads under the other.
_NUMPY_CORE_FUNCS = {
    "multiarray": ("_reconstruct", "scalar"),
    "numeric": ("_frombuffer",),   # protocol 5 arrays
    "_internal": ("_convert_to_stringdtype_kwargs",),   # numpy 2 StringDType
}


def _builtin(name: str) -> Callable[[], Any]:
    import builtins
    return lambda: getattr(builtins, name)


def _attr(module: str, name: str) -> Callable[[], Any]:
    return lambda: getattr(importlib.import_module(module), name)


def _numpy_core(sub: str, name: str) -> Callable[[], Any]:
    def resolve() -> Any:
        try:
            mod = importlib.import_module(f"numpy._core.{sub}")
        except ImportError:  # numpy < 2
            mod = importlib.import_module(f"numpy.core.{sub}")
        return getattr(mod, name)
    return resolve


def _allowed() -> Dict[Tuple[str, str], Callable[[], Any]]:
    table: Dict[Tuple[str, str], Callable[[], Any]] = {}
    for name in _BUILTINS:
        table[("builtins", name)] = _builtin(name)
    table[("collections", "OrderedDict")] = _attr("collections", "OrderedDict")
    table[("collections", "defaultdict")] = _attr("collections", "defaultdict")
    # Protocol <3 pickles written by Python 3 store bytes as _codecs.encode(text, "latin1").
    # Codec lookup only imports modules of the ``encodings`` package, so this runs no foreign code.
    table[("_codecs", "encode")] = _attr("_codecs", "encode")
    table[("numpy", "ndarray")] = _attr("numpy", "ndarray")
    table[("numpy", "dtype")] = _attr("numpy", "dtype")
    for sub, names in _NUMPY_CORE_FUNCS.items():
        for name in names:
            for pkg in ("numpy._core", "numpy.core"):
                table[(f"{pkg}.{sub}", name)] = _numpy_core(sub, name)
    return table


ALLOWED_GLOBALS: Dict[Tuple[str, str], Callable[[], Any]] = _allowed()


def _is_numpy_dtype_class(module: str, name: str) -> bool:
    # numpy 2's per-dtype classes (numpy.dtypes.Float32DType, StringDType, ...) only build dtypes
    return module == "numpy.dtypes" and name.endswith("DType") and name.isidentifier()


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: Any, path: str, encoding: str) -> None:
        super().__init__(file, encoding=encoding)
        self._path = path

    def find_class(self, module: str, name: str) -> Any:
        # Python 2 names (__builtin__.set, ...) are mapped here because overriding find_class
        # bypasses the mapping the default implementation does; the py2 names do not exist in
        # Python 3, so mapping regardless of the protocol cannot change a py3 file's meaning.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        resolve = ALLOWED_GLOBALS.get((module, name))
        if resolve is not None:
            return resolve()
        if _is_numpy_dtype_class(module, name):
            import numpy.dtypes  # noqa: F401 (numpy >= 1.25)
            obj = getattr(numpy.dtypes, name, None)
            if isinstance(obj, type):
                return obj
        raise UnsafePickleError(self._path, f"{module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(self._path, f"persistent id {pid!r}")


def load_pickle(path: str | os.PathLike, *, encoding: str = "latin1") -> Any:
    """Load a data pickle, resolving only builtin containers/scalars and numpy globals.

    Args:
        path: the pickle file.
        encoding: how Python 2 ``str`` objects are decoded; the default ``latin1`` is what the
            public Python 2-era annotation files need (their numpy array buffers are py2 strings).

    Returns:
        The unpickled object.

    Raises:
        UnsafePickleError: the file names a global outside the allow-list (message names the file
            and ``module.name``); nothing it names has been imported or called.
        FileNotFoundError: no such file.
        pickle.UnpicklingError, EOFError, ...: the file is not a (complete) pickle.
    """
    p = os.fspath(path)
    with open(p, "rb") as f:
        return _RestrictedUnpickler(f, str(p), encoding).load()
