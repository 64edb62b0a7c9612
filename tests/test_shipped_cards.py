"""Every card whose weights this project trained reproduces its metrics when built from the card."""
import pytest

import pgg_zoo

SHIPPED = [n for n in pgg_zoo.list_cards() if pgg_zoo.load_card(n).origin == "pgg_zoo"]


def test_every_task_ships_a_trained_card():
    tasks = {pgg_zoo.load_card(n).task for n in SHIPPED}
    assert tasks == set(pgg_zoo.list_tasks())


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_card_reproduces_its_metrics(name, tmp_path):
    card = pgg_zoo.load_card(name)
    task = pgg_zoo.build(card.task, weights=name, work_dir=str(tmp_path))
    got = task.evaluate()
    ((dataset, expected),) = card.metrics.items()
    assert expected, f"card {name} lists no metrics"
    # Image benchmarks are bit-reproducible: the numbers must match exactly. The video
    # benchmark's mp4 files are re-encoded wherever it is generated, and x264 did not give
    # identical bitstreams across runs here (~1 grey level mean difference after decoding),
    # so video metrics get 0.5 point.
    tol = 0.5 if card.modality == "video" else 1e-3
    for metric, value in expected.items():
        key = metric if metric in got else metric.split("[")[0]
        assert got[key] == pytest.approx(value, abs=tol), (metric, got[key], value)
