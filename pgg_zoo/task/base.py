"""The Task base class: what a task plugin provides, and what every built task offers."""
from __future__ import annotations

import copy
from typing import Any, ClassVar, Mapping, Protocol, Sequence, runtime_checkable

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from ..config import (BUILD_TIME_RUN_OPTIONS, ConfigError, RunConfig, check_number,
                      run_option_names, unknown_options_message)
from ..guidance import ProvenanceGuidance
from ..provenance import Provenance
from ..registry import SYNTHESIZERS
from . import variants as _variants
from .backbones import resolve_backbone
from .pretrained import load_pretrained, resolve_pretrained


@runtime_checkable
class TaskModel(Protocol):
    """The model side of a task adapter (an ``nn.Module``).

    ``forward(inputs, batch)`` returns the task's raw outputs (``batch`` is the batch dict,
    for tasks whose model needs more than the input, such as person boxes; image tasks ignore
    it); the three methods below tell the engine how to read them. The engine never looks
    inside ``outputs``.
    """

    def __call__(self, inputs: Tensor, batch: Mapping[str, Any]) -> Any: ...

    def label_logits(self, outputs: Any, provenance: Provenance, batch: Mapping[str, Any]) -> Tensor:
        """``(B, L)``: the logit of each provenance label (the quantity whose input gradient
        is guided)."""
        ...

    def task_loss(self, outputs: Any, provenance: Provenance, batch: Mapping[str, Any]) -> Tensor:
        """Scalar task loss on synthesized targets (label ids and weights in ``provenance``)."""
        ...

    def predict(self, inputs: Tensor, batch: Mapping[str, Any]) -> list[dict[str, Any]]:
        """One prediction dict per input, consumed by the task's metrics."""
        ...


class Task:
    """Base class of task plugins. ``pgg_zoo.build(name, **options)`` returns an instance.

    A plugin subclass sets ``name`` (by :func:`~pgg_zoo.register_task`), its task options'
    defaults in ``defaults`` and its own defaults of run options in ``run_defaults``, and
    implements :meth:`build_model`, :meth:`build_dataset`, :meth:`collate` and
    :meth:`build_metrics`. The base class checks the options (unknown keys are an error),
    builds the model, the synthesizer and the guidance, and offers :meth:`train` and
    :meth:`evaluate` through the engine.

    Attributes:
        options: the task options (what is built: backbone, synthesizer, alpha, benchmark,
            ...), a plain dict of checked values.
        run: the run options (how it runs: epochs, optimizer, seed, data_root, ...), a typed
            :class:`~pgg_zoo.config.RunConfig`. The two stay apart up to the engine.
        model: the task model (``nn.Module`` following :class:`TaskModel`).
        synthesizer: the batch synthesizer (``None`` for plain training).
        guidance: the :class:`ProvenanceGuidance` (``alpha == 0`` when off).
    """

    name: ClassVar[str] = ""
    #: Task options every task understands (what is built); plugins extend them with
    #: ``defaults``.
    base_defaults: ClassVar[dict[str, Any]] = {
        "backbone": None,
        "synthesizer": "cutmix",
        "synthesizer_options": {},
        "guidance": True,
        "alpha": 0.05,
        "guidance_mask": "provenance",
        "guidance_mode": "exact",
        "guidance_options": {},
        # "mean" over the batch (default) or "sum" (as RRR does; alpha then scales with B).
        "guidance_reduction": "mean",
        # A model card to initialize from (pgg_zoo.build(weights=...)); recorded, not reloaded.
        "weights": None,
        # The backbone's published weights (ImageNet, Kinetics): True, False or a card name
        # (pgg_zoo.task.pretrained); False says in one line that the backbone starts random.
        "pretrained": False,
    }
    #: This task's own task options and their defaults.
    defaults: ClassVar[dict[str, Any]] = {}
    #: This task's defaults of run options (:class:`~pgg_zoo.config.RunConfig` fields, e.g.
    #: ``{"epochs": 12, "lr": 1e-3}``): a task may change their default, never their meaning.
    run_defaults: ClassVar[dict[str, Any]] = {}
    #: Whether ``backbone`` may name something outside the backbone registry (wsol takes any
    #: timm model name). When False, an unregistered name is refused listing this task's own.
    open_backbones: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A plugin's declarations are checked when its class is defined, not at first build.
        misplaced = sorted(set(cls.defaults) & set(run_option_names()))
        if misplaced:
            raise TypeError(f"{cls.__name__}.defaults: {misplaced} are run options; declare "
                            "their defaults in run_defaults")
        RunConfig.from_mapping(cls.run_defaults, source=f"{cls.__name__}.run_defaults")

    def __init__(self, options: Mapping[str, Any] | None = None,
                 run: RunConfig | Mapping[str, Any] | None = None, *,
                 allow_unverified: bool = False) -> None:
        """Check ``options`` (task options over :meth:`default_options`) and ``run`` (run
        options over :meth:`default_run`, or a complete :class:`RunConfig`), then build.

        ``pgg_zoo.build(name, **options)`` sorts keyword arguments into the two; call this
        directly with the two apart. ``allow_unverified``: the ``pretrained`` card's weights
        may lack a full sha256 (upstream files nobody here could hash).

        Raises:
            ConfigError: an unknown option or a bad value, naming the option.
        """
        opts = self.default_options()
        given = dict(options or {})
        unknown = sorted(set(given) - set(opts))
        if unknown:
            misplaced = sorted(set(unknown) & set(run_option_names()))
            hint = f" ({misplaced} are run options: pass them in run)" if misplaced else ""
            raise ConfigError(unknown_options_message(unknown, list(opts), f"{self.name} task")
                              + hint)
        opts.update(given)
        opts["alpha"] = check_number("alpha", opts["alpha"], integer=False, low=0)
        opts["backbone"] = resolve_backbone(self.name, opts["backbone"],
                                            open_names=self.open_backbones)
        self.options: dict[str, Any] = opts
        self.run: RunConfig = run if isinstance(run, RunConfig) else \
            self.default_run().replace(**dict(run or {}))
        #: How the task was built beyond its options (``allow_unverified`` weights, the
        #: ``recipe`` it came from): written to the run's config.yaml beside the options.
        self.build_info: dict[str, Any] = {}
        self.validate_config()
        pretrained = resolve_pretrained(self.name, opts["backbone"], opts["pretrained"],
                                        weights=opts["weights"])
        # Initialize the weights from the configured seed (runs reproduce from the seed alone)
        # without touching the caller's global random state.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.run.seed)
            self.model: nn.Module = self.build_model()
        if not opts["weights"]:  # a whole model card is loaded by build() and says what it is
            load_pretrained(self.model, self.name, opts["backbone"], pretrained,
                            allow_unverified=allow_unverified)
        self.synthesizer = self.build_synthesizer()
        self.guidance = self.build_guidance()

    # -- the two kinds of configuration ----------------------------------------------------
    @classmethod
    def default_options(cls) -> dict[str, Any]:
        """The task options of a build without overrides (a fresh copy)."""
        return copy.deepcopy({**Task.base_defaults, **cls.defaults})

    @classmethod
    def default_run(cls) -> RunConfig:
        """The run options of a build without overrides: the engine's defaults, with this
        task's :attr:`run_defaults`."""
        return RunConfig.from_mapping(cls.run_defaults)

    @classmethod
    def task_option_names(cls) -> list[str]:
        """The names of this task's options (the keys of a config file's ``task_options``)."""
        return list(cls.default_options())

    # -- to be provided by plugins --------------------------------------------------------
    def validate_config(self) -> None:
        """Raise :class:`ConfigError` for invalid values (called before building)."""

    def build_model(self) -> nn.Module:
        raise NotImplementedError

    def build_dataset(self, split: str) -> Dataset:
        """The dataset of ``split`` ("train" or "test"); items are dicts."""
        raise NotImplementedError

    def collate(self, items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Batch items into ``{"inputs": Tensor, "data_samples": dict}``."""
        raise NotImplementedError

    def build_metrics(self) -> list[Any]:
        """mmengine ``BaseMetric`` instances for evaluation."""
        raise NotImplementedError

    #: Whether :meth:`build_dataset` has a validation split of its own (``"val"``); when
    #: False, :meth:`dataset` carves one from the training split.
    native_val: ClassVar[bool] = False

    # -- studies (pgg-zoo demo / ablate / modes / alpha): declared, with defaults ----------
    #: Columns of the study tables, in order; empty: every metric the runs report.
    summary_metrics: ClassVar[tuple[str, ...]] = ()
    #: The validation metric alpha is chosen on (``pgg-zoo alpha``); None: the first of
    #: :attr:`summary_metrics`.
    selection_metric: ClassVar[str | None] = None
    #: ``pgg-zoo demo``: variant name -> config overrides. None: :meth:`study_variants`
    #: builds "the default synthesizer without and with guidance".
    demo_variants: ClassVar[Mapping[str, Mapping[str, Any]] | None] = None
    #: ``pgg-zoo ablate``: variant name -> config overrides, the paper's mask ablation for
    #: this task's synthesis. It must hold one guided variant (``guidance`` True, true
    #: provenance) and the same variant without guidance: the alpha sweep repeats the first at
    #: each alpha and uses the second as alpha 0. None: the demo variants, preceded by
    #: ``no-mix`` (no synthesis) unless one of them already trains without synthesis, and
    #: followed by the random-mask and no-mask controls of the guided one.
    ablation_variants: ClassVar[Mapping[str, Mapping[str, Any]] | None] = None
    #: ``pgg-zoo modes``: variant name -> overrides of the guidance computation, applied on
    #: top of the guided variant of :attr:`ablation_variants`. None:
    #: :data:`MODE_VARIANTS` (exact, lazy, one-label and no guidance).
    mode_variants: ClassVar[Mapping[str, Mapping[str, Any]] | None] = None

    @classmethod
    def study_variants(cls, study: str) -> dict[str, dict[str, Any]]:
        """The variants of ``study`` (``"demo"``, ``"ablate"`` or ``"modes"``): name -> option
        overrides (:func:`pgg_zoo.task.variants.study_variants`)."""
        return _variants.study_variants(cls, study)

    @classmethod
    def guided_variant(cls) -> dict[str, Any]:
        """Overrides of "this task's synthesis + guidance with true provenance" (what alpha
        sweeps and mode comparisons vary)."""
        return _variants.guided_variant(cls)

    @classmethod
    def unguided_variant(cls) -> dict[str, Any]:
        """:meth:`guided_variant` without guidance (alpha 0 of an alpha sweep)."""
        return _variants.unguided(cls.guided_variant())

    def demo_figure(self, tasks: Mapping[str, "Task"], path: Any) -> Any:
        """A figure comparing the trained demo variants (``tasks``: name -> trained task),
        written to ``path``; returns the path, or None when the task draws none (default)."""
        return None

    def ablation_figures(self, tasks: Mapping[str, "Task"], out_dir: Any) -> list[Any]:
        """Figures of an ablation (``tasks``: name -> trained task) written into ``out_dir``;
        returns their paths (default: none; the alpha curve is drawn by the study)."""
        return []

    # -- shared behaviour ------------------------------------------------------------------
    def dataset(self, split: str) -> Dataset:
        """The dataset the engine loads for ``split`` ("train", "val" or "test").

        For a task without a native val split, ``"val"`` is a stratified ``val_fraction`` of
        the training split (:func:`pgg_zoo.data.holdout_indices`, the same items for every
        run seed), and while a run evaluates on ``"val"`` (``eval_split="val"``) its training
        split leaves those items out, so a choice made on val never saw them in training.
        """
        carve = not self.native_val and (
            split == "val" or (split == "train" and self.run.eval_split == "val"))
        if not carve:
            return self.build_dataset(split)
        from torch.utils.data import Subset

        from ..data import holdout_indices

        base = self.build_dataset("train")
        labels, groups = self.holdout_keys(base)
        train_idx, val_idx = holdout_indices(
            labels if labels is not None else len(base),
            self.run.val_fraction, groups=groups)
        return Subset(base, val_idx if split == "val" else train_idx)

    def leakage_dataset(self, split: str) -> Dataset | None:
        """The held-out dataset on which the engine measures gradient leakage while the run
        evaluates on ``split`` (docs/method.md, "Gradient leakage").

        Default ``None``: the evaluation split's own loader, synthesized as in training. A task
        whose provenance exists only on items the evaluation split lacks (edited copies, which
        an editor writes for training images) returns a dataset of held-out items that carry
        it, e.g. edited copies of val images with their masks; its items go through the task's
        :meth:`collate` and the model's synthesizer like any evaluation batch. It must never
        hold training items.
        """
        return None

    def holdout_keys(self, dataset: Dataset) -> tuple[Sequence[Any] | None, Sequence[Any] | None]:
        """Per-item ``(labels, groups)`` of the training split for carving val from it.

        Default: the dataset's ``labels`` when it has one per item (stratified carve), no
        groups. Override when items are not independent (clips of one video: return the video
        as the group, so a video is never on both sides).
        """
        labels = getattr(dataset, "labels", None)
        if labels is not None and len(labels) == len(dataset):  # type: ignore[arg-type]
            return list(labels), None
        return None, None

    def build_synthesizer(self) -> Any:
        name = self.options["synthesizer"] or "none"
        return SYNTHESIZERS.build(name, **dict(self.options["synthesizer_options"] or {}))

    def build_guidance(self) -> ProvenanceGuidance:
        o = self.options
        alpha = float(o["alpha"]) if o["guidance"] else 0.0
        return ProvenanceGuidance(
            alpha=alpha,
            mask=o["guidance_mask"],
            mode=o["guidance_mode"],
            mode_options=dict(o["guidance_options"] or {}),
            reduction=o["guidance_reduction"],
        )

    def train(self, **overrides: Any) -> dict[str, float]:
        """Train with the engine (mmengine Runner) and return the final metrics (on the
        ``eval_split``).

        ``overrides`` may change run options (``epochs``, ``work_dir``, ``optimizer``, ...;
        :class:`~pgg_zoo.config.RunConfig`) but not the build-time ones (``data_root``,
        ``seed``) nor task options: those need a new :func:`~pgg_zoo.build`. Every value is
        checked before :attr:`run` changes.
        """
        from ..engine import train as _train

        self.run = self.run.replace(**self._run_overrides(overrides))
        return _train(self)

    def evaluate(self, checkpoint: str | None = None, split: str = "test") -> dict[str, float]:
        """Evaluate the current model (or ``checkpoint``) on ``split``; return metrics."""
        from ..engine import evaluate as _evaluate

        return _evaluate(self, checkpoint=checkpoint, split=split)

    #: Options consumed while the task is built although they read like run settings:
    #: ``data_root`` sets the number of classes of the model's head, ``seed`` its initial
    #: weights. :meth:`train` refuses a new value for them instead of training a model built
    #: for other data or another seed.
    build_time_keys: ClassVar[tuple[str, ...]] = BUILD_TIME_RUN_OPTIONS

    def _run_overrides(self, overrides: Mapping[str, Any]) -> dict[str, Any]:
        run_keys = set(run_option_names()) - set(self.build_time_keys)
        current = self.run.to_dict()
        changed = sorted(k for k in self.build_time_keys
                         if k in overrides and overrides[k] != current[k])
        if changed:
            built = ", ".join(f"{k}={current[k]!r}" for k in changed)
            want = ", ".join(f"{k}={overrides[k]!r}" for k in changed)
            raise ConfigError(
                f"{changed} are build-time options: this {self.name} task was built with "
                f"{built} (its model's classes and initial weights come from them), so "
                f"train({want}) would train that model on other terms; build a new task "
                f"instead: pgg_zoo.build({self.name!r}, {want})")
        bad = sorted(set(overrides) - run_keys - set(self.build_time_keys))
        if bad:
            raise ConfigError(
                f"{bad} change what is built; pass them to pgg_zoo.build() instead "
                f"(train() accepts {sorted(run_keys)})"
            )
        return dict(overrides)

    def __repr__(self) -> str:
        keys = ("backbone", "synthesizer", "guidance", "alpha", "guidance_mask", "guidance_mode")
        return f"{type(self).__name__}(" + ", ".join(f"{k}={self.options[k]!r}" for k in keys) + ")"


def seeded_generator(seed: int) -> torch.Generator:
    """A CPU generator seeded with ``seed`` (synthesizers draw their randomness from it)."""
    g = torch.Generator()
    g.manual_seed(int(seed))
    return g
