"""The model-card schema: typed, frozen dataclasses read from one YAML file per card.

A card says what a set of weights *is* (task, backbone, classes, input spec), how it was made
(synthesizer, guidance settings, training data, the exact ``pgg-zoo`` recipe), how good it is
(metrics keyed by data set and by protocol-named metric) and where its bytes are (URL, sha256,
format). Parsing is strict: an unknown key is an error, because a typo in a card (``sha265``)
must not silently turn verification off. Each field's type, choices and bounds are declared on
it with :func:`pgg_zoo.config.checks.option`, the mechanism run options are declared with, and
checked by the same code; the card's own rules (hashes, names, metric protocols) follow.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..config.checks import REQUIRED, option, option_problems

from ..data.errors import utf8_problem
from .urls import weights_url_problem

#: Card names are identifiers users type: lowercase, digits, ``_``, ``-`` and ``.``.
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.\-]*$")
#: Every metric names its protocol: ``maxboxacc_v2[wsoleval]``, ``acc@1[torchvision]``.
METRIC_RE = re.compile(r"^[A-Za-z0-9_@.:\-]+\[[A-Za-z0-9_.@\-]+\]$")  # "video_map@0.5:0.95[act]"
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
SHA256_PREFIX_RE = re.compile(r"^[0-9a-f]{6,64}$")

WEIGHT_FORMATS = ("safetensors", "pth")
ORIGINS = ("pgg_zoo", "upstream")
#: ``keypoint`` cards describe skeleton-sequence models: ``input.size`` is [persons, joints] and
#: ``input.clip_len`` the frames per sample (docs/model_cards.md).
MODALITIES = ("image", "video", "keypoint")


class CardError(ValueError):
    """A card file is malformed, or a card name is unknown."""


@dataclass(frozen=True)
class InputSpec:
    """How inputs must be prepared for the weights (the model never sees raw files).

    ``size`` is the (H, W) the model is evaluated at; video cards also give the clip length
    (frames fed to the model), the frame interval (sampling rate) and the sampling scheme.
    """

    size: tuple[int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    resize_size: int | None = option(None, "int", low=1, optional=True)
    interpolation: str | None = option(None, "str", optional=True)
    clip_len: int | None = option(None, "int", low=1, optional=True)
    frame_interval: int | None = option(None, "int", low=1, optional=True)
    sampling: str | None = option(None, "str", optional=True)
    slowfast_alpha: int | None = option(None, "int", low=1, optional=True)


@dataclass(frozen=True)
class GuidanceSpec:
    """The provenance-guidance settings the weights were trained with (``alpha == 0``: off)."""

    alpha: float = option(REQUIRED, "float", low=0)
    mode: str = option("exact", "str")
    mask: str = option("provenance", "str")


@dataclass(frozen=True)
class WeightsSpec:
    """Where the weight file is and how to trust and read it.

    Attributes:
        url: ``http(s)://``, ``file://`` or a path relative to the card's folder (weights shipped
            inside the package next to the card); a local url must stay in or under the card's
            folder (:mod:`pgg_zoo.cards.urls`).
        sha256: full hex digest; ``None`` only for upstream files nobody here could hash.
        hash_verified: ``True`` iff ``sha256`` was computed from the real file. Unverified
            weights load only with an explicit ``allow_unverified=True``.
        format: ``safetensors`` or ``pth`` (a torch pickle, always read with ``weights_only``).
        sha256_prefix: a partial digest, e.g. the 8 hex digits torchvision puts in its file
            names; checked when present, but not enough to count as verified.
        size_bytes: exact file size, checked when present.
        state_dict_key: key of the state dict inside a checkpoint dict (``model_state`` for
            pytorchvideo ``.pyth`` files); ``None`` when the file *is* the state dict.
        submodule: dotted name of the submodule the weights load into (``None``: the whole model).
        exclude: checkpoint-key prefixes deliberately not loaded (e.g. an upstream head); listed
            in the card so nothing is dropped silently.
        rename: checkpoint-key prefix -> model-key prefix, applied before loading.
        missing_ok: model-key prefixes the checkpoint deliberately lacks (layers the task adds on
            top of an upstream trunk, e.g. VGG16-CAM's extra convolution); they keep their
            initialisation. Every other missing key is an error.
        by_position: the checkpoint's keys are another naming of the target module's (a port of
            the same network): after ``exclude``, its i-th tensor loads into the module's i-th
            state-dict entry. Checked: the same count, and the same shape at every position.
    """

    url: str = option(REQUIRED, "str")
    sha256: str | None = field()  # rules of its own (problems): a YAML number loses digits
    hash_verified: bool = option(REQUIRED, "bool")
    format: str = option(REQUIRED, "choice", choices=WEIGHT_FORMATS)
    sha256_prefix: str | None = None
    size_bytes: int | None = option(None, "int", low=1, optional=True)
    state_dict_key: str | None = option(None, "str", optional=True)
    submodule: str | None = option(None, "str", optional=True)
    exclude: tuple[str, ...] = ()
    rename: tuple[tuple[str, str], ...] = ()
    missing_ok: tuple[str, ...] = ()
    by_position: bool = option(False, "bool")

    @property
    def filename(self) -> str:
        """The file name the weights are cached under (last URL path component)."""
        from urllib.parse import unquote, urlsplit

        name = unquote(urlsplit(self.url).path).rstrip("/").rsplit("/", 1)[-1]
        return name or "weights"


@dataclass(frozen=True)
class ModelCard:
    """One model card. Build with :meth:`from_dict` (strict) or :func:`pgg_zoo.load_card`.

    ``metrics`` maps data set -> protocol-named metric -> value. ``origin`` is ``pgg_zoo`` for
    weights this project trained (their metric names must be registered metrics and ``recipe``
    the exact ``pgg-zoo`` command) or ``upstream`` for third-party pretrained weights (metrics as
    the upstream reported them, named with the upstream protocol).
    """

    name: str = option(REQUIRED, "str")
    task: str = option(REQUIRED, "str")
    origin: str = option(REQUIRED, "choice", choices=ORIGINS)
    modality: str = option(REQUIRED, "choice", choices=MODALITIES)
    backbone: str = option(REQUIRED, "str")
    synthesizer: str | None = option(REQUIRED, "str", optional=True)
    guidance: GuidanceSpec | None = field()
    training_data: tuple[str, ...] = field()
    metrics: Mapping[str, Mapping[str, float]] = field()
    input: InputSpec = field()
    num_classes: int = option(REQUIRED, "int", low=1)
    categories: tuple[str, ...] | None = field()
    num_params: int = option(REQUIRED, "int", low=1)
    file_size_mb: float | None = option(REQUIRED, "float", low=0, optional=True)
    weights: WeightsSpec = field()
    license: str = option(REQUIRED, "str")
    recipe: str = option(REQUIRED, "str")
    citation: str = option(REQUIRED, "str")
    notes: str = option("", "str")
    build: Mapping[str, Any] = field(default_factory=dict)
    #: The YAML file the card was read from (not part of the schema; set by the loader).
    source: Path | None = field(default=None, compare=False)

    # ------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: Path | None = None) -> "ModelCard":
        """Validate ``data`` (a parsed YAML mapping) and return the card.

        ``categories_file`` (a text file, one name per line, relative to the card's folder) may
        stand in for an inline ``categories`` list so that cards can share long class lists.

        Raises:
            CardError: naming the file and every problem found.
        """
        where = f"model card {source}" if source else "model card"
        if not isinstance(data, Mapping):
            raise CardError(f"{where}: expected a mapping at the top level, got {type(data).__name__}")
        errors: list[str] = []
        d = dict(data)

        if "categories_file" in d:
            cf = d.pop("categories_file")
            if "categories" in d and d["categories"] is not None:
                errors.append("give either 'categories' or 'categories_file', not both")
            elif source is None:
                errors.append("'categories_file' needs a card read from a file")
            else:
                path = Path(source).parent / str(cf)
                try:
                    d["categories"] = [ln.strip() for ln in path.read_text("utf-8").splitlines() if ln.strip()]
                except OSError as exc:
                    errors.append(f"categories_file {path}: {exc.strerror or exc}")
                except UnicodeDecodeError:
                    line, what = utf8_problem(path) or (0, "not UTF-8 text")
                    errors.append(f"categories_file {path}, line {line}: {what}")

        known = {f.name for f in dataclasses.fields(cls)} - {"source"}
        required = {
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING  # type: ignore[misc]
        }
        unknown = sorted(set(d) - known)
        if unknown:
            errors.append(f"unknown field(s) {unknown}; known: {sorted(known)}")
        missing = sorted(required - set(d))
        if missing:
            errors.append(f"missing field(s) {missing}")
        if errors:
            raise CardError(f"{where}: " + "; ".join(errors))

        def sub(key: str, typ: type, conv: dict[str, Any] | None = None) -> Any:
            raw = d[key]
            if not isinstance(raw, Mapping):
                errors.append(f"{key!r} must be a mapping, got {type(raw).__name__}")
                return None
            names = {f.name for f in dataclasses.fields(typ)}
            bad = sorted(set(raw) - names)
            if bad:
                errors.append(f"unknown field(s) {bad} in {key!r}; known: {sorted(names)}")
                return None
            try:
                return typ(**{**raw, **(conv or {})})
            except TypeError as exc:  # missing required sub-field
                errors.append(f"{key!r}: {exc}")
                return None

        inp = d["input"]
        input_spec = None
        if isinstance(inp, Mapping):
            conv: dict[str, Any] = {}
            for k in ("size", "mean", "std"):
                if k in inp:
                    conv[k] = _tuple(inp[k])
            input_spec = sub("input", InputSpec, conv)
        else:
            errors.append("'input' must be a mapping")

        w = d["weights"]
        weights_spec = None
        if isinstance(w, Mapping):
            conv = {}
            for key in ("exclude", "missing_ok"):
                if key in w:
                    conv[key] = _tuple(w[key] or ())
            if "rename" in w:
                rn = w["rename"] or {}
                if isinstance(rn, Mapping):
                    conv["rename"] = tuple((str(a), str(b)) for a, b in rn.items())
                else:
                    errors.append("'weights.rename' must map old key prefixes to new ones")
            weights_spec = sub("weights", WeightsSpec, conv)
        else:
            errors.append("'weights' must be a mapping")

        guidance = None
        if d["guidance"] is not None:
            guidance = sub("guidance", GuidanceSpec)

        metrics_raw = d["metrics"] or {}
        metrics: dict[str, dict[str, float]] = {}
        if not isinstance(metrics_raw, Mapping):
            errors.append("'metrics' must map data set -> {metric: value}")
        else:
            for ds, vals in metrics_raw.items():
                if not isinstance(vals, Mapping):
                    errors.append(f"metrics[{ds!r}] must map metric name -> value")
                    continue
                metrics[str(ds)] = {str(k): v for k, v in vals.items()}

        cats = d["categories"]
        card = None
        if not errors:
            card = cls(
                name=d["name"],
                task=d["task"],
                origin=d["origin"],
                modality=d["modality"],
                backbone=d["backbone"],
                synthesizer=d["synthesizer"],
                guidance=guidance,
                training_data=_tuple(d["training_data"] or ()),
                metrics=metrics,
                input=input_spec,  # type: ignore[arg-type]
                num_classes=d["num_classes"],
                categories=None if cats is None else _tuple(cats),
                num_params=d["num_params"],
                file_size_mb=d["file_size_mb"],
                weights=weights_spec,  # type: ignore[arg-type]
                license=d["license"],
                recipe=d["recipe"],
                citation=d["citation"],
                notes=d.get("notes") or "",
                build=dict(d.get("build") or {}),
                source=Path(source) if source else None,
            )
            errors.extend(card.problems())
        if errors:
            raise CardError(f"{where}: " + "; ".join(errors))
        return card  # type: ignore[return-value]

    def problems(self) -> list[str]:
        """Every violation of the schema's value rules (empty when the card is valid)."""
        p: list[str] = []

        # Types, choices and bounds: declared on the fields, checked by the one mechanism run
        # options use too (pgg_zoo.config.checks); the rules below are the card's own.
        p.extend(option_problems(self))
        p.extend(option_problems(self.weights, "weights."))
        p.extend(option_problems(self.input, "input."))
        if self.guidance is not None:
            p.extend(option_problems(self.guidance, "guidance."))

        if isinstance(self.name, str) and not NAME_RE.match(self.name):
            p.append(f"name {self.name!r} must match {NAME_RE.pattern}")
        for key in ("task", "backbone", "license", "recipe", "citation"):
            value = getattr(self, key)
            if isinstance(value, str) and not value.strip():
                p.append(f"{key!r} must not be empty")
        if self.origin == "pgg_zoo" and isinstance(self.recipe, str) and not self.recipe.startswith("pgg-zoo "):
            p.append("a pgg_zoo card's recipe must be the exact 'pgg-zoo ...' command that produced it")
        if not self.training_data or not all(isinstance(t, str) and t for t in self.training_data):
            p.append("'training_data' must be a non-empty list of data set names")
        if self.categories is not None:
            if not all(isinstance(c, str) for c in self.categories):
                p.append("categories must be strings")
            elif isinstance(self.num_classes, int) and len(self.categories) != self.num_classes:
                p.append(f"{len(self.categories)} categories but num_classes={self.num_classes}")
        if not isinstance(self.build, Mapping):
            p.append(f"'build' must be a mapping of task options, got {self.build!r}")

        for ds, vals in self.metrics.items():
            for m, v in vals.items():
                if not METRIC_RE.match(m):
                    p.append(f"metric {m!r} (data set {ds!r}) must name its protocol, e.g. 'acc@1[torchvision]'")
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    p.append(f"metric {m!r} (data set {ds!r}) must be a number, got {v!r}")

        if self.origin == "pgg_zoo" and self.guidance is None:
            p.append("a pgg_zoo card must give its guidance settings (alpha: 0 for none)")

        i = self.input
        if len(i.size) != 2 or not all(isinstance(s, int) and s > 0 for s in i.size):
            p.append(f"input.size must be [H, W] positive ints, got {list(i.size)}")
        for key in ("mean", "std"):
            vals = getattr(i, key)
            if not vals or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
                p.append(f"input.{key} must be a non-empty list of numbers")
        if len(i.mean) != len(i.std):
            p.append("input.mean and input.std must have the same length")
        if any(isinstance(v, (int, float)) and v <= 0 for v in i.std):
            p.append("input.std must be > 0")
        if self.modality == "video":
            for key in ("clip_len", "frame_interval", "sampling"):
                if getattr(i, key) is None:
                    p.append(f"a video card needs input.{key}")
        if self.modality == "keypoint" and i.clip_len is None:
            p.append("a keypoint card needs input.clip_len (frames per sample)")

        w = self.weights
        if self.source is not None:  # a card built in code is checked when its weights are read
            url_problem = weights_url_problem(w.url, self.source)
            if url_problem:
                p.append(url_problem)
        for key in ("sha256", "sha256_prefix"):
            v = getattr(w, key)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                # YAML reads an unquoted all-digit (or digits-e-digits) hash as a number, and
                # an all-zero one as 0: the digest is lost, so say how to write it.
                p.append(f"weights.{key} was read as the number {v!r}: YAML turns an unquoted "
                         f"hash of digits into a number; quote it ({key}: \"...\")")
        if w.sha256 is not None and not isinstance(w.sha256, (int, float)) and not (
                isinstance(w.sha256, str) and SHA256_RE.match(w.sha256)):
            p.append(f"weights.sha256 must be 64 lowercase hex digits or null, got {w.sha256!r}")
        if isinstance(w.hash_verified, bool) and w.hash_verified != (w.sha256 is not None):
            p.append("weights.hash_verified must be true exactly when weights.sha256 is given")
        if self.origin == "pgg_zoo" and w.sha256 is None:
            p.append("weights this project publishes must carry their full sha256")
        if w.sha256_prefix is not None and not isinstance(w.sha256_prefix, (int, float)):
            if not (isinstance(w.sha256_prefix, str) and SHA256_PREFIX_RE.match(w.sha256_prefix)):
                p.append(f"weights.sha256_prefix must be 6..64 lowercase hex digits, got {w.sha256_prefix!r}")
            elif w.sha256 is not None and not w.sha256.startswith(w.sha256_prefix):
                p.append("weights.sha256 does not start with weights.sha256_prefix")
        for key in ("exclude", "missing_ok"):
            if not all(isinstance(x, str) for x in getattr(w, key)):
                p.append(f"weights.{key} must be a list of key prefixes (strings)")
        if w.missing_ok and w.submodule is None:
            p.append("weights.missing_ok needs weights.submodule: a whole-model card must provide every key")
        if w.by_position is True and (w.rename or w.missing_ok):
            p.append("weights.by_position maps every key by its place: it cannot be combined with "
                     "weights.rename or weights.missing_ok")
        return p

    # ------------------------------------------------------------------------------------
    @property
    def verified(self) -> bool:
        """Whether the weights can be checked against a full sha256."""
        return bool(self.weights.hash_verified and self.weights.sha256)

    def to_dict(self) -> dict[str, Any]:
        """The card as plain data (lists, dicts), in schema order; ``source`` left out."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "source":
                continue
            out[f.name] = _plain(getattr(self, f.name))
        rn = out["weights"].get("rename")
        out["weights"]["rename"] = {a: b for a, b in rn} if rn else {}
        return out

    def summary(self) -> str:
        """A human-readable multi-line description (used by ``pgg-zoo card NAME``)."""
        lines = [
            f"{self.name}  ({self.task}, {self.origin})",
            f"  backbone:      {self.backbone}",
            f"  synthesizer:   {self.synthesizer or '-'}",
            "  guidance:      "
            + (f"alpha={self.guidance.alpha} mode={self.guidance.mode} mask={self.guidance.mask}" if self.guidance else "-"),
            f"  training data: {', '.join(self.training_data)}",
            f"  classes:       {self.num_classes}"
            + (f" ({', '.join(self.categories[:5])}{', ...' if len(self.categories) > 5 else ''})" if self.categories else ""),
            f"  parameters:    {self.num_params:,}",
            f"  file size:     {self.file_size_mb if self.file_size_mb is not None else '?'} MB",
            (f"  input:         {self.input.size[0]} persons x {self.input.size[1]} joints x "
             f"{self.input.clip_len} frames" if self.modality == "keypoint" else
             f"  input:         {self.input.size[0]}x{self.input.size[1]} mean={list(self.input.mean)} std={list(self.input.std)}"),
        ]
        if self.modality == "video":
            lines.append(
                f"  clip:          {self.input.clip_len} frames, interval {self.input.frame_interval}, {self.input.sampling} sampling"
            )
        lines.append("  metrics:")
        for ds, vals in self.metrics.items():
            for m, v in vals.items():
                lines.append(f"    {ds:20s} {m:28s} {v}")
        w = self.weights
        lines += [
            f"  weights:       {w.url}",
            f"  format:        {w.format}",
            f"  sha256:        {w.sha256 or 'NOT VERIFIED (loading needs allow_unverified=True / --allow-unverified)'}",
            f"  license:       {self.license}",
            f"  recipe:        {self.recipe}",
        ]
        if self.notes:
            lines.append("  notes:         " + self.notes.strip().replace("\n", "\n                 "))
        if self.source:
            lines.append(f"  card file:     {self.source}")
        return "\n".join(lines)


def _tuple(v: Any) -> tuple[Any, ...]:
    if isinstance(v, (list, tuple)):
        return tuple(v)
    return (v,)


def _plain(v: Any) -> Any:
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {f.name: _plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if isinstance(v, Mapping):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    return v
