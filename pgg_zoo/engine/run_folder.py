"""The run folder (``work_dir``): where a run lives, what identifies it, and the records it
leaves for those who read it later.

A run folder holds one run, and one process writes it: an exclusive lock
(:class:`RunFolderLock`, ``.pgg-zoo.lock``) is held for the whole run, so a second ``pgg-zoo
train`` into the same folder is refused in one line, and a lock left by a process that died is
noticed and taken over. It holds ``run.json`` (task, data identity, task options and run options;
read by ``pgg-zoo report``), ``config.yaml`` (the same options in the configuration-file layout,
for ``pgg-zoo train --config`` and ``pgg-zoo eval RUN_DIR``), mmengine's checkpoints, the
metrics and the final ``model.safetensors``. A folder that holds another run is refused before
anything is built or written; a resumed run must have the options its ``config.yaml`` records;
``last_checkpoint`` names its checkpoint relative to the folder, so a copied or moved folder
resumes from its own files.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import sys
import time
from pathlib import Path
from typing import Any, Iterator, Mapping

from ..atomic import write_text_atomic
from ..config import (CONFIG_FILE, PLACE_OPTIONS, RUN_FILE, RunConfig, read_config_file,
                      write_config_file)
from ..config.file import plain_value
from .protocol import EngineTask

#: The trained task model's weights, written at the end of training.
WEIGHTS_FILE = "model.safetensors"
#: The lock a run holds on its folder while it runs (its content names the holder).
LOCK_FILE = ".pgg-zoo.lock"
#: The file naming the newest checkpoint (mmengine's name), relative to the folder.
LAST_CHECKPOINT = "last_checkpoint"


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
    names = [n for n in (RUN_FILE, LAST_CHECKPOINT, WEIGHTS_FILE)
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
    if resume and (work_dir / CONFIG_FILE).is_file():
        check_resume_options(task, work_dir)
    return bool(found)


def option_differences(task: EngineTask, saved_task_options: Mapping[str, Any],
                       saved_run: Mapping[str, Any]) -> list[str]:
    """``name=<now> (saved <then>)`` for every option of ``task`` that differs from the saved
    ones, except :data:`~pgg_zoo.config.PLACE_OPTIONS` (where and how the run executes)."""
    out = []
    now = {**{("task", k): v for k, v in task.options.items()},
           **{("run", k): v for k, v in task.run.to_dict().items() if k not in PLACE_OPTIONS}}
    then = {**{("task", k): v for k, v in saved_task_options.items()},
            **{("run", k): v for k, v in saved_run.items() if k not in PLACE_OPTIONS}}
    for key in sorted(set(now) | set(then), key=lambda kv: kv[1]):
        a, b = plain_value(now.get(key)), plain_value(then.get(key))
        if a != b:
            out.append(f"{key[1]}={a!r} (saved {b!r})")
    return out


def check_resume_options(task: EngineTask, work_dir: Path) -> None:
    """Refuse to resume the run in ``work_dir`` with options other than those its
    ``config.yaml`` records: the folder must go on describing its weights.

    Raises:
        RunFolderError: naming every option that differs, and how to resume instead.
    """
    saved = read_config_file(work_dir / CONFIG_FILE)
    diff = option_differences(task, saved.task_options, saved.run)
    if diff:
        raise RunFolderError(
            f"cannot resume the run in {work_dir}: {len(diff)} option(s) differ from its "
            f"{CONFIG_FILE}: {', '.join(diff)}; resume it with its own options (pgg-zoo train "
            f"--config {work_dir / CONFIG_FILE} --work-dir {work_dir} --resume) or train into "
            "another --work-dir; nothing was changed")


def last_checkpoint(work_dir: Path) -> Path | None:
    """The checkpoint ``work_dir/last_checkpoint`` names, inside ``work_dir``; None when the
    folder has none.

    The file holds a name relative to the folder. An absolute path (written by pgg_zoo 0.1
    before this rule, or by plain mmengine) is read by its file name inside this folder, so a
    copied folder does not resume from the original's checkpoint and a moved one finds its own.

    Raises:
        RunFolderError: the named checkpoint is not in the folder.
    """
    record = work_dir / LAST_CHECKPOINT
    if not record.is_file():
        return None
    name = record.read_text("utf-8").strip()
    path = work_dir / Path(name).name if Path(name).is_absolute() else work_dir / name
    if not path.is_file():
        raise RunFolderError(f"{record} names checkpoint {name}, which is not in {work_dir}; "
                             "resume from a checkpoint file instead (--resume PATH) or train "
                             "into another --work-dir")
    return path


def launch_rank(launcher: str) -> int:
    """This process's rank as its launcher's environment gives it (before any process group
    exists): the rank that owns the run folder is 0."""
    var = {"pytorch": "RANK", "slurm": "SLURM_PROCID", "mpi": "OMPI_COMM_WORLD_RANK"}.get(
        launcher)
    try:
        return int(os.environ.get(var, "0")) if var else 0
    except ValueError:
        return 0


class RunFolderLock:
    """An exclusive, advisory lock on a run folder for the whole run (``fcntl.flock`` on
    :data:`LOCK_FILE`): the operating system releases it when the process ends, however it
    ends. The file's content names the holder (pid, host, start time) and is emptied on a
    clean release, so a lock found with content but not held was left by a process that
    died: it is taken over, and said so.
    """

    def __init__(self, work_dir: Path) -> None:
        self.path = Path(work_dir) / LOCK_FILE
        self._fd: int | None = None
        #: The holder a dead process left in the file, when this lock took it over.
        self.stale: str | None = None

    def acquire(self) -> "RunFolderLock":
        """Take the lock or raise :class:`RunFolderError` naming the run that holds it."""
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read_fd(fd) or "another process"
            os.close(fd)
            raise RunFolderError(
                f"work dir {self.path.parent} is in use by another run ({holder}): wait for it "
                "to end or choose another --work-dir; nothing was changed") from None
        self.stale = _read_fd(fd) or None
        os.ftruncate(fd, 0)
        os.pwrite(fd, (f"pid {os.getpid()} on {socket.gethostname()} since "
                       f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n").encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Empty the holder record and release the lock (a clean end)."""
        if self._fd is None:
            return
        import fcntl

        try:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None


def _read_fd(fd: int) -> str:
    try:
        return os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
    except OSError:
        return ""


@contextlib.contextmanager
def claimed_run_folder(task: EngineTask) -> Iterator[tuple[Path, bool]]:
    """Claim the task's run folder for this run: create it, take its lock (rank 0 of a
    distributed run; the other ranks write nothing of their own there), refuse a folder that
    holds another run (:func:`check_run_folder`); yield ``(work_dir, had_run)``; release the
    lock when the run ends.

    A folder this call created is removed again when the run fails before writing anything
    but the lock, so a refused or broken start leaves no trace.

    Raises:
        RunFolderError: the folder cannot be created or written (a file in the way, no
            permission, disk full), is in use by another run, or holds another run.
    """
    work_dir = work_dir_of(task)
    owner = launch_rank(task.run.launcher) == 0
    created = not work_dir.exists()
    try:
        work_dir.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise RunFolderError(f"work dir {work_dir}: a file is in the way (a part of the path is "
                             "not a folder); choose another --work-dir") from None
    except OSError as exc:
        raise RunFolderError(f"work dir {work_dir}: cannot create it ({exc.strerror}); choose "
                             "another --work-dir") from None
    lock = RunFolderLock(work_dir)
    if owner:
        try:
            lock.acquire()
        except OSError as exc:
            _remove_if_empty(work_dir, created)
            raise RunFolderError(f"work dir {work_dir}: cannot write to it ({exc.strerror}); "
                                 "choose another --work-dir") from None
        if lock.stale:
            print(f"pgg-zoo: {work_dir}: the run that held this folder ({lock.stale}) ended "
                  "without releasing it; taking it over", file=sys.stderr)
    try:
        had_run = check_run_folder(task, work_dir)
        yield work_dir, had_run
    except BaseException:
        lock.release()
        _remove_if_empty(work_dir, created)
        raise
    lock.release()


def _remove_if_empty(work_dir: Path, created: bool) -> None:
    """Remove a folder this run created when it holds nothing but the (released) lock."""
    if not created:
        return
    try:
        left = [p.name for p in work_dir.iterdir()]
        if set(left) <= {LOCK_FILE}:
            shutil.rmtree(work_dir, ignore_errors=True)
    except OSError:
        pass


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
    write_text_atomic(work_dir / RUN_FILE, json.dumps(payload, indent=2, default=str))


def _write_config_file(task: EngineTask, work_dir: Path) -> None:
    """``config.yaml``: the task, its task options and its run options (enough to recreate the
    run with ``pgg-zoo train --config``). ``resume`` is written as False: the file describes
    the run, and a run recreated from it starts afresh."""
    write_config_file(work_dir / CONFIG_FILE, task.name, task.options,
                      task.run.replace(resume=False), data=task_data_identity(task),
                      build_info=task.build_info)
