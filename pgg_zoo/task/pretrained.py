"""The ``pretrained`` task option: a backbone's published weights by one argument, as in timm.

``pgg_zoo.build("wsol", backbone="resnet18", pretrained=True)`` initializes the backbone with the
weights its model card publishes (ImageNet for the image backbones, Kinetics for SlowFast and
Slow); ``pretrained="<card name>"`` picks another card of that backbone; ``False`` (the default)
keeps the random initialization. Either way one line on stderr says what the backbone starts
from, so nobody trains from random weights without knowing it.

Which card is "the backbone's published weights": the one its registration names (registry
metadata ``pretrained``: a card name, or ``{task: card name}``), else the only upstream card of
the task for that backbone that initializes a submodule (``weights.submodule``). The weights load
through the card loading (:func:`pgg_zoo.cards.load_weights`: verified, strict, into the card's
submodule).
"""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Mapping

from ..config import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from ..cards import ModelCard

#: Registry metadata of a backbone naming its default card (a name, or ``{task: name}``).
PRETRAINED_META = "pretrained"


def backbone_cards(task: str, backbone: Any) -> list["ModelCard"]:
    """The upstream cards of ``task`` that initialize ``backbone`` (a submodule of the task
    model), sorted by name. Card files that do not parse are skipped here (``pgg-zoo cards``
    reports them)."""
    from ..cards import CardError
    from ..cards.store import card_files, read_card

    if not isinstance(backbone, str):
        return []
    found = {}
    for path in card_files():
        try:
            # every build asks: parse only the files that name the backbone at all
            if backbone not in path.read_text("utf-8", errors="replace"):
                continue
            card = read_card(path)
        except (OSError, CardError):
            continue
        if (card.task == task and card.backbone == backbone and card.origin == "upstream"
                and card.weights.submodule is not None):
            found.setdefault(card.name, card)
    return [found[k] for k in sorted(found)]


def default_card_name(task: str, backbone: Any) -> str | None:
    """The card ``pretrained=True`` loads for ``backbone`` of ``task``; None when there is none
    or the choice is ambiguous (several cards, none named by the backbone's registration)."""
    from ..registry import BACKBONES

    if isinstance(backbone, str) and backbone in BACKBONES:
        named = BACKBONES.meta(backbone).get(PRETRAINED_META)
        if isinstance(named, Mapping):
            named = named.get(task)
        if named:
            return str(named)
    cards = backbone_cards(task, backbone)
    return cards[0].name if len(cards) == 1 else None


def resolve_pretrained(task: str, backbone: Any, value: Any, *, weights: Any = None
                       ) -> "ModelCard | None":
    """The card the ``pretrained`` option asks for, checked before anything is built.

    Args:
        task: the task's registered name.
        backbone: the canonical ``backbone`` option.
        value: ``False``/``None`` (random initialization), ``True`` (the backbone's default
            card) or a card name.
        weights: the ``weights`` option (a whole model card); it excludes ``pretrained``.

    Raises:
        ConfigError: a value of another type, ``pretrained`` together with ``weights``, no
            published weights for the backbone, or a card for another task or backbone, or one
            that is not a backbone initialization.
    """
    from ..cards import CardError, load_card

    if value is None or value is False:
        return None
    if not isinstance(value, (bool, str)) or value == "":
        raise ConfigError(f"option pretrained: must be true, false or a model card name, got "
                          f"{value!r}")
    if weights:
        raise ConfigError(f"options weights={weights!r} and pretrained={value!r}: give one (weights "
                          "loads a whole model card, pretrained a backbone's published weights)")
    if value is True:
        name = default_card_name(task, backbone)
        if name is None:
            found = [c.name for c in backbone_cards(task, backbone)]
            if found:
                raise ConfigError(f"option pretrained: {task} backbone {backbone!r} has several "
                                  f"weight cards {found}; pass pretrained=<one of them>")
            raise ConfigError(f"option pretrained: no published weights for {task} backbone "
                              f"{backbone!r} (no model card initializes it; `pgg-zoo cards --task "
                              f"{task}` lists the cards); train it with pretrained=False, or "
                              "add a card (docs/model_cards.md)")
        value = name
    try:
        card = load_card(value)
    except CardError as exc:
        raise ConfigError(f"option pretrained: {exc}") from None
    problem = None
    if card.task != task:
        problem = f"is a {card.task} card, not a {task} one"
    elif card.backbone != backbone:
        problem = f"holds backbone {card.backbone!r}, not {backbone!r}"
    elif card.weights.submodule is None:
        problem = f"is a whole model, not a backbone initialization (use weights={card.name!r})"
    if problem:
        raise ConfigError(f"option pretrained: model card {card.name!r} {problem}")
    return card


def load_pretrained(model: "nn.Module", task: str, backbone: Any, card: "ModelCard | None", *,
                    allow_unverified: bool = False, log: Any = None) -> None:
    """Load ``card`` (from :func:`resolve_pretrained`) into ``model`` and say in one line what
    the backbone starts from; with no card, say so when the backbone has published weights.

    ``log`` receives the line (default: printed to stderr with a ``pgg_zoo:`` prefix).
    """
    from ..cards import load_weights

    say = log if log is not None else (lambda line: print(line, file=sys.stderr))
    if card is None:
        from ..cards import CardError

        try:
            name = default_card_name(task, backbone)
        except CardError:  # an unreadable card path must not stop a build for a log line
            name = None
        if name is not None:
            data = _training_data(name)
            say(f"pgg_zoo: {task} backbone {backbone}: random initialization (pretrained=False); "
                f"pass pretrained=True for {data} weights (card {name})")
        return
    load_weights(model, card, allow_unverified=allow_unverified)
    say(f"pgg_zoo: {task} backbone {backbone}: {card.training_data[0]} weights of card "
        f"{card.name} loaded into {card.weights.submodule!r} (pretrained)")


def _training_data(card_name: str) -> str:
    from ..cards import CardError, load_card

    try:
        return load_card(card_name).training_data[0]
    except CardError:
        return "published"
