"""Loading a card's weights into a model, strictly, and the build settings a card implies.

Strict means: every model key gets a tensor of the right shape and every checkpoint key is
used, except the prefixes the card itself lists in ``weights.exclude``. A card whose checkpoint
names its tensors otherwise (a port of the same network) says ``weights.by_position``: the
tensors are then matched in order, with the same count and the same shape at every position. Anything else is an
error that lists the missing keys, the unexpected keys and the shape mismatches, so that a
wrong number of classes or a wrong backbone is caught instead of half-loading.

The file reading and the strict comparison live in :mod:`pgg_zoo.weights_io` (shared with
``pgg-zoo eval`` and training's ``model.safetensors``).

Task adapters whose module names differ from the upstream checkpoint's may define
``adapt_card_state_dict(self, state_dict, card) -> state_dict`` on the model (or on the
submodule named by ``weights.submodule``); it is called after the card's own ``rename`` and
``exclude`` rules and before the strict comparison.
"""
from __future__ import annotations

import os
from typing import Any, Iterable, Mapping

import torch
from torch import nn

from ..weights_io import WeightsMismatchError, _listing, check_state_dict, read_state_dict
from .download import download_weights
from .schema import ModelCard
from .store import load_card

def apply_card_rules(state_dict: Mapping[str, torch.Tensor], card: ModelCard) -> dict[str, torch.Tensor]:
    """Apply the card's ``exclude`` prefixes, then its ``rename`` prefix rules."""
    w = card.weights
    out: dict[str, torch.Tensor] = {}
    for k, v in state_dict.items():
        if any(k.startswith(p) for p in w.exclude):
            continue
        for old, new in w.rename:
            if k.startswith(old):
                k = new + k[len(old):]
                break
        out[k] = v
    return out


def map_by_position(target: nn.Module, state_dict: Mapping[str, torch.Tensor], *, what: str
                    ) -> dict[str, torch.Tensor]:
    """``state_dict`` renamed to ``target``'s keys by position (``weights.by_position``).

    The i-th checkpoint tensor becomes the i-th entry of ``target.state_dict()``. Raises
    :class:`WeightsMismatchError` unless both hold the same number of tensors and the shapes
    agree at every position (a port of the same network lists its tensors in the same order;
    a different network, or one with a layer more or less, fails here, not silently).
    """
    src = list(state_dict.items())
    dst = list(target.state_dict().items())
    if len(src) != len(dst):
        raise WeightsMismatchError(
            f"{what} is loaded by position but holds {len(src)} tensors and the model "
            f"{len(dst)} (nothing was loaded)", [], [], [])
    bad = [(f"#{i} {ks} -> {kd}", tuple(v.shape), tuple(m.shape))
           for i, ((ks, v), (kd, m)) in enumerate(zip(src, dst)) if v.shape != m.shape]
    if bad:
        raise WeightsMismatchError(
            f"{what} is loaded by position but the shapes differ at {len(bad)} position(s) "
            f"(nothing was loaded): "
            + _listing(f"{k}: checkpoint {list(a)} vs model {list(b)}" for k, a, b in bad),
            [], [], bad)
    return {kd: v for (_, v), (kd, _) in zip(src, dst)}


def load_weights(
    model: nn.Module,
    card_or_name: str | ModelCard,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    allow_unverified: bool = False,
    offline: bool | None = None,
    progress: bool = True,
) -> ModelCard:
    """Download (if needed), verify and strictly load a card's weights into ``model``.

    Returns the card. Raises :class:`WeightsMismatchError` listing missing keys, unexpected
    keys and shape mismatches (a different number of classes shows up as a shape mismatch of
    the classifier, with the card's ``num_classes`` named in the message); the model is left
    untouched in that case. Download errors are those of :func:`download_weights`.
    """
    card = load_card(card_or_name)
    path = download_weights(card, cache_dir, progress, allow_unverified=allow_unverified, offline=offline)
    target = model.get_submodule(card.weights.submodule) if card.weights.submodule else model
    sd = apply_card_rules(read_state_dict(path, card.weights.format, card.weights.state_dict_key), card)
    where = f" into submodule {card.weights.submodule!r}" if card.weights.submodule else ""
    if card.weights.by_position:
        sd = map_by_position(target, sd, what=f"weights of model card {card.name!r} ({path}){where}")
    adapt = getattr(target, "adapt_card_state_dict", None) or getattr(model, "adapt_card_state_dict", None)
    if callable(adapt) and not card.weights.by_position:
        sd = adapt(sd, card)
    try:
        check_state_dict(target, sd, what=f"weights of model card {card.name!r} ({path}){where}",
                         missing_ok=card.weights.missing_ok)
    except WeightsMismatchError as exc:
        if exc.shape_mismatches and card.weights.submodule is None:
            exc.args = (exc.args[0] + f"; (the card describes {card.num_classes} classes and backbone {card.backbone!r}; "
                        f"build the model with pgg_zoo.build(task, weights={card.name!r}) so both match)",)
        raise
    # strict=False only when the card lists keys it deliberately lacks; check_state_dict has
    # already rejected every other missing key, every unexpected key and every shape mismatch.
    target.load_state_dict(sd, strict=not card.weights.missing_ok)
    return card


def card_build_overrides(
    card_or_name: str | ModelCard, *, known_keys: Iterable[str] | None = None, include_training: bool = False
) -> dict[str, Any]:
    """Task configuration overrides a card implies, so the built model matches its weights.

    Always: ``backbone``; ``num_classes`` (only when the weights are the whole model, i.e.
    ``weights.submodule`` is null); ``image_size`` (``input.size``); for video cards
    ``clip_len`` and ``frame_interval``. With ``include_training=True`` also the training
    settings (``synthesizer``, ``guidance``, ``alpha``, ``guidance_mode``, ``guidance_mask``).
    The card's explicit ``build`` mapping (exact task config keys) is applied last.

    ``known_keys`` (a task's configuration keys): derived keys the task does not have are
    dropped. Explicit ``build`` keys are never dropped, so a card asking for a key the task
    lacks fails loudly in the task's config check rather than being ignored.
    """
    card = load_card(card_or_name)
    derived: dict[str, Any] = {"backbone": card.backbone}
    if card.weights.submodule is None:
        derived["num_classes"] = card.num_classes
    size = tuple(card.input.size)
    derived["image_size"] = size[0] if size[0] == size[1] else list(size)
    if card.modality == "video":
        derived["clip_len"] = card.input.clip_len
        derived["frame_interval"] = card.input.frame_interval
    if include_training:
        derived["synthesizer"] = card.synthesizer
        g = card.guidance
        derived["guidance"] = bool(g and g.alpha > 0)
        if g is not None:
            derived.update(alpha=g.alpha, guidance_mode=g.mode, guidance_mask=g.mask)
    if known_keys is not None:
        known = set(known_keys)
        derived = {k: v for k, v in derived.items() if k in known}
    return {**derived, **dict(card.build)}


#: Options whose value a card's weights fix: any other value could not load them strictly.
ARCHITECTURE_KEYS = ("backbone", "num_classes")


def merge_card_overrides(
    card_or_name: str | ModelCard,
    task: str,
    overrides: Mapping[str, Any],
    *,
    known_keys: Iterable[str] | None = None,
) -> dict[str, Any]:
    """The task configuration for ``pgg_zoo.build(task, weights=card, **overrides)``.

    The card's implied options (:func:`card_build_overrides`) come first and the user's
    ``overrides`` win, except for :data:`ARCHITECTURE_KEYS`: asking for another backbone or
    another number of classes than the weights have is an error here, not a silent change.

    Raises:
        CardError: the card is for another task, or an override contradicts the weights.
    """
    from .schema import CardError

    card = load_card(card_or_name)
    if card.task != task:
        raise CardError(f"model card {card.name!r} is for task {card.task!r}, not {task!r}")
    implied = card_build_overrides(card, known_keys=known_keys)
    clash = {
        k: (overrides[k], implied[k])
        for k in ARCHITECTURE_KEYS
        if k in implied and k in overrides and overrides[k] != implied[k]
    }
    if clash:
        detail = ", ".join(f"{k}={got!r} but the weights have {k}={want!r}" for k, (got, want) in clash.items())
        raise CardError(f"model card {card.name!r}: {detail}; drop the option(s) or pick another card")
    return {**implied, **dict(overrides)}
