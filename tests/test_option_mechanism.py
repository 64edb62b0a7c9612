"""Run options and model cards are declared and checked by one mechanism
(pgg_zoo.config.checks): the same kinds, the same bounds, the same messages."""
from __future__ import annotations

import copy
import dataclasses

import pytest

from pgg_zoo.cards import CardError, ModelCard, WeightsSpec
from pgg_zoo.config import ConfigError, RunConfig
from pgg_zoo.config.checks import option_fields
from test_cards_schema import good  # noqa: F401  (fixture: a valid card as a dict)


def test_cards_declare_their_typed_fields_as_options():
    for cls, names in ((ModelCard, {"origin", "modality", "num_classes", "num_params",
                                    "file_size_mb"}),
                       (WeightsSpec, {"format", "hash_verified", "size_bytes"})):
        assert names <= set(option_fields(cls))
    assert set(option_fields(RunConfig)) == {f.name for f in dataclasses.fields(RunConfig)}


@pytest.mark.parametrize("change, card_message, run_values, run_message", [
    (lambda d: d["weights"].update(format="pickle"),
     "option weights.format: expected one of safetensors, pth, got 'pickle'",
     {"optimizer": "lbfgs"}, "option optimizer: expected one of sgd, adam, adamw, got 'lbfgs'"),
    (lambda d: d.update(num_classes=0), "option num_classes: must be >= 1, got 0",
     {"epochs": 0}, "option epochs: must be >= 1, got 0"),
    (lambda d: d.update(num_params=True), "option num_params: expected an integer, got True",
     {"batch_size": True}, "option batch_size: expected an integer, got True"),
    (lambda d: d["weights"].update(hash_verified="yes"),
     "option weights.hash_verified: expected true or false, got 'yes'",
     {"sync_bn": "yes"}, "option sync_bn: expected true or false, got 'yes'"),
])
def test_card_and_run_errors_read_the_same(good, change, card_message, run_values,  # noqa: F811
                                           run_message):
    d = copy.deepcopy(good)
    change(d)
    with pytest.raises(CardError) as card_exc:
        ModelCard.from_dict(d)
    with pytest.raises(ConfigError) as run_exc:
        RunConfig.from_mapping(run_values)
    assert card_message in str(card_exc.value)
    assert str(run_exc.value) == run_message


def test_a_card_number_written_as_text_is_refused(good):  # noqa: F811
    d = copy.deepcopy(good)
    d["num_classes"] = "2"  # a run option would take it; a card file holds YAML numbers
    with pytest.raises(CardError, match="option num_classes: expected an integer, got '2'"):
        ModelCard.from_dict(d)
