"""Tasks: the base class a task plugin subclasses, how tasks are registered and built, and the
study vocabulary.

* :mod:`.base`: :class:`Task` (task options and run options apart), :class:`TaskModel`.
* :mod:`.building`: :func:`register_task`, :func:`build`, :func:`build_from_config`,
  :func:`load_config`, :func:`load_run`.
* :mod:`.backbones`: the ``backbone`` option checked against the registry.
* :mod:`.variants`: demo / ablation / mode variants and what makes one guided.
"""
from ..config import ConfigError, RunConfig
from .backbones import resolve_backbone, task_backbones
from .base import Task, TaskModel, seeded_generator
from .building import (build, build_from_config, load_config, load_run, register_task,
                       split_options)

__all__ = ["ConfigError", "RunConfig", "Task", "TaskModel", "build", "build_from_config",
           "load_config", "load_run", "register_task", "resolve_backbone", "seeded_generator",
           "split_options", "task_backbones"]
