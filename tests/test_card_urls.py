"""A card's local weights url stays in the card's folder; http(s) urls are not affected.

The card folder here is ``<tmp>/cards/classification``; the file the hostile urls name,
``<tmp>/outside.safetensors``, exists and matches the card's sha256, so a refusal can only
come from where it is.
"""
import dataclasses

import pytest

from pgg_zoo.cards import CardError, download_weights, load_card
from pgg_zoo.cards.schema import ModelCard
from test_downloads import PAYLOAD, _card, _env  # noqa: F401 - _env: private card path and cache


@pytest.fixture
def outside(tmp_path):
    path = tmp_path / "outside.safetensors"
    path.write_bytes(PAYLOAD)
    return path


def _card_file(tmp_path, name):
    return tmp_path / "cards" / "classification" / f"{name}.yaml"


@pytest.mark.parametrize("kind", ["relative", "absolute", "file_url", "symlink"])
def test_local_url_outside_the_card_folder_is_refused(tmp_path, outside, kind):
    folder = tmp_path / "cards" / "classification"
    folder.mkdir(parents=True, exist_ok=True)
    url = {"relative": "../../outside.safetensors", "absolute": str(outside),
           "file_url": outside.as_uri(), "symlink": "link.safetensors"}[kind]
    if kind == "symlink":  # a name inside the folder, a file outside it
        (folder / "link.safetensors").symlink_to(outside)
    _card(tmp_path, "toy_escape", url)
    card_file = _card_file(tmp_path, "toy_escape")
    with pytest.raises(CardError) as err:
        load_card(card_file)
    msg = str(err.value)
    assert "\n" not in msg
    assert str(card_file) in msg and repr(url) in msg and "outside the card's folder" in msg


def test_local_urls_inside_the_card_folder_still_load(tmp_path):
    folder = tmp_path / "cards" / "classification"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "w.safetensors").write_bytes(PAYLOAD)
    relative = _card(tmp_path, "toy_rel", "sub/../sub/w.safetensors")
    assert download_weights(relative, progress=False) == (folder / "sub" / "w.safetensors")
    by_file = _card(tmp_path, "toy_file_inside", (folder / "sub" / "w.safetensors").as_uri())
    assert download_weights(by_file, progress=False).read_bytes() == PAYLOAD


def test_http_urls_are_not_affected(tmp_path):
    _card(tmp_path, "toy_http", "https://files.example.invalid/../../w.safetensors")
    card = load_card(_card_file(tmp_path, "toy_http"))
    assert card.weights.url == "https://files.example.invalid/../../w.safetensors"


def test_download_refuses_outside_urls_of_cards_not_checked_on_reading(tmp_path, outside):
    _card(tmp_path, "toy_ok", "w.safetensors")
    card = load_card(_card_file(tmp_path, "toy_ok"))
    # a card changed in code after it was read
    moved = dataclasses.replace(card, weights=dataclasses.replace(
        card.weights, url="../../outside.safetensors"))
    with pytest.raises(CardError, match=r"'\.\./\.\./outside\.safetensors' points outside"):
        download_weights(moved, progress=False)
    # a card built in code has no folder: a local url is refused, whatever it names
    data = dict(card.to_dict(), weights=dict(card.to_dict()["weights"], url=outside.as_uri()))
    in_code = ModelCard.from_dict(data)
    with pytest.raises(CardError, match="needs a card read from a file"):
        download_weights(in_code, progress=False)
