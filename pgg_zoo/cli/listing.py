"""``pgg-zoo list``: what is registered."""
from __future__ import annotations

import argparse

from ..api import list_backbones, list_metrics, list_synthesizers, list_tasks
from ..benchmarks import benchmark_names
from ..registry import GUIDANCE_MODES


def _list(args: argparse.Namespace) -> int:
    print("tasks:")
    for t in list_tasks():
        print(f"  {t}: backbones {', '.join(list_backbones(t)) or '-'}; embedded benchmarks "
              f"{', '.join(benchmark_names(t)) or '-'}")
    print("synthesizers: " + ", ".join(list_synthesizers()))
    print("guidance modes: " + ", ".join(GUIDANCE_MODES.names()))
    print("metrics: " + ", ".join(list_metrics()))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list tasks (with their backbones and embedded benchmarks), "
                                        "synthesizers, guidance modes, metrics")
    p.set_defaults(func=_list)
