"""What a task plugin provides, and how a task is built by name."""
from __future__ import annotations

import copy
import difflib
from typing import Any, Callable, ClassVar, Mapping, Protocol, Sequence, TypeVar, runtime_checkable

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

# The light config module of the engine (no mmengine): the run options are the engine's.
from .engine.config import (BUILD_TIME_RUN_OPTIONS, ConfigError, ConfigFile, RunConfig,
                            check_number, check_run_value, run_option_names)
from .guidance import ProvenanceGuidance
from .provenance import Provenance
from .registry import BACKBONES, SYNTHESIZERS, TASKS

__all__ = ["ConfigError", "Task", "TaskModel", "build", "build_from_config", "load_config",
           "load_run", "register_task",
           "RunConfig", "check_option_values", "resolve_backbone", "seeded_generator"]


#: Ways to compute the same penalty (docs/performance.md), the default ``Task.mode_variants``:
#: the exact double backprop and the cheaper estimates that stay valid for any model
#: (``finite_difference`` needs checking per model and fails with train-mode BatchNorm in fp32,
#: so it is not in the default set).
MODE_VARIANTS: dict[str, dict[str, Any]] = {
    "no-guidance": {"guidance": False},  # the time and accuracy baseline of the same run
    "exact": {"guidance_mode": "exact"},
    "lazy4[exact]": {"guidance_mode": "lazy",
                     "guidance_options": {"every": 4, "inner": "exact"}},
    "one_label": {"guidance_mode": "one_label"},
    "lazy4[one_label]": {"guidance_mode": "lazy",
                         "guidance_options": {"every": 4, "inner": "one_label"}},
}
#: Keys that say how the penalty is applied; the rest of a variant says what is trained on.
GUIDANCE_KEYS = ("guidance", "guidance_mask", "alpha", "guidance_mode", "guidance_options")


def is_guided(variant: Mapping[str, Any]) -> bool:
    """Whether a study variant trains with guidance on true provenance (the defaults:
    guidance on, mask ``provenance``, as ``Task.base_defaults``)."""
    return bool(variant.get("guidance", True)) and \
        variant.get("guidance_mask", "provenance") == "provenance"


def unguided(variant: Mapping[str, Any]) -> dict[str, Any]:
    """``variant`` with the guidance switched off (its data and synthesis kept)."""
    return {**{k: v for k, v in variant.items() if k not in GUIDANCE_KEYS}, "guidance": False}


def guided_variant_name(variants: Mapping[str, Mapping[str, Any]]) -> str:
    """The first guided, true-provenance variant of an ablation; :class:`ConfigError` when
    there is none or when no variant is the same run without guidance."""
    guided = [k for k, v in variants.items() if is_guided(v)]
    if not guided:
        raise ConfigError(f"the ablation variants {list(variants)} hold no guided variant "
                          "with true provenance")
    base = unguided(variants[guided[0]])
    if not any(unguided(v) == base and not v.get("guidance", True) for v in variants.values()):
        raise ConfigError(f"the ablation variants {list(variants)} hold no variant that is "
                          f"{guided[0]!r} without guidance (alpha 0 of the sweep)")
    return guided[0]


def check_option_values(cfg: dict[str, Any]) -> None:
    """Check, in place, the shared task option ``alpha`` and every run option of ``cfg``
    (:class:`~pgg_zoo.engine.config.RunConfig`: types, bounds, choices; numbers given as text
    become numbers); raise :class:`ConfigError` naming the option, e.g.
    ``option alpha: expected a number, got 'abc'`` or ``option epochs: must be >= 1, got -1``.
    """
    if "alpha" in cfg:
        cfg["alpha"] = check_number("alpha", cfg["alpha"], integer=False, low=0)
    for key in run_option_names():
        if key in cfg:
            cfg[key] = check_run_value(key, cfg[key])


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
    """Base class of task plugins. ``pgg_zoo.build(name, **overrides)`` returns an instance.

    A plugin subclass sets ``name`` and ``defaults`` and implements :meth:`build_model`,
    :meth:`build_dataset`, :meth:`collate` and :meth:`build_metrics`. The base class merges
    overrides into the defaults (unknown keys are an error), builds the model, the synthesizer
    and the guidance, and offers :meth:`train` and :meth:`evaluate` through the engine.

    Attributes:
        config: the merged configuration (a plain dict; ``print(task.config)`` shows all).
        model: the task model (``nn.Module`` following :class:`TaskModel`).
        synthesizer: the batch synthesizer (``None`` for plain training).
        guidance: the :class:`ProvenanceGuidance` (``alpha == 0`` when off).
    """

    name: ClassVar[str] = ""
    #: Task options every task understands (what is built); plugins extend them with
    #: ``defaults``. The run options (how it runs: epochs, optimizer, seed, data_root, ...) are
    #: the fields of the engine's :class:`~pgg_zoo.engine.config.RunConfig` and come last;
    #: a plugin may change their defaults in ``defaults``, not their meaning.
    base_task_defaults: ClassVar[dict[str, Any]] = {
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
    }
    #: Every key a task understands: the task options above and the run options.
    base_defaults: ClassVar[dict[str, Any]] = {**base_task_defaults, **RunConfig().to_dict()}
    defaults: ClassVar[dict[str, Any]] = {}
    #: Whether ``backbone`` may name something outside the backbone registry (wsol takes any
    #: timm model name). When False, an unregistered name is refused listing this task's own.
    open_backbones: ClassVar[bool] = True

    def __init__(self, **overrides: Any) -> None:
        cfg = copy.deepcopy({**self.base_defaults, **self.defaults})
        unknown = sorted(set(overrides) - set(cfg))
        if unknown:
            raise ConfigError(
                f"unknown option(s) {unknown} for task {self.name!r}; known: {sorted(cfg)}"
            )
        cfg.update(overrides)
        check_option_values(cfg)
        cfg["backbone"] = resolve_backbone(self.name, cfg["backbone"], open_names=self.open_backbones)
        self.config: dict[str, Any] = cfg
        #: How the task was built beyond its options (``allow_unverified`` weights, the
        #: ``recipe`` it came from): written to the run's config.yaml beside the options.
        self.build_info: dict[str, Any] = {}
        self.validate_config()
        # Initialize the weights from the configured seed (runs reproduce from the seed alone)
        # without touching the caller's global random state.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(cfg["seed"]))
            self.model: nn.Module = self.build_model()
        self.synthesizer = self.build_synthesizer()
        self.guidance = self.build_guidance()

    # -- the two kinds of configuration ----------------------------------------------------
    @property
    def run_config(self) -> RunConfig:
        """The run options of :attr:`config` (how it runs), checked, as the engine's typed
        :class:`~pgg_zoo.engine.config.RunConfig`."""
        return RunConfig.from_mapping({k: self.config[k] for k in run_option_names()})

    @property
    def task_options(self) -> dict[str, Any]:
        """The task options of :attr:`config` (what is built): everything but the run
        options, as plain values."""
        run = set(run_option_names())
        return {k: v for k, v in self.config.items() if k not in run}

    @classmethod
    def task_option_names(cls) -> list[str]:
        """The names of this task's options (the keys of a config file's ``task_options``)."""
        run = set(run_option_names())
        return [k for k in cls.default_config() if k not in run]

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
    def default_config(cls) -> dict[str, Any]:
        """The configuration a build without overrides has (a fresh copy)."""
        return copy.deepcopy({**cls.base_defaults, **cls.defaults})

    @classmethod
    def study_variants(cls, study: str) -> dict[str, dict[str, Any]]:
        """The variants of ``study`` (``"demo"``, ``"ablate"`` or ``"modes"``): name -> config
        overrides, each a complete run description over the task's defaults.

        The declared attribute when the task sets it, otherwise a default: demo ``S`` /
        ``S+pgg`` for the task's default synthesizer ``S``; ablate as documented at
        :attr:`ablation_variants` (for ``S``: ``no-mix``, ``S``, ``S+pgg``,
        ``S+random-mask``, ``S+no-mask``). Mode variants come back merged over
        :meth:`guided_variant`.
        """
        if study == "modes":
            guided = cls.guided_variant()
            return {name: {**guided, **copy.deepcopy(dict(opts))}
                    for name, opts in (cls.mode_variants or MODE_VARIANTS).items()}
        declared = {"demo": cls.demo_variants, "ablate": cls.ablation_variants}
        if study not in declared:
            raise ValueError(f"unknown study {study!r}; choose from demo, ablate, modes")
        if declared[study]:
            return {k: copy.deepcopy(dict(v)) for k, v in declared[study].items()}
        if study == "demo":
            s = cls.default_config()["synthesizer"] or "none"
            return {s: {"synthesizer": s, "guidance": False},
                    f"{s}+pgg": {"synthesizer": s, "guidance": True,
                                 "guidance_mask": "provenance"}}
        demo = cls.study_variants("demo")
        name = guided_variant_name(demo)
        default_synth = cls.default_config()["synthesizer"] or "none"
        out: dict[str, dict[str, Any]] = {}
        if all((v.get("synthesizer", default_synth) or "none") != "none" for v in demo.values()):
            out["no-mix"] = {**unguided(demo[name]), "synthesizer": "none"}
        out.update(demo)
        stem = name[:-len("+pgg")] if name.endswith("+pgg") else name
        for mask in ("random", "none"):
            control = {**demo[name], "guidance_mask": mask}
            if control not in out.values():
                out[f"{stem}+{mask.replace('none', 'no')}-mask"] = control
        return out

    @classmethod
    def guided_variant(cls) -> dict[str, Any]:
        """Overrides of "this task's synthesis + guidance with true provenance": the first
        guided, true-provenance variant of the ablation (what alpha sweeps and the mode
        comparison vary)."""
        name = guided_variant_name(cls.study_variants("ablate"))
        return cls.study_variants("ablate")[name]

    @classmethod
    def unguided_variant(cls) -> dict[str, Any]:
        """:meth:`guided_variant` without guidance (alpha 0 of an alpha sweep)."""
        return unguided(cls.guided_variant())

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
            split == "val" or (split == "train" and self.config.get("eval_split") == "val"))
        if not carve:
            return self.build_dataset(split)
        from torch.utils.data import Subset

        from .data import holdout_indices

        base = self.build_dataset("train")
        labels, groups = self.holdout_keys(base)
        train_idx, val_idx = holdout_indices(
            labels if labels is not None else len(base),
            float(self.config.get("val_fraction") or 0.2), groups=groups)
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
        name = self.config["synthesizer"] or "none"
        return SYNTHESIZERS.build(name, **dict(self.config.get("synthesizer_options") or {}))

    def build_guidance(self) -> ProvenanceGuidance:
        alpha = float(self.config["alpha"]) if self.config["guidance"] else 0.0
        return ProvenanceGuidance(
            alpha=alpha,
            mask=self.config["guidance_mask"],
            mode=self.config["guidance_mode"],
            mode_options=dict(self.config.get("guidance_options") or {}),
            reduction=self.config["guidance_reduction"],
        )

    def train(self, **overrides: Any) -> dict[str, float]:
        """Train with the engine (mmengine Runner) and return the final test metrics.

        ``overrides`` may change run options (``epochs``, ``work_dir``, ``optimizer``, ...;
        :class:`~pgg_zoo.engine.config.RunConfig`) but not the build-time ones (``data_root``,
        ``seed``) nor task options: those need a new :func:`build`. Every value is checked
        before the configuration changes.
        """
        from .engine import train as _train

        merged = {**self.config, **self._run_overrides(overrides)}
        check_option_values(merged)
        self.config.update(merged)
        return _train(self)

    def evaluate(self, checkpoint: str | None = None, split: str = "test") -> dict[str, float]:
        """Evaluate the current model (or ``checkpoint``) on ``split``; return metrics."""
        from .engine import evaluate as _evaluate

        return _evaluate(self, checkpoint=checkpoint, split=split)

    #: Options consumed while the task is built although they read like run settings:
    #: ``data_root`` sets the number of classes of the model's head, ``seed`` its initial
    #: weights. :meth:`train` refuses a new value for them instead of training a model built
    #: for other data or another seed.
    build_time_keys: ClassVar[tuple[str, ...]] = BUILD_TIME_RUN_OPTIONS

    def _run_overrides(self, overrides: Mapping[str, Any]) -> dict[str, Any]:
        run_keys = set(run_option_names()) - set(self.build_time_keys)
        changed = sorted(k for k in self.build_time_keys
                         if k in overrides and overrides[k] != self.config.get(k))
        if changed:
            built = ", ".join(f"{k}={self.config.get(k)!r}" for k in changed)
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
        return f"{type(self).__name__}(" + ", ".join(f"{k}={self.config[k]!r}" for k in keys) + ")"


def task_backbones(task: str) -> list[str]:
    """Sorted backbones registered for ``task`` (meta ``tasks=(..., task, ...)``)."""
    return sorted(n for n in BACKBONES.names() if task in BACKBONES.meta(n).get("tasks", ()))


def _describe(names: Sequence[str]) -> str:
    parts = []
    for n in names:
        aliases = BACKBONES.aliases(n)
        parts.append(f"{n} (or {', '.join(aliases)})" if aliases else n)
    return ", ".join(parts) or "(none registered)"


def resolve_backbone(task: str, backbone: Any, *, open_names: bool = True) -> Any:
    """The canonical name of the ``backbone`` option of ``task``, checked against the registry.

    An alias (``"slowfast"``) becomes its registered name (``"slowfast_r50"``), so cards, runs
    and validation see one spelling. A backbone registered only for other tasks is refused,
    naming this task's own backbones; so is an unregistered name when ``open_names`` is False.
    Instances and ``None`` pass through. A task with no registered backbones of its own is
    left to interpret the name itself.

    Raises:
        ConfigError: the message lists ``task``'s backbones (and the closest one, if any).
    """
    if not isinstance(backbone, str):
        return backbone
    own = task_backbones(task)
    if backbone not in BACKBONES:
        if open_names or not own:
            return backbone
        candidates = own + [a for n in own for a in BACKBONES.aliases(n)]
        close = difflib.get_close_matches(backbone, candidates, n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown backbone {backbone!r} for {task}.{hint} "
                          f"{task} backbones: {_describe(own)}")
    name = BACKBONES.canonical(backbone)
    tasks = BACKBONES.meta(name).get("tasks", ())
    # A backbone registered without ``tasks`` meta makes no claim: any task may try it.
    if own and tasks and task not in tasks:
        raise ConfigError(f"backbone {backbone!r} is not a {task} backbone "
                          f"({task} backbones: {_describe(own)})")
    return name


TaskT = TypeVar("TaskT", bound=type)


def register_task(name: str, *, replace: bool = False) -> Callable[[TaskT], TaskT]:
    """Class decorator registering a :class:`Task` subclass under ``name``.

    This is the public mechanism for built-in and third-party tasks alike; call it from the
    function your package names in the ``pgg_zoo.plugins`` entry-point group.
    """

    def deco(cls: TaskT) -> TaskT:
        if not (isinstance(cls, type) and issubclass(cls, Task)):
            raise TypeError(f"register_task expects a Task subclass, got {cls!r}")
        cls.name = name  # type: ignore[attr-defined]
        TASKS.add(name, cls, replace=replace)
        return cls

    return deco


def build(task: str, *, weights: str | None = None, allow_unverified: bool = False,
          **overrides: Any) -> Task:
    """Build the task registered as ``task`` with configuration ``overrides``.

    ``weights=<card name>`` builds the model the card describes (backbone, number of classes,
    input size) and loads the card's weights strictly: a clear error lists missing and
    unexpected keys, and an override that contradicts the card (another backbone or number of
    classes) is an error, never a silent change. Unverified upstream weights need
    ``allow_unverified=True``.

    Example: ``pgg_zoo.build("wsol", backbone="resnet18", alpha=0.03)``.
    """
    cls = TASKS.get(task)
    if weights is None:
        return cls(**overrides)
    from .cards import CardError, load_card, load_weights, merge_card_overrides

    card = load_card(weights)
    if isinstance(overrides.get("backbone"), str):
        # compare the card with the registered name, not the alias the user wrote
        overrides = {**overrides, "backbone": resolve_backbone(
            task, overrides["backbone"], open_names=cls.open_backbones)}
    try:
        config = merge_card_overrides(card, task, overrides,
                                      known_keys={**cls.base_defaults, **cls.defaults})
    except CardError as exc:
        raise ConfigError(str(exc)) from None
    built = cls(**config, weights=card.name)
    load_weights(built.model, card, allow_unverified=allow_unverified)
    if allow_unverified:
        built.build_info["allow_unverified"] = True
    return built


def load_config(source: str | Any) -> ConfigFile:
    """A configuration file (``config.yaml`` of a run, a recipe, any file of that layout) read
    and checked against the installed task: the task exists, every key of ``task_options`` is
    one of its task options, and the run options have their types (:class:`RunConfig`).

    Raises:
        FileNotFoundError: no such file.
        ConfigError: the message starts with the file and names the option.
    """
    from .engine.config import read_config_file, unknown_options_message
    from .registry import RegistryError

    cf = source if isinstance(source, ConfigFile) else read_config_file(source)
    where = f"{cf.source}: " if cf.source is not None else ""
    try:
        cls = TASKS.get(cf.task)
    except RegistryError as exc:
        raise ConfigError(f"{where}option task: {exc}") from None
    known = cls.task_option_names()
    misplaced = sorted(set(cf.task_options) & set(run_option_names()))
    if misplaced:
        raise ConfigError(f"{where}task_options: {misplaced} are run options; put them under "
                          "run:")
    unknown = sorted(set(cf.task_options) - set(known))
    if unknown:
        raise ConfigError(where + unknown_options_message(unknown, known, f"{cf.task} task"))
    if "alpha" in cf.task_options:
        try:
            check_number("alpha", cf.task_options["alpha"], integer=False, low=0)
        except ConfigError as exc:
            raise ConfigError(f"{where}{exc}") from None
    return cf


def build_from_config(source: str | Any, *, task: str | None = None,
                      allow_unverified: bool = False, **overrides: Any) -> Task:
    """Build the task a configuration file describes (:func:`load_config`), with
    ``overrides`` (task or run options, e.g. from the command line) winning over the file.

    ``task``, when given, must be the file's task. The file's ``weights`` (a model card) is
    loaded as :func:`build` does; ``allow_unverified`` is the file's or this argument's.

    Raises:
        ConfigError: the file is invalid (named), or the built task refuses a value (the
            message then ends with the file it came from).
    """
    cf = load_config(source)
    if task is not None and task != cf.task:
        raise ConfigError(f"{cf.source}: describes task {cf.task!r}, not {task!r}")
    options = {**cf.options(), **overrides}
    weights = options.pop("weights", None)
    try:
        built = build(cf.task, weights=weights,
                      allow_unverified=allow_unverified or cf.allow_unverified, **options)
    except ConfigError as exc:
        raise ConfigError(f"{exc} (configuration from {cf.source})") from None
    if cf.recipe:
        built.build_info["recipe"] = cf.recipe
    return built


def load_run(run_dir: str | Any, *, checkpoint: str | None = None,
             **overrides: Any) -> Task:
    """The task a run folder trained, rebuilt from its saved configuration with its trained
    weights: ``config.yaml`` (task options and run options), or for folders written before it
    existed, ``run.json``.

    The saved configuration is used as it is (nothing retyped); ``overrides`` may change what
    does not alter the model (``data_root`` for data that moved, ``num_workers``,
    ``batch_size``, ``launcher``). The run's ``launcher`` and ``resume`` are not reused (an
    evaluation is one process and continues nothing) and neither is its card (``weights``):
    the weights are ``checkpoint`` or the folder's ``model.safetensors``, loaded strictly.
    The task's ``work_dir`` is ``<run_dir>/eval``, so evaluating writes nothing over the run.

    Raises:
        FileNotFoundError: no ``config.yaml`` nor ``run.json``, or no weights in the folder.
        ConfigError: the saved configuration is not valid for the installed task.
    """
    import json
    from pathlib import Path

    from .engine.config import CONFIG_FILE, RUN_FILE
    from .weights_io import load_weights_file

    run_dir = Path(run_dir)
    if (run_dir / CONFIG_FILE).is_file():
        cf = load_config(run_dir / CONFIG_FILE)
        name, config = cf.task, cf.options()
    elif (run_dir / RUN_FILE).is_file():
        meta_file = run_dir / RUN_FILE
        try:
            meta = json.loads(meta_file.read_text())
            name, config = str(meta["task"]), dict(meta["config"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{meta_file}: not a run file ({exc})") from None
    else:
        raise FileNotFoundError(f"{run_dir}: no {RUN_FILE} or {CONFIG_FILE} (not a folder "
                                "written by pgg-zoo train)")
    weights = Path(checkpoint) if checkpoint else run_dir / "model.safetensors"
    if not weights.is_file():
        raise FileNotFoundError(f"{weights}: no trained weights in the run folder")
    config.pop("weights", None)
    config.update({"launcher": "none", "resume": False, "work_dir": str(run_dir / "eval")})
    config.update(overrides)
    task = build(name, **config)
    load_weights_file(task.model, str(weights))
    return task


def seeded_generator(seed: int) -> torch.Generator:
    """A CPU generator seeded with ``seed`` (synthesizers draw their randomness from it)."""
    g = torch.Generator()
    g.manual_seed(int(seed))
    return g
