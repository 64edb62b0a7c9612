"""A ``stad-scenes-v1`` variant for the STAD probes, registered under a name of its own.

The probes ask what changes when one design value of the scenes benchmark changes (the scene
shortcut's strength, the number of training videos, the actor zone, the frame size). Each
such spec is a registered variant named after what it changes (``stad-scenes-v1-probe-...``),
written to its own folder; the released ``stad-scenes-v1`` is never touched.
"""
from __future__ import annotations

from typing import Any

import pgg_zoo


def scenes_variant(base: str = "stad-scenes-v1", **changes: Any) -> str:
    """Register ``base`` with ``changes`` (ScenesSpec fields) under a name naming them; return
    the name to pass as the STAD task's ``benchmark`` option (``base`` when nothing differs)."""
    spec = pgg_zoo.get_benchmark(base, task="stad")
    design = spec.design()
    differ = {k: v for k, v in sorted(changes.items()) if design.get(k) != v}
    if not differ:
        return base
    name = base + "-probe-" + "-".join(f"{k}{v:g}" if isinstance(v, float) else f"{k}{v}"
                                        for k, v in differ.items())
    pgg_zoo.register_benchmark(spec.variant(name, **differ))
    return name
