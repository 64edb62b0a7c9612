"""Entry point of the ``pgg-zoo`` command.

Each command group lives in its own module of this package exposing
``add_commands(subparsers) -> None``; every parser it adds sets ``func`` (``args -> int``).
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

#: Modules contributing sub-commands, in help order.
COMMAND_MODULES = ("pgg_zoo.cli.listing", "pgg_zoo.cli.run", "pgg_zoo.cli.data",
                   "pgg_zoo.cli.recipes", "pgg_zoo.cli.cards", "pgg_zoo.cli.report",
                   "pgg_zoo.cli.study")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pgg-zoo",
        description="Provenance-based input gradient guidance: train, evaluate and compare.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod_name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(mod_name)
        except ModuleNotFoundError as exc:
            if exc.name == mod_name:
                continue  # command group not installed in this build
            raise
        mod.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        _end_progress_line()
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader of our output went away (`pgg-zoo list | head`): stop quietly, and keep
        # Python from reporting the same closed pipe again when it flushes stdout at exit
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # clear one-line errors for user mistakes; tracebacks otherwise
        from ..registry import RegistryError
        from ..config import ConfigError

        user_errors = (RegistryError, ConfigError, FileNotFoundError, ValueError)
        if isinstance(exc, user_errors) and not _debug():
            print(f"pgg-zoo: error: {exc}", file=sys.stderr)
            return 2
        if _is_storage_error(exc) and not _debug():
            # a full disk, a read-only or forbidden folder: what to fix is where, not a trace
            where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            print(f"pgg-zoo: error: {where}{exc.strerror}; free space or choose another "
                  "--work-dir (files already written were kept)", file=sys.stderr)
            return 1
        raise


def _end_progress_line() -> None:
    """Close progress bars a Ctrl-C left open, so the next message starts on its own line."""
    try:
        from tqdm import tqdm
    except ImportError:
        return
    bars = [b for b in list(getattr(tqdm, "_instances", ())) if not getattr(b, "disable", True)]
    for bar in bars:
        try:
            bar.close()
        except Exception:  # noqa: BLE001 - cosmetics must not hide the interruption
            pass
    if bars:
        # leave=False bars only rub their text out; end the line for logs and dumb terminals
        sys.stderr.write("\n")


def _is_storage_error(exc: BaseException) -> bool:
    import errno

    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EROFS, errno.EACCES,
                                                      errno.EDQUOT, errno.EPERM)


def _debug() -> bool:
    import os

    return os.environ.get("PGG_ZOO_DEBUG", "") not in ("", "0")


if __name__ == "__main__":
    sys.exit(main())
