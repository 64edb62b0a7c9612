"""The study vocabulary: named variants of a task (demo, ablation, guidance modes) and what
makes a variant "guided".

A variant is a mapping of option overrides (task options and run options, as
:func:`pgg_zoo.build` takes them) over the task's defaults. These functions read a task
class's declared variants (``Task.demo_variants``, ``ablation_variants``, ``mode_variants``)
or derive the defaults from its default synthesizer.
"""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Mapping

from ..config import ConfigError

if TYPE_CHECKING:
    from .base import Task

#: Ways to compute the same penalty (docs/performance.md), the default ``Task.mode_variants``:
#: the exact double backprop and the cheaper estimates that stay valid for any model
#: (``finite_difference`` needs checking per model and fails with train-mode BatchNorm in fp32,
#: so it is not in the default set).
MODE_VARIANTS: dict[str, dict[str, Any]] = {
    "no-guidance": {"guidance": False},  # the time and accuracy baseline of the same run
    "exact": {"guidance_mode": "exact"},
    "lazy4[exact]": {"guidance_mode": "lazy",
                     "guidance_options": {"every": 4, "inner": "exact"}},
    "one_label": {"guidance_mode": "one_label"},
    "lazy4[one_label]": {"guidance_mode": "lazy",
                         "guidance_options": {"every": 4, "inner": "one_label"}},
}
#: Keys that say how the penalty is applied; the rest of a variant says what is trained on.
GUIDANCE_KEYS = ("guidance", "guidance_mask", "alpha", "guidance_mode", "guidance_options")
#: The studies a task declares variants for.
STUDIES = ("demo", "ablate", "modes")


def is_guided(variant: Mapping[str, Any]) -> bool:
    """Whether a study variant trains with guidance on true provenance (the defaults:
    guidance on, mask ``provenance``, as ``Task.base_defaults``)."""
    return bool(variant.get("guidance", True)) and \
        variant.get("guidance_mask", "provenance") == "provenance"


def unguided(variant: Mapping[str, Any]) -> dict[str, Any]:
    """``variant`` with the guidance switched off (its data and synthesis kept)."""
    return {**{k: v for k, v in variant.items() if k not in GUIDANCE_KEYS}, "guidance": False}


def guided_variant_name(variants: Mapping[str, Mapping[str, Any]]) -> str:
    """The first guided, true-provenance variant of an ablation; :class:`ConfigError` when
    there is none or when no variant is the same run without guidance."""
    guided = [k for k, v in variants.items() if is_guided(v)]
    if not guided:
        raise ConfigError(f"the ablation variants {list(variants)} hold no guided variant "
                          "with true provenance")
    base = unguided(variants[guided[0]])
    if not any(unguided(v) == base and not v.get("guidance", True) for v in variants.values()):
        raise ConfigError(f"the ablation variants {list(variants)} hold no variant that is "
                          f"{guided[0]!r} without guidance (alpha 0 of the sweep)")
    return guided[0]


def study_variants(cls: type["Task"], study: str) -> dict[str, dict[str, Any]]:
    """The variants of ``study`` (``"demo"``, ``"ablate"`` or ``"modes"``) of task class
    ``cls``: name -> option overrides, each a complete run description over its defaults.

    The declared attribute when the task sets it, otherwise a default: demo ``S`` / ``S+pgg``
    for the task's default synthesizer ``S``; ablate ``no-mix`` (unless a demo variant already
    trains without synthesis), the demo variants, then the random-mask and no-mask controls of
    the guided one. Mode variants come back merged over :func:`guided_variant`.
    """
    if study == "modes":
        guided = guided_variant(cls)
        return {name: {**guided, **copy.deepcopy(dict(opts))}
                for name, opts in (cls.mode_variants or MODE_VARIANTS).items()}
    declared = {"demo": cls.demo_variants, "ablate": cls.ablation_variants}
    if study not in declared:
        raise ValueError(f"unknown study {study!r}; choose from {', '.join(STUDIES)}")
    if declared[study]:
        return {k: copy.deepcopy(dict(v)) for k, v in declared[study].items()}
    default_synth = cls.default_options()["synthesizer"] or "none"
    if study == "demo":
        return {default_synth: {"synthesizer": default_synth, "guidance": False},
                f"{default_synth}+pgg": {"synthesizer": default_synth, "guidance": True,
                                         "guidance_mask": "provenance"}}
    demo = study_variants(cls, "demo")
    name = guided_variant_name(demo)
    out: dict[str, dict[str, Any]] = {}
    if all((v.get("synthesizer", default_synth) or "none") != "none" for v in demo.values()):
        out["no-mix"] = {**unguided(demo[name]), "synthesizer": "none"}
    out.update(demo)
    stem = name[:-len("+pgg")] if name.endswith("+pgg") else name
    for mask in ("random", "none"):
        control = {**demo[name], "guidance_mask": mask}
        if control not in out.values():
            out[f"{stem}+{mask.replace('none', 'no')}-mask"] = control
    return out


def guided_variant(cls: type["Task"]) -> dict[str, Any]:
    """Overrides of "this task's synthesis + guidance with true provenance": the first guided,
    true-provenance variant of the ablation (what alpha sweeps and mode comparisons vary)."""
    variants = study_variants(cls, "ablate")
    return variants[guided_variant_name(variants)]
