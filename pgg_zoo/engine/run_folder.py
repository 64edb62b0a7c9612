"""The run folder (``work_dir``): where a run lives, what identifies it, and the records it
leaves for those who read it later.

A run folder holds one run: ``run.json`` (task, data identity, task options and run options;
read by ``pgg-zoo report``), ``config.yaml`` (the same options in the configuration-file layout,
for ``pgg-zoo train --config`` and ``pgg-zoo eval RUN_DIR``), mmengine's checkpoints, the
metrics and the final ``model.safetensors``. A folder that holds another run is refused before
anything is built or written.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping

from ..config import CONFIG_FILE, RUN_FILE, RunConfig, write_config_file
from .protocol import EngineTask

#: The trained task model's weights, written at the end of training.
WEIGHTS_FILE = "model.safetensors"


class RunFolderError(ValueError):
    """A work dir that holds another run (reused without ``resume``, or another data set)."""


def data_identity(options: Mapping[str, Any], run: RunConfig) -> str:
    """A short name of the data a run trains on, for folder names and ``run.json``.

    ``embedded-<benchmark>`` for a task's embedded benchmark (``data_root`` None); otherwise
    ``<folder name>-<8 hex digits>``, the digits hashing the resolved ``data_root`` together with
    the task options ``metadata_root`` and ``dataset`` when the task has them (wsolevaluation
    metadata), so two data sets never share a name even when their folders are both called
    ``CUB_200_2011``.
    """
    if run.data_root is None:
        bench = options.get("benchmark")
        return f"embedded-{bench}" if bench else "embedded"
    resolved = Path(run.data_root).expanduser().resolve()
    key = [str(resolved)]
    if options.get("metadata_root") is not None:
        key.append(str(Path(str(options["metadata_root"])).expanduser().resolve()))
        key.append(str(options.get("dataset")))
    digest = hashlib.sha256("\n".join(key).encode()).hexdigest()[:8]
    name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in resolved.name) or "data"
    return f"{name}-{digest}"


def task_data_identity(task: EngineTask) -> str:
    """:func:`data_identity` of a built task."""
    return data_identity(task.options, task.run)


def default_work_dir(task: EngineTask) -> Path:
    """``work_dirs/<task>/<data>/<backbone>_<synth>_<guided|plain>_s<seed>`` below the current
    folder; ``<data>`` is :func:`data_identity` (the embedded benchmark or a hash of the data
    folder), so runs on different data never share a folder, nor resume each other."""
    o = task.options
    guided = f"pgg{o['alpha']:g}-{o['guidance_mask']}" if task.guidance.active else "plain"
    return (Path("work_dirs") / task.name / task_data_identity(task)
            / f"{o['backbone']}_{o['synthesizer']}_{guided}_s{task.run.seed}")


def work_dir_of(task: EngineTask) -> Path:
    """The task's run folder: its ``work_dir`` run option, else :func:`default_work_dir`."""
    return Path(task.run.work_dir or default_work_dir(task))


def _run_artifacts(work_dir: Path) -> list[str]:
    names = [n for n in (RUN_FILE, "last_checkpoint", WEIGHTS_FILE)
             if (work_dir / n).exists()]
    return names + sorted(p.name for p in work_dir.glob("*.pth"))


def check_run_folder(task: EngineTask, work_dir: Path) -> bool:
    """Refuse a work dir that already holds a run, before anything is built or written.

    Without ``resume`` an existing run (``run.json``, ``last_checkpoint``, ``model.safetensors``
    or ``*.pth``) is an error: reusing the folder would append to its ``metrics.jsonl``, leave
    its checkpoints beside the new ones and point ``last_checkpoint`` at the new run. With
    ``resume`` the run must be of the same task on the same data (``run.json``). Returns
    whether a run is there.
    """
    found = _run_artifacts(work_dir) if work_dir.is_dir() else []
    resume = task.run.resume_mode is not None
    if found and not resume:
        raise RunFolderError(
            f"work dir {work_dir} already holds a run ({', '.join(found[:4])}"
            f"{', ...' if len(found) > 4 else ''}): pass --resume (resume=True) to continue it, "
            "or choose another --work-dir (--out-dir for demo, ablate, modes and alpha); "
            "nothing was changed")
    info = work_dir / RUN_FILE
    if resume and info.is_file():
        try:
            old = json.loads(info.read_text("utf-8"))
        except (OSError, ValueError):
            old = {}
        mine = {"task": task.name, "data": task_data_identity(task)}
        for key, value in mine.items():
            if key in old and old[key] != value:
                raise RunFolderError(
                    f"cannot resume: work dir {work_dir} holds a run with {key} "
                    f"{old[key]!r}, this one has {value!r}; choose another --work-dir")
    return bool(found)


def write_run_records(task: EngineTask, work_dir: Path) -> None:
    """Write ``run.json`` and ``config.yaml`` into ``work_dir`` where they are missing (a
    resumed run keeps the records of the run it continues)."""
    if not (work_dir / RUN_FILE).is_file():
        _write_run_file(task, work_dir)
    if not (work_dir / CONFIG_FILE).is_file():
        _write_config_file(task, work_dir)


def _write_run_file(task: EngineTask, work_dir: Path) -> None:
    """``run.json``: what the folder's run trains (task, data, task options, run options)."""
    payload = {"task": task.name, "data": task_data_identity(task),
               "task_options": task.options, "run": task.run.to_dict()}
    tmp = work_dir / (RUN_FILE + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str), "utf-8")
    os.replace(tmp, work_dir / RUN_FILE)


def _write_config_file(task: EngineTask, work_dir: Path) -> None:
    """``config.yaml``: the task, its task options and its run options (enough to recreate the
    run with ``pgg-zoo train --config``). ``resume`` is written as False: the file describes
    the run, and a run recreated from it starts afresh."""
    write_config_file(work_dir / CONFIG_FILE, task.name, task.options,
                      task.run.replace(resume=False), data=task_data_identity(task),
                      build_info=task.build_info)
