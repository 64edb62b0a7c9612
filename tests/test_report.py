"""`pgg-zoo report`: the page holds the config differences, the metric tables (mean ± std over
seeds, paired differences), the leakage and the figures, all inline."""
from __future__ import annotations

import base64
import json
import math
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pgg_zoo.cli.main import main as cli
from pgg_zoo.report import collect_runs, run_config, variant_details


class Page(HTMLParser):
    """Tables as lists of rows of cell texts, headings, image sources and warnings."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.headings: list[str] = []
        self.images: list[str] = []
        self.links: list[str] = []
        self.warnings: list[str] = []
        self._cell: list[str] | None = None
        self._warn: list[str] | None = None
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
        elif tag == "p" and a.get("class") == "warn":
            self._warn = []
        elif tag in ("link", "script") or (tag == "a" and a.get("href")):
            self.links.append(a.get("href") or a.get("src") or tag)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag in ("h1", "h2", "h3") and self._heading is not None:
            self.headings.append("".join(self._heading).strip())
            self._heading = None
        elif tag == "p" and self._warn is not None:
            self.warnings.append("".join(self._warn).strip())
            self._warn = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._heading is not None:
            self._heading.append(data)
        if self._warn is not None:
            self._warn.append(data)


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
    # metrics: one row per variant (named after its folders, the seed token aside), mean ±
    # sample std over the two seeds; "seeds" counts them
    metrics = next(t for t in page.tables if t[0][:2] == ["variant", "seeds"])
    rows = {r[0]: dict(zip(metrics[0], r)) for r in metrics[1:]}
    assert rows["a0.0"]["top1"] == "55.00 ± 7.07 (n=2)" and rows["a0.0"]["seeds"] == "2"
    assert rows["a0.05"]["top1"] == "58.50 ± 4.95 (n=2)"
    assert rows["a0.05"]["leakage"].startswith("35.00")
    assert rows["cutmix+pgg"]["top1"] == "73.50"  # the study's variants are rows too
    assert rows["cutmix+pgg"]["seeds"] == "1"
    # the full configuration difference of each variant, below the metrics
    details = dict(next(t for t in page.tables if t[0] == ["variant", "configuration"])[1:])
    # (synthesizer is cutmix everywhere; the study leaves alpha and backbone to the defaults)
    assert details["a0.05"] == "alpha=0.05, backbone=tiny_cam, epochs=2, guidance=True"
    assert details["cutmix+pgg"] == "alpha=(unset), backbone=(unset), epochs=1, guidance=True"
    # paired differences to the unguided runs: +5 and +2 -> 3.50 ± 2.12
    paired = next(t for t in page.tables if t[0][:2] == ["variant", "paired seeds"])
    prow = {r[0]: dict(zip(paired[0], r)) for r in paired[1:]}
    assert prow["a0.05"]["top1"] == "+3.50 ± 2.12 (n=2)" and prow["a0.05"]["paired seeds"] == "2"
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
                  leakage_items=32, work_dir=str(work)).train()
    (run,) = collect_runs([work])
    assert run.task == "decoy" and run.seed == 0 and run.config["epochs"] == 2
    # the engine evaluates once, at the end; losses are logged every few iterations
    assert [e for e, _ in run.evals] == [2] and len(run.leakage) >= 1 and len(run.losses) >= 2
    assert run.metrics["top1"] == pytest.approx(run.evals[-1][1]["top1"])


# -- hand-made folders: run.json (either layout) and metrics.json, no training ----------------
def _folder(folder: Path, options: dict, metrics: dict | None = None, *,
            apart: tuple[str, ...] | None = None, task: str = "wsol") -> str:
    """A run folder; ``apart`` names the task options of ``options`` to store run.json in the
    layout with ``task_options`` and ``run`` apart (the rest are run options)."""
    folder.mkdir(parents=True)
    if apart is None:
        meta = {"task": task, "data": "embedded", "config": options}
    else:
        meta = {"task": task, "data": "embedded",
                "task_options": {k: v for k, v in options.items() if k in apart},
                "run": {k: v for k, v in options.items() if k not in apart}}
    (folder / "run.json").write_text(json.dumps(meta))
    if metrics is not None:
        (folder / "metrics.json").write_text(json.dumps({"epoch": 1, "split": "test",
                                                         "metrics": metrics}))
    return str(folder)


def _page(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text())
    return page


def _rows(page: Page, head: list[str]) -> dict[str, dict[str, str]]:
    table = next(t for t in page.tables if t[0][:len(head)] == head)
    return {r[0]: dict(zip(table[0], r)) for r in table[1:]}


def test_paired_to_an_unknown_variant_is_a_one_line_error(tmp_path, capsys):
    runs = [_folder(tmp_path / name, {"guidance": guided, "seed": 0}, {"top1": 50.0})
            for name, guided in (("plain", False), ("pgg", True))]
    out = tmp_path / "r.html"
    for extra in ([], ["--markdown"]):
        assert cli(["report", *runs, "-o", str(out), "--paired-to", "NOSUCHVARIANT",
                    *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "'NOSUCHVARIANT'" in err
        assert "'plain'" in err and "'pgg'" in err  # the variants there are
        assert not out.exists()


def test_nan_and_inf_metrics_are_flagged_not_dropped(tmp_path, capsys):
    runs = []
    for seed, (plain, pgg, leak) in enumerate([(50.0, math.nan, 10.0), (60.0, 62.0, math.inf)]):
        runs.append(_folder(tmp_path / f"plain_s{seed}", {"guidance": False, "seed": seed},
                            {"top1": plain, "leakage": 20.0}))
        runs.append(_folder(tmp_path / f"pgg_s{seed}", {"guidance": True, "seed": seed},
                            {"top1": pgg, "leakage": leak}))
    out = tmp_path / "r.html"
    assert cli(["report", *runs, "-o", str(out)]) == 0
    err = capsys.readouterr().err
    # one line per metric, naming the folders that hold the failed value
    top1 = next(line for line in err.splitlines() if "'top1'" in line)
    assert "pgg_s0" in top1 and "plain_s" not in top1 and "pgg_s1" not in top1
    leakage = next(line for line in err.splitlines() if "'leakage'" in line)
    assert "pgg_s1" in leakage and "inf" in leakage
    page = _page(out)
    rows = _rows(page, ["variant", "seeds"])
    assert rows["plain"]["top1"] == "55.00 ± 7.07 (n=2)"
    # the mean of (nan, 62) is nan, not 62; the mean of (10, inf) is inf
    assert rows["pgg"]["top1"] == "nan! (n=2)" and rows["pgg"]["leakage"] == "inf! (n=2)"
    paired = _rows(page, ["variant", "paired seeds"])
    assert paired["pgg"]["top1"] == "nan! (n=2)" and paired["pgg"]["leakage"] == "+inf! (n=2)"
    assert 'class="num bad">nan! (n=2)<' in out.read_text()  # coloured, not only marked
    assert any("'top1'" in w and "pgg_s0" in w for w in page.warnings)
    # the markdown summary flags them too, with the per-seed values
    assert cli(["report", "--markdown", *runs]) == 0
    md = capsys.readouterr().out
    assert "| pgg | nan! [nan, 62.0] | inf! [10.0, inf] |" in md


def test_a_null_metric_reads_as_nan(tmp_path):
    (run,) = collect_runs([_folder(tmp_path / "r", {"seed": 0}, {"top1": None})])
    assert math.isnan(run.metrics["top1"])


def test_run_folders_are_named_by_study_variant_or_folder(tmp_path):
    long = {f"option_{i}": f"value_{i}" for i in range(12)}  # a long configuration difference
    study, folders = tmp_path / "study", []
    for seed in (0, 1):
        variants = {"cutmix": {"guidance": False}, "cutmix+pgg": {"guidance": True, **long}}
        (study / f"s{seed}").mkdir(parents=True)
        (study / f"s{seed}" / "metrics.json").write_text(json.dumps({
            "task": "wsol", "seed": seed, "variants": variants,
            "results": {"cutmix": {"top1": 50.0}, "cutmix+pgg": {"top1": 51.0}}}))
        for name, sub in (("cutmix", "cutmix"), ("cutmix+pgg", "cutmix_pgg")):
            folders.append(_folder(study / f"s{seed}" / sub, {**variants[name], "seed": seed},
                                   {"top1": 50.0 + seed}))
    runs = collect_runs(folders)
    # the study's variant names, seeds of one variant together
    assert [(r.variant, r.seed) for r in runs] == [("cutmix", 0), ("cutmix+pgg", 0),
                                                  ("cutmix", 1), ("cutmix+pgg", 1)]
    # folders outside a study: by their folder name; the same name twice gets its parent
    other = [_folder(tmp_path / d / "run", {"lr": lr, "seed": 0}, {"top1": 1.0})
             for d, lr in (("x", 0.1), ("y", 0.2))]
    other.append(_folder(tmp_path / "z" / "solo", {"lr": 0.3, "seed": 0}, {"top1": 1.0}))
    assert [r.variant for r in collect_runs(other)] == ["x/run", "y/run", "solo"]
    # the page: short names in the tables, the full difference in the details row
    out = tmp_path / "r.html"
    assert cli(["report", *folders, "-o", str(out)]) == 0
    page = _page(out)
    assert set(_rows(page, ["variant", "seeds"])) == {"cutmix", "cutmix+pgg"}
    details = _rows(page, ["variant", "configuration"])
    assert details["cutmix+pgg"]["configuration"] == "guidance=True, " + ", ".join(
        f"option_{i}=value_{i}" for i in sorted(range(12), key=lambda i: f"option_{i}"))
    assert details["cutmix"]["configuration"].startswith("guidance=False, option_0=(unset)")


def _image_size(src: str) -> tuple[int, int]:
    import io

    from PIL import Image

    return Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).size


def test_the_curve_legend_does_not_widen_the_figure(tmp_path):
    # four configurations that differ in many options (names of ~200 characters before)
    folders = []
    for v in range(4):
        d = tmp_path / f"v{v}"
        _training_run(d, 0, 0.01 * v, [40.0, 50.0], leak=30.0)
        meta = json.loads((d / "run.json").read_text())
        meta["config"].update({f"a_rather_long_option_name_{i}": f"{v}-{i}" for i in range(8)})
        (d / "run.json").write_text(json.dumps(meta))
        folders.append(str(d))
    out = tmp_path / "r.html"
    assert cli(["report", *folders, "-o", str(out)]) == 0
    (curve,) = _page(out).images
    # 16 inches at 100 dpi: a legend wider than the panels would widen the PNG, and the page
    # scales it down to its width, shrinking the plots
    assert _image_size(curve)[0] <= 1650
    # variant names of any length (a study's) are cut in the legend
    from pgg_zoo.report_html import _png
    from pgg_zoo.viz import curves_figure

    runs = collect_runs(folders)
    for r in runs:
        r.variant = r.variant + "x" * 200
    assert _image_size("," + _png(curves_figure("t", runs, "top1")))[0] <= 1650


def test_reads_run_json_with_one_config(tmp_path):
    (run,) = collect_runs([_folder(tmp_path / "old", {"backbone": "tiny_cam", "epochs": 2,
                                                       "seed": 3}, {"top1": 1.0})])
    assert run.task == "wsol" and run.seed == 3
    assert run.config == {"backbone": "tiny_cam", "epochs": 2, "seed": 3}


def test_reads_run_json_with_task_and_run_options_apart(tmp_path):
    options = {"backbone": "tiny_cam", "synthesizer": "cutmix", "epochs": 2, "seed": 3}
    new = _folder(tmp_path / "new", options, {"top1": 1.0}, apart=("backbone", "synthesizer"))
    meta = json.loads((tmp_path / "new" / "run.json").read_text())
    assert "config" not in meta and meta["run"] == {"epochs": 2, "seed": 3}  # the new layout
    (run,) = collect_runs([new])
    assert run.task == "wsol" and run.seed == 3 and run.config == options
    # a run of the old layout with the same options (another seed) is a seed of that variant
    old = _folder(tmp_path / "old", {**options, "seed": 4}, {"top1": 2.0})
    runs = collect_runs([new, old])
    assert len({r.variant for r in runs}) == 1 and variant_details(runs) == {runs[0].variant: ""}
    # the flat view is {**task_options, **run}
    assert run_config({"task_options": {"epochs": 1, "a": 1}, "run": {"epochs": 2}}) == \
        {"epochs": 2, "a": 1}
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "run.json").write_text(json.dumps({"task": "wsol", "run": [1]}))
    with pytest.raises(ValueError, match=r"bad/run.json: 'run' must be a JSON object"):
        collect_runs([tmp_path / "bad"])


def test_markdown_report_of_run_folders(tmp_path, capsys):
    runs = []
    for seed, (plain, pgg) in enumerate([(50.0, 55.0), (60.0, 62.0)]):
        runs.append(_folder(tmp_path / f"plain_s{seed}", {"guidance": False, "seed": seed},
                            {"top1": plain}))
        runs.append(_folder(tmp_path / f"pgg_s{seed}", {"guidance": True, "seed": seed},
                            {"top1": pgg}))
    assert cli(["report", "--markdown", *runs]) == 0
    md = capsys.readouterr().out
    assert md.startswith("wsol, seeds [0, 1]")
    assert "| plain | 55.00 ± 7.07 [50.0, 60.0] |" in md
    assert "- `pgg`: guidance=True" in md
    # paired to the unguided twin: +5, +2 -> +3.50 ± 2.12
    assert "Paired differences to plain" in md and "| pgg | +3.50 ± 2.12 [+5.0, +2.0] |" in md
    out = tmp_path / "summary.md"
    assert cli(["report", "--markdown", *runs, "--paired-to", "pgg", "-o", str(out)]) == 0
    assert "| plain | -3.50 ± 2.12 [-5.0, -2.0] |" in out.read_text()
    # the markdown-only options say so without --markdown
    assert cli(["report", *runs, "--penalty-share", "-o", str(tmp_path / "r.html")]) == 2
    assert "--markdown" in capsys.readouterr().err


def test_study_tables_flag_nan():
    from pgg_zoo.viz import format_table

    table = format_table({"a": {"top1": math.nan, "x": 1.0, "y": -math.inf}}, ["top1", "x", "y"])
    assert table.splitlines()[-1] == "| a | nan! | 1.00 | -inf! |"
