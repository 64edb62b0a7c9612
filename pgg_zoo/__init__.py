"""pgg_zoo: provenance-based input gradient guidance across tasks and modalities.

Public API::

    import pgg_zoo
    task = pgg_zoo.build("wsol", backbone="resnet18")
    task.train(epochs=2); task.evaluate()
    pgg_zoo.demo("wsol"); pgg_zoo.ablate("wsol"); pgg_zoo.compare_modes("wsol")
    pgg_zoo.list_tasks(); pgg_zoo.list_synthesizers(); pgg_zoo.list_backbones("wsol")
    pgg_zoo.register_benchmark(pgg_zoo.get_benchmark("wsol-shapes-v2").variant("my-v2", ...))

    @pgg_zoo.register_task("my_task")
    class MyTask(pgg_zoo.Task): ...
"""
from .benchmarks import (BenchmarkSpec, ParamsSpec, benchmark_names, get_benchmark,
                         list_benchmarks, register_benchmark)
from .cards import CardError, ModelCard, download_weights, list_cards, load_card
from .api import list_backbones, list_metrics, list_synthesizers, list_tasks
from .guidance import ProvenanceGuidance
from .provenance import Provenance, ProvenanceError
from .registry import (
    BACKBONES,
    ENTRY_POINT_GROUP,
    GUIDANCE_MODES,
    METRICS,
    SYNTHESIZERS,
    TASKS,
    DuplicateNameError,
    failed_plugins,
    Registry,
    RegistryError,
    UnknownNameError,
    load_plugins,
)
from .study import ablate, alpha_study, compare_modes, demo, run_paired, run_variants
from .synthesizers import CutMix, NoMix, SynthesizedBatch
from .classifier import label_logits, soft_targets
from .config import ConfigError, RunConfig
from .task import Task, TaskModel, build, register_task, seeded_generator

__version__ = "0.1.0"

__all__ = [
    "list_cards", "load_card", "download_weights", "ModelCard", "CardError",
    "build", "register_task", "Task", "TaskModel", "ConfigError", "RunConfig",
    "list_tasks", "list_synthesizers", "list_backbones", "list_metrics",
    "Provenance", "ProvenanceError", "ProvenanceGuidance", "SynthesizedBatch", "CutMix", "NoMix",
    "label_logits", "soft_targets",
    "Registry", "RegistryError", "UnknownNameError", "DuplicateNameError", "failed_plugins",
    "TASKS", "SYNTHESIZERS", "BACKBONES", "METRICS", "GUIDANCE_MODES",
    "ENTRY_POINT_GROUP", "load_plugins", "seeded_generator", "__version__",
    "demo", "ablate", "compare_modes", "run_variants", "run_paired", "alpha_study",
    "BenchmarkSpec", "ParamsSpec", "register_benchmark", "get_benchmark", "benchmark_names",
    "list_benchmarks",
]
