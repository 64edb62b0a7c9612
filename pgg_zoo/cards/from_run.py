"""A model card from a finished training run (``pgg-zoo new-card RUN_DIR --name NAME``).

Everything is read from the run folder: the task and its options from ``config.yaml`` (or
``run.json`` of older runs), the weights from ``model.safetensors``. The weights are copied next
to the card, evaluated with the same code path as ``pgg-zoo eval RUN_DIR`` (so the card's numbers
are reproducible by anyone), and the YAML card is written with the file's sha256, size and
parameter count. The card's ``recipe`` is the ``pgg-zoo train`` command that recreates the run
(the options that differ from the task's defaults) unless one is given.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Where and how a run executed is left out of the recreating command: the user picks their own.
from ..atomic import write_text_atomic
from ..config import PLACE_OPTIONS


CITATION = ("@inproceedings{nagano2026pgg,\n  title={Learning from Synthetic Data via "
            "Provenance-Based Input Gradient Guidance},\n  author={Nagano and others},\n"
            "  booktitle={CVPR}, year={2026}\n}\n")


@dataclass
class CardRequest:
    """What :func:`card_from_run` needs beyond the run folder.

    Attributes:
        name: the card name (``NAME_RE`` of the schema).
        out_dir: the card folder (the weights are copied beside the YAML file).
        recipe: the exact ``pgg-zoo`` command; None: the train command recreating the run.
        dataset: the data set name the metrics are keyed by; None: the run's benchmark or data
            folder name.
        presets: protocol suffixes for metric names, first match wins; None: the run's
            ``preset`` / ``protocol`` option, then the task name.
        modality: ``image``, ``video`` or ``keypoint``; None: by task.
        input_size: ``[side]`` or ``[H, W]`` (``[persons, joints]`` for keypoint) for tasks
            without an ``image_size`` option.
        clip_len: frames per sample (keypoint cards).
        mean, std: the input normalization.
        notes: free text.
    """

    name: str
    out_dir: Path
    recipe: str | None = None
    dataset: str | None = None
    presets: list[str] | None = None
    modality: str | None = None
    input_size: list[int] | None = None
    clip_len: int | None = None
    mean: list[float] = field(default_factory=lambda: [0.485, 0.456, 0.406])
    std: list[float] = field(default_factory=lambda: [0.229, 0.224, 0.225])
    notes: str = ""


def protocol_names(metrics: dict[str, float], presets: list[str]) -> dict[str, float]:
    """Keep metrics under their registered protocol names (``maxboxacc_v2[wsoleval]``): the
    name itself, else ``name[preset]`` for the given presets in order, else the one registered
    ``name[...]`` (the first in sorted order when several are)."""
    from ..registry import METRICS

    registered = set(METRICS.names())
    out = {}
    for k, v in metrics.items():
        others = sorted(n for n in registered if n.startswith(f"{k}["))
        for name in (k, *(f"{k}[{p}]" for p in presets if p), *others):
            if name in registered:
                out[name] = round(float(v), 4)
                break
    return out


def changed_options(task: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(task options, run options)`` of ``task`` that differ from its task's defaults,
    except :data:`PLACE_OPTIONS` and the card it was initialized from (``weights``)."""
    cls = type(task)
    opts = cls.default_options()
    run = cls.default_run().to_dict()
    return ({k: v for k, v in task.options.items() if k != "weights" and opts.get(k) != v},
            {k: v for k, v in task.run.to_dict().items()
             if k not in PLACE_OPTIONS and run[k] != v})


def train_command(task: Any) -> str:
    """The ``pgg-zoo train`` command that recreates ``task``'s run (``--set`` per changed
    option, JSON values)."""
    parts = ["pgg-zoo", "train", task.name]
    if task.build_info.get("recipe"):
        parts = ["pgg-zoo", "train", "--recipe", str(task.build_info["recipe"])]
    if task.options.get("weights"):
        parts += ["--set", f"weights={task.options['weights']}"]
    task_changed, run_changed = changed_options(task)
    for k, v in {**task_changed, **run_changed}.items():
        parts += ["--set", f"{k}={json.dumps(v)}"]
    return " ".join(parts)


def default_dataset(task: Any) -> str:
    """The data set name of the run: its embedded benchmark, or its data folder's name."""
    if task.run.data_root is None:
        return str(task.options.get("benchmark") or "embedded")
    return Path(task.run.data_root).name


def card_from_run(run_dir: str | Path, request: CardRequest, *,
                  scratch: str | Path | None = None) -> Path:
    """Write the card of the run in ``run_dir`` (and a copy of its weights) into
    ``request.out_dir``; return the card's path.

    The run is evaluated again from the copied weights into ``scratch`` (default
    ``<out_dir>/.eval/<name>``), never into the run folder.

    Raises:
        FileNotFoundError: the folder holds no run or no weights.
        ConfigError: the saved configuration is not valid for the installed task.
        CardError: the card written would not be valid (it is checked by reading it back).
    """
    import yaml

    from ..task import load_run
    from .download import sha256_file
    from .schema import CardError
    from .store import read_card

    run_dir = Path(run_dir)
    out_dir = Path(request.out_dir)
    task = load_run(run_dir, work_dir=str(scratch or out_dir / ".eval" / request.name))
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = out_dir / f"{request.name}.safetensors"
    tmp = weights.with_name(weights.name + ".tmp")
    shutil.copyfile(run_dir / "model.safetensors", tmp)
    tmp.replace(weights)
    dataset = request.dataset or default_dataset(task)
    metrics = task.evaluate(checkpoint=str(weights))
    o = task.options
    modality = request.modality or {"stad": "video", "keypoint": "keypoint"}.get(task.name,
                                                                                "image")
    given = list(request.input_size or [])
    size = [int(o["image_size"])] * 2 if o.get("image_size") else \
        (given * 2)[:2] if len(given) == 1 else given
    presets = request.presets or [*(str(o[k]) for k in ("preset", "protocol") if o.get(k)),
                                  task.name]
    card: dict[str, Any] = {
        "name": request.name,
        "task": task.name,
        "origin": "pgg_zoo",
        "modality": modality,
        "backbone": o["backbone"],
        "synthesizer": o["synthesizer"],
        "guidance": {"alpha": float(o["alpha"]) if o["guidance"] else 0.0,
                     "mode": o["guidance_mode"], "mask": o["guidance_mask"]},
        "training_data": [dataset],
        "metrics": {dataset: protocol_names(metrics, presets)},
        "input": {"size": size, "mean": list(request.mean), "std": list(request.std)},
        "num_classes": int(getattr(task.model, "num_classes", 0) or task.num_classes()),
        "categories": None,
        "num_params": int(sum(p.numel() for p in task.model.parameters())),
        "file_size_mb": round(weights.stat().st_size / 2**20, 3),
        "weights": {"url": weights.name, "sha256": sha256_file(weights), "hash_verified": True,
                    "size_bytes": weights.stat().st_size, "format": "safetensors"},
        "build": changed_options(task)[0],
        "license": "Apache-2.0",
        "recipe": request.recipe or train_command(task),
        "citation": CITATION,
        "notes": request.notes or ("Trained by pgg_zoo on its embedded benchmark; a "
                                   "demonstration model, not for real data."
                                   if task.run.data_root is None
                                   else f"Trained by pgg_zoo on {dataset}."),
    }
    if modality == "keypoint":
        if request.clip_len is None:
            raise CardError("a keypoint card needs clip_len (--clip-len)")
        card["input"]["clip_len"] = int(request.clip_len)
    if modality == "video":
        card["input"].update(clip_len=int(o["clip_len"]), frame_interval=int(o["clip_stride"]),
                             sampling="centered on the key frame")
    path = out_dir / f"{request.name}.yaml"
    write_text_atomic(path, "# Generated by `pgg-zoo new-card`; metrics measured by `pgg-zoo eval`.\n"
                      + yaml.safe_dump(card, sort_keys=False, width=100))
    read_card(path)  # the schema check of `pgg-zoo card`
    return path
