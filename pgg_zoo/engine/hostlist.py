"""Slurm host lists (``SLURM_NODELIST``) expanded in Python, without ``scontrol`` or a shell.

The grammar: entries separated by commas outside brackets; an entry is host-name text with
any number of bracket groups, each a comma-separated list of numbers and ``lo-hi`` ranges::

    node[01-03,07],gpu5      -> node01 node02 node03 node07 gpu5
    rack[1-2]-n[01-02]       -> rack1-n01 rack1-n02 rack2-n01 rack2-n02

A range keeps the zero padding of its lower bound (``[08-10]`` -> ``08 09 10``). Several
groups in one entry expand as a product, the first group varying slowest. Anything else (shell
characters, spaces, unbalanced or nested brackets, empty entries, ``hi < lo``) is refused:
the variable comes from the environment and is never handed to a shell.
"""
from __future__ import annotations

import itertools
import re
from typing import Iterator

__all__ = ["expand_hostlist", "first_host", "iter_hostlist"]

# Characters of host names (RFC 1123 labels, dots, and the underscores some sites use).
_NAME = re.compile(r"[A-Za-z0-9._-]*")
_NUMBER_OR_RANGE = re.compile(r"(\d+)(?:-(\d+))?")

#: What a host list looks like, for error messages.
EXAMPLE = "node[01-03,07],gpu5"


def _refuse(text: str, why: str, variable: str) -> ValueError:
    # repr() keeps the message on one line whatever the variable holds
    return ValueError(f"{variable}={text!r} is not a Slurm host list ({why}); expected names "
                      f"and bracket ranges such as {EXAMPLE}")


def _split_entries(text: str, variable: str) -> list[str]:
    """Split at the commas outside brackets; check bracket balance."""
    entries, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "[":
            if depth:
                raise _refuse(text, "nested '['", variable)
            depth = 1
        elif ch == "]":
            if not depth:
                raise _refuse(text, "']' without '['", variable)
            depth = 0
        elif ch == "," and not depth:
            entries.append(text[start:i])
            start = i + 1
    if depth:
        raise _refuse(text, "'[' without ']'", variable)
    entries.append(text[start:])
    return entries


def _group_values(group: str, text: str, variable: str) -> list[tuple[int, int, int]]:
    """``"01-03,07"`` -> ``[(1, 3, 2), (7, 7, 2)]``: (low, high, zero-padded width)."""
    out = []
    for item in group.split(","):
        m = _NUMBER_OR_RANGE.fullmatch(item)
        if not m:
            raise _refuse(text, f"bracket item {item!r} is not a number or a lo-hi range",
                          variable)
        lo, hi = m.group(1), m.group(2) or m.group(1)
        if int(hi) < int(lo):
            raise _refuse(text, f"range {item!r} ends before it starts", variable)
        out.append((int(lo), int(hi), len(lo)))
    return out


def _expand_entry(entry: str, text: str, variable: str) -> Iterator[str]:
    """Host names of one entry, lazily (a range may be large; only the first may be needed)."""
    if not entry:
        raise _refuse(text, "empty host name", variable)
    parts = re.split(r"\[([^\]]*)\]", entry)  # literal, group, literal, group, ..., literal
    literals, groups = parts[0::2], parts[1::2]
    for lit in literals:
        if not _NAME.fullmatch(lit):
            bad = next(ch for ch in lit if not _NAME.fullmatch(ch))
            raise _refuse(text, f"character {bad!r} is not allowed in a host name", variable)
    if not entry[0].isalnum() and entry[0] != "[":
        raise _refuse(text, f"host name {entry!r} does not start with a letter or digit",
                      variable)
    ranges = [_group_values(g, text, variable) for g in groups]

    def numbers(group: list[tuple[int, int, int]]) -> Iterator[str]:
        for lo, hi, width in group:
            for n in range(lo, hi + 1):
                yield str(n).zfill(width)

    # product() would materialize every group up front; nest generators instead
    def expand(i: int, prefix: str) -> Iterator[str]:
        if i == len(ranges):
            yield prefix + literals[i]
            return
        for num in numbers(ranges[i]):
            yield from expand(i + 1, prefix + literals[i] + num)

    return expand(0, "")


def iter_hostlist(text: str, *, variable: str = "SLURM_NODELIST") -> Iterator[str]:
    """Host names of a Slurm host list, in order, lazily; the whole list is validated first.

    Raises:
        ValueError: one line naming ``variable`` when ``text`` is not a host list.
    """
    text = text.strip()
    if not text:
        raise _refuse(text, "empty", variable)
    entries = [_expand_entry(e, text, variable) for e in _split_entries(text, variable)]
    return itertools.chain.from_iterable(entries)


def expand_hostlist(text: str, *, variable: str = "SLURM_NODELIST") -> list[str]:
    """All host names of a Slurm host list (``"n[1-2],m"`` -> ``["n1", "n2", "m"]``)."""
    return list(iter_hostlist(text, variable=variable))


def first_host(text: str, *, variable: str = "SLURM_NODELIST") -> str:
    """The first host of a Slurm host list (the rendezvous host, ``MASTER_ADDR``)."""
    return next(iter(iter_hostlist(text, variable=variable)))
