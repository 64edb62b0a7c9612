"""The decoy demo: its figure (accuracy and leakage beside each row, the title right above the
digits) and the named setting ``anywhere-convnet`` (docs/decoy.md, study v3)."""
from __future__ import annotations

import json

import pytest
import torch

import pgg_zoo
from pgg_zoo.config import ConfigError
from pgg_zoo_tasks.decoy.figures import draw_gradient_figure, row_metrics
from pgg_zoo_tasks.decoy.task import SETTINGS


def test_setting_fills_in_what_is_not_given():
    task = pgg_zoo.build("decoy", setting="anywhere-convnet")
    assert (task.options["variant"], task.options["backbone"], task.options["alpha"]) == (
        "anywhere", "convnet", 1.0)
    assert task.run.epochs == 15
    assert type(task.model.net[0]).__name__ == "Conv2d"
    mine = pgg_zoo.build("decoy", setting="anywhere-convnet", alpha=10.0, epochs=3)
    assert mine.options["alpha"] == 10.0 and mine.run.epochs == 3
    assert mine.options["variant"] == "anywhere"
    # the built task holds the values: rebuilding from them gives the same task
    again = pgg_zoo.build("decoy", **task.options, **task.run.to_dict())
    assert again.options == task.options and again.run == task.run
    plain = pgg_zoo.build("decoy")
    assert (plain.options["variant"], plain.options["backbone"], plain.run.epochs) == (
        "corner", "mlp", 30)
    assert set(SETTINGS) == {"anywhere-convnet"}


def test_unknown_setting_is_one_line():
    with pytest.raises(ConfigError, match="option setting: must be one of"):
        pgg_zoo.build("decoy", setting="anywhere")


def _tasks(tmp_path, metrics: dict[str, tuple[float, float]] | None,
           names: tuple[str, ...] = ("plain", "pgg")):
    tasks = {}
    for seed, name in enumerate(names):
        work = tmp_path / name
        tasks[name] = pgg_zoo.build("decoy", seed=seed, work_dir=str(work))
        if metrics is not None:
            work.mkdir(parents=True)
            top1, leak = metrics[name]
            (work / "metrics.json").write_text(json.dumps(
                {"epoch": 1, "split": "test", "metrics": {"top1": top1, "leakage": leak}}))
    return tasks


def test_figure_shows_each_rows_accuracy_and_leakage_under_a_tight_title(bench_home, tmp_path):
    tasks = _tasks(tmp_path, {"plain": (81.29, 15.14), "pgg": (89.13, 5.63)})
    test = next(iter(tasks.values())).build_dataset("test")
    fig = draw_gradient_figure(tasks, test, n=4)
    axes = fig.axes
    labels = [axes[r * 4].get_ylabel() for r in range(3)]
    assert labels[0] == "test digits"
    assert labels[1] == "plain\ntop-1 81.3 %\nleakage 15.1 %"
    assert labels[2] == "pgg\ntop-1 89.1 %\nleakage 5.6 %"
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    inch = fig.dpi
    title = fig._suptitle.get_window_extent(r)
    col_titles = [ax.title.get_window_extent(r) for ax in axes[:4]]
    top_axes = axes[0].get_window_extent(r)
    # no band under the title: it ends less than 0.1 inch above the class titles, which sit
    # right on the first row of digits
    assert 0 <= (title.y0 - max(t.y1 for t in col_titles)) / inch < 0.1
    assert 0 <= (min(t.y0 for t in col_titles) - top_axes.y1) / inch < 0.1
    assert (fig.get_figheight() * inch - title.y1) / inch < 0.1


def test_row_metrics_without_a_run_are_measured_on_the_split(bench_home, tmp_path):
    (task,) = _tasks(tmp_path / "none", None, names=("plain",)).values()
    test = task.build_dataset("test")
    top1, leakage = row_metrics(task, test)
    with torch.no_grad():
        x = torch.stack([test[i]["inputs"] for i in range(len(test))])
        y = torch.tensor([test[i]["label"] for i in range(len(test))])
        expected = 100.0 * float((task.model.eval()(x).argmax(1) == y).float().mean())
    assert top1 == pytest.approx(expected)
    assert 0.0 < leakage < 100.0
