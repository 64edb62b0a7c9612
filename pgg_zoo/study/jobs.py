"""The runs of a study as jobs, and where they run: local worker processes
(:class:`concurrent.futures.ProcessPoolExecutor`) or an executor library (submitit: Slurm, or
its local executor). Nothing here schedules: the pool or the cluster does.

A job is one training run in its own folder. :func:`run_job` is what a worker executes: a
folder that already holds a finished run (``metrics.json``) is read, never retrained, provided
its ``config.yaml`` records the options the job declares (else the job fails, naming them); a
folder left by an interrupted run is continued (``resume="auto"``, which refuses other
options the same way).
"""
from __future__ import annotations

import os
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from .runs import finished_metrics

__all__ = ["Job", "JobResult", "run_job", "execute", "describe", "EXECUTORS",
           "StudyRunError"]

#: ``--executor`` choices: ``local`` (a process pool on this machine), ``slurm`` (submitit on
#: a Slurm cluster, job arrays), ``submitit-local`` (submitit's local executor: the Slurm code
#: path on one machine, for testing it).
EXECUTORS = ("local", "slurm", "submitit-local")


class StudyRunError(RuntimeError):
    """Some runs of a study failed (the others are kept; running the study again resumes)."""


@dataclass(frozen=True)
class Job:
    """One training run of a study: ``pgg_zoo.build(task, **options)`` then ``train()``.

    ``phase`` is ``select`` (``name`` is the alpha's run name), ``test`` or ``curves``
    (``name`` is the variant); ``options`` holds every task and run option, ``seed`` and ``work_dir`` included.
    """

    phase: str
    name: str
    seed: int
    task: str
    options: dict[str, Any] = field(hash=False)
    alpha: float | None = None
    threads: int = 1

    @property
    def work_dir(self) -> Path:
        return Path(self.options["work_dir"])

    @property
    def label(self) -> str:
        return f"{self.phase} s{self.seed} {self.name}"


@dataclass
class JobResult:
    """What a worker reports: the run's metrics, when it ran (``time.time()`` at start and
    end, in the worker), in which process, and whether a finished run was only read."""

    phase: str
    name: str
    seed: int
    alpha: float | None
    work_dir: str
    metrics: dict[str, float]
    started: float
    ended: float
    pid: int
    reused: bool
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _has_run_records(work_dir: Path) -> bool:
    names = ("run.json", "last_checkpoint", "model.safetensors")
    return work_dir.is_dir() and (any((work_dir / n).exists() for n in names)
                                  or any(work_dir.glob("*.pth")))


def run_job(job: Job) -> JobResult:
    """Train ``job`` (in this process, with ``job.threads`` torch threads) unless its folder
    holds a finished run; never raises for a failed run (the result carries the error)."""
    started = time.time()

    def result(metrics: dict[str, float], reused: bool, error: str = "") -> JobResult:
        return JobResult(job.phase, job.name, job.seed, job.alpha, str(job.work_dir),
                         metrics, started, time.time(), os.getpid(), reused, error)

    done = finished_metrics(job.work_dir)
    if done is not None:
        try:
            from .declared import folder_differences

            diff = folder_differences(job.task, job.options, job.work_dir)
        except Exception:  # noqa: BLE001 - an unreadable config.yaml is reported per run
            return result({}, reused=True, error=traceback.format_exc(limit=4))
        if diff:
            return result({}, reused=True, error=(
                f"{job.work_dir} holds a finished run trained with other options than the "
                f"study file declares: {'; '.join(diff)}. Remove the folder to train it again "
                "(or restore the file)"))
        return result(done, reused=True)
    try:
        import torch

        from ..task import build

        if job.threads > 0:
            torch.set_num_threads(job.threads)
        options = dict(job.options)
        if _has_run_records(job.work_dir):
            options["resume"] = "auto"  # an interrupted run: continue it
        task = build(job.task, **options)
        return result(dict(task.train()), reused=False)
    except Exception:  # noqa: BLE001 - reported per run; the study goes on with the others
        return result({}, reused=False, error=traceback.format_exc(limit=8))


def _spawned_worker(threads: int) -> None:
    # a fresh interpreter per worker (spawn): no torch thread pool inherited through fork
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))


def execute(jobs: Sequence[Job], *, executor: str = "local", workers: int = 1,
            folder: str | Path | None = None, executor_options: dict[str, Any] | None = None,
            on_result: Callable[[JobResult], None] | None = None) -> list[JobResult]:
    """Run ``jobs``, at most ``workers`` at a time, and return their results (in the order
    they finished); ``on_result`` is called as each one finishes.

    ``executor``: ``local`` (``workers`` > 1: a spawn-context process pool; 1: this process),
    ``slurm`` (submitit ``AutoExecutor``, one job array, ``slurm_array_parallelism=workers``)
    or ``submitit-local`` (submitit's local executor, ``workers`` jobs at a time). ``folder`` holds
    submitit's job files; ``executor_options`` go to ``update_parameters`` (``timeout_min``,
    ``slurm_partition``, ...).
    """
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; choose from {', '.join(EXECUTORS)}")
    results: list[JobResult] = []

    def done(res: JobResult) -> None:
        results.append(res)
        if on_result is not None:
            on_result(res)

    if not jobs:
        return results
    if executor == "local":
        _local(jobs, workers, done)
    else:
        _submitit(jobs, executor, workers, folder, executor_options or {}, done)
    return results


def _local(jobs: Sequence[Job], workers: int, done: Callable[[JobResult], None]) -> None:
    if workers <= 1:
        for job in jobs:
            done(run_job(job))
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    threads = max(j.threads for j in jobs)
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_spawned_worker, initargs=(threads,))
    try:
        for future in as_completed([pool.submit(run_job, job) for job in jobs]):
            done(future.result())
    except BaseException:
        # Ctrl-C (or a failing callback): start nothing more; the runs in flight end with the
        # workers, and their folders are continued by the next `study run`
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


def _submitit(jobs: Sequence[Job], executor: str, workers: int, folder: str | Path | None,
              options: dict[str, Any], done: Callable[[JobResult], None]) -> None:
    try:
        import submitit
    except ImportError:
        raise ValueError(f"--executor {executor} needs submitit: pip install "
                         "'pgg-zoo[cluster]'") from None
    if folder is None:
        raise ValueError("the submitit executors need a folder for their job files")
    cluster = "slurm" if executor == "slurm" else "local"
    ex = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
    params = {"timeout_min": 24 * 60, "cpus_per_task": max(j.threads for j in jobs),
              "slurm_array_parallelism": max(1, workers), "name": "pgg-zoo-study"}
    params.update(options)
    ex.update_parameters(**params)

    def collect(sub: Any, job: Job) -> None:
        try:
            done(sub.result())
        except Exception as exc:  # noqa: BLE001 - the job died outside run_job (killed, timeout)
            now = time.time()
            done(JobResult(job.phase, job.name, job.seed, job.alpha, str(job.work_dir), {},
                           now, now, 0, False,
                           f"submitit job {sub.job_id} failed (logs in {folder}): {exc}"))

    if cluster == "local":
        # submitit's local executor starts whatever it is given at once (it has no array
        # parallelism): keep at most `workers` jobs in flight, submitting one as one ends
        pending, running = list(jobs), []
        while pending or running:
            while pending and len(running) < max(1, workers):
                job = pending.pop(0)
                running.append((ex.submit(run_job, job), job))
            finished = [(sub, job) for sub, job in running if sub.done()]
            if not finished:
                time.sleep(0.2)
            for sub, job in finished:
                running.remove((sub, job))
                collect(sub, job)
        return
    submitted = ex.map_array(run_job, list(jobs))
    of = {sub.job_id: job for sub, job in zip(submitted, jobs)}
    for sub in submitit.helpers.as_completed(submitted):
        collect(sub, of[sub.job_id])


def describe(results: Iterable[JobResult]) -> list[str]:
    """One line per failed run: its label, folder and the last line of its error."""
    return [f"{r.phase} s{r.seed} {r.name} ({r.work_dir}): "
            f"{r.error.strip().splitlines()[-1]}" for r in results if r.error]
