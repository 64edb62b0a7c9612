"""`pgg-zoo report`: the page holds the config differences, the metric tables (mean ± std over
seeds, paired differences), the leakage and the figures, all inline."""
from __future__ import annotations

import base64
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pgg_zoo.cli.main import main as cli
from pgg_zoo.report import collect_runs


class Page(HTMLParser):
    """Tables as lists of rows of cell texts, headings, and image sources."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.headings: list[str] = []
        self.images: list[str] = []
        self.links: list[str] = []
        self._cell: list[str] | None = None
        self._heading: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag in ("h1", "h2", "h3"):
            self._heading = []
        elif tag == "img":
            self.images.append(a.get("src", ""))
        elif tag in ("link", "script") or (tag == "a" and a.get("href")):
            self.links.append(a.get("href") or a.get("src") or tag)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag in ("h1", "h2", "h3") and self._heading is not None:
            self.headings.append("".join(self._heading).strip())
            self._heading = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._heading is not None:
            self._heading.append(data)


def _png(path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (8, 6), (200, 30, 30)).save(path)


def _training_run(folder: Path, seed: int, alpha: float, top1: list[float], leak: float):
    """A run folder in the engine's format (run.json, metrics.json/.jsonl, leakage.jsonl,
    mmengine's scalars.json)."""
    (folder / "20260101_000000" / "vis_data").mkdir(parents=True)
    config = {"backbone": "tiny_cam", "synthesizer": "cutmix", "guidance": alpha > 0,
              "alpha": alpha, "seed": seed, "epochs": len(top1), "work_dir": str(folder)}
    (folder / "run.json").write_text(json.dumps({"task": "wsol", "data": "embedded",
                                                 "config": config}))
    final = {"top1": top1[-1], "maxboxacc_v2": top1[-1] / 2, "leakage": leak,
             "leakage_chance": 80.0, "leakage_slots": 8.0}
    (folder / "metrics.json").write_text(json.dumps({"epoch": len(top1), "split": "test",
                                                     "metrics": final}))
    (folder / "metrics.jsonl").write_text("".join(
        json.dumps({"epoch": e + 1, "split": "test", "metrics": {"top1": t}}) + "\n"
        for e, t in enumerate(top1)))
    (folder / "leakage.jsonl").write_text("".join(
        json.dumps({"epoch": e + 1, "metrics": {"leakage": leak + 5 * (len(top1) - e - 1)}})
        + "\n" for e in range(len(top1))))
    (folder / "20260101_000000" / "vis_data" / "scalars.json").write_text("".join(
        json.dumps({"loss": 1.0 / (i + 1), "loss_pgg": 0.01, "iter": i + 1, "epoch": 1}) + "\n"
        for i in range(6)))


def test_report_of_training_runs_and_a_study(tmp_path):
    runs = []
    for seed, (plain, guided) in enumerate([(50.0, 55.0), (60.0, 62.0)]):
        for alpha, t in ((0.0, plain), (0.05, guided)):
            d = tmp_path / f"a{alpha}_s{seed}"
            _training_run(d, seed, alpha, [t - 10, t], leak=40.0 - 100 * alpha)
            runs.append(str(d))
    study = tmp_path / "ablate"
    study.mkdir()
    (study / "metrics.json").write_text(json.dumps({
        "task": "wsol", "seed": 0, "common": {"seed": 0, "epochs": 1},
        "variants": {"cutmix": {"synthesizer": "cutmix", "guidance": False},
                     "cutmix+pgg": {"synthesizer": "cutmix", "guidance": True}},
        "results": {"cutmix": {"top1": 70.0, "train_minutes": 0.5},
                    "cutmix+pgg": {"top1": 73.5, "train_minutes": 1.5}}}))
    _png(study / "alpha.png")
    out = tmp_path / "report.html"
    assert cli(["report", *runs, str(study), "-o", str(out)]) == 0
    page = Page()
    page.feed(out.read_text())
    assert not page.links  # self-contained: no stylesheet, script or link to fetch
    assert "Configuration differences" in page.headings and "Metrics: wsol" in page.headings
    # config differences: alpha and guidance differ; work_dir is ignored
    config = next(t for t in page.tables if t[0][:2] == ["variant", "seed"])
    assert "alpha" in config[0] and "guidance" in config[0] and "work_dir" not in config[0]
    # metrics: one row per variant, mean ± sample std over the two seeds
    metrics = next(t for t in page.tables if t[0][:2] == ["variant", "seeds"])
    rows = {r[0]: dict(zip(metrics[0], r)) for r in metrics[1:]}
    assert rows["alpha=0, guidance=False"]["top1"] == "55.00 ± 7.07 (n=2)"
    assert rows["alpha=0.05, guidance=True"]["top1"] == "58.50 ± 4.95 (n=2)"
    assert rows["alpha=0.05, guidance=True"]["leakage"].startswith("35.00")
    assert rows["cutmix+pgg"]["top1"] == "73.50"  # the study's variants are rows too
    # paired differences to the unguided runs: +5 and +2 -> 3.50 ± 2.12
    paired = next(t for t in page.tables if t[0][:2] == ["variant", "paired seeds"])
    prow = {r[0]: dict(zip(paired[0], r)) for r in paired[1:]}
    assert prow["alpha=0.05, guidance=True"]["top1"] == "+3.50 ± 2.12 (n=2)"
    # images: the curves (drawn here) and the study's alpha.png, embedded as PNG data
    assert len(page.images) == 2 and all(s.startswith("data:image/png;base64,")
                                         for s in page.images)
    assert base64.b64decode(page.images[0].split(",", 1)[1])[:4] == b"\x89PNG"
    assert any(h.startswith("Training curves") for h in page.headings)


def test_report_refuses_a_folder_that_is_no_run(tmp_path, capsys):
    assert cli(["report", str(tmp_path), "-o", str(tmp_path / "r.html")]) == 2
    assert "not a run folder" in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()


def test_report_reads_a_real_run(bench_home, tmp_path):
    # the engine's own files, not a copy of their format
    import pgg_zoo

    work = tmp_path / "run"
    pgg_zoo.build("decoy", epochs=2, limit_train=64, limit_test=32, batch_size=32,
                  leakage_batches=1, work_dir=str(work)).train()
    (run,) = collect_runs([work])
    assert run.task == "decoy" and run.seed == 0 and run.config["epochs"] == 2
    # the engine evaluates once, at the end; losses are logged every few iterations
    assert [e for e, _ in run.evals] == [2] and len(run.leakage) >= 1 and len(run.losses) >= 2
    assert run.metrics["top1"] == pytest.approx(run.evals[-1][1]["top1"])
