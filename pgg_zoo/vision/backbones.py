"""Feature extractors for CAM classifiers: each maps (B, 3, H, W) to (B, C, h, w).

Image plugins register them for their own task with :func:`register_image_backbones`; the
registry then lists each backbone with every task that registered it, whatever the order the
plugins load in.
"""
from __future__ import annotations

from typing import Any, Callable

import timm
import torch
from torch import Tensor, nn

from pgg_zoo.registry import BACKBONES, UnknownNameError

#: Registry metadata that marks the backbones of this module (``BACKBONES.names(family=...)``).
FAMILY = "image_cam"


class Features(nn.Module):
    """Wraps a module returning a feature map; records its channel count."""

    def __init__(self, body: nn.Module, out_channels: int) -> None:
        super().__init__()
        self.body = body
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


def _conv_bn(cin: int, cout: int, act: Callable[[], nn.Module] = lambda: nn.ReLU(inplace=True),
             norm: bool = True) -> list[nn.Module]:
    if not norm:  # conv biases take BatchNorm's shift
        return [nn.Conv2d(cin, cout, 3, padding=1), act()]
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), act()]


def _tiny_cam_body(**block: Any) -> Features:
    body = nn.Sequential(
        *_conv_bn(3, 32, **block), nn.MaxPool2d(2),
        *_conv_bn(32, 64, **block), nn.MaxPool2d(2),
        *_conv_bn(64, 128, **block),
        *_conv_bn(128, 128, **block),
    )
    return Features(body, 128)


def tiny_cam(**_: Any) -> Features:
    """A 4-layer CNN (32-64-128-128, output stride 4) that trains in minutes on 2 CPU cores.

    At 64 x 64 input its CAM is 16 x 16, fine enough for boxes on the embedded benchmark.
    """
    return _tiny_cam_body()


def tiny_cam_nobn(**_: Any) -> Features:
    """``tiny_cam`` without BatchNorm (conv biases instead): train-mode BatchNorm couples the
    inputs of a batch, which an input-gradient penalty then sees through."""
    return _tiny_cam_body(act=nn.ReLU, norm=False)


def tiny_cam_gelu(**_: Any) -> Features:
    """``tiny_cam`` with GELU: through a ReLU the penalty's parameter gradient cannot move a
    gate (its second derivative is 0); a smooth activation lets it."""
    return _tiny_cam_body(act=nn.GELU)


def tiny_cam_softplus(**_: Any) -> Features:
    """``tiny_cam`` with Softplus (beta 4), a smooth ReLU (see :func:`tiny_cam_gelu`)."""
    return _tiny_cam_body(act=lambda: nn.Softplus(beta=4.0))


def vgg16_cam(**_: Any) -> Features:
    """VGG16 in the CAM form used in WSOL work (Zhou et al. 2016; wsolevaluation).

    The VGG16 convolutions without the last max-pool (output stride 16), then an extra
    3 x 3 convolution to 1024 channels with ReLU; global average pooling and the linear head
    are added by the classifier.
    """
    import torchvision

    vgg = torchvision.models.vgg16(weights=None)
    layers = list(vgg.features.children())[:-1]  # drop pool5
    body = nn.Sequential(*layers, nn.Conv2d(512, 1024, 3, padding=1), nn.ReLU(inplace=True))
    return Features(body, 1024)


class _TimmFeatures(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model.forward_features(x)


def timm_features(name: str, output_stride: int | None = 16, **_: Any) -> Features:
    """Any timm convolutional network by name, as a feature extractor (no pretrained download:
    the task option ``pretrained`` loads a model card's weights into it, verified).

    ``output_stride`` 16 (dilated last stage) keeps CAMs usable, as WSOL ResNets do; networks
    that do not support it are built at their native stride.
    """
    if not timm.is_model(name):
        raise UnknownNameError(
            f"unknown backbone {name!r}: not registered and not a timm model name. "
            f"Registered image backbones: {', '.join(BACKBONES.names(family=FAMILY))}"
        )
    kw: dict[str, Any] = dict(pretrained=False, num_classes=0, global_pool="")
    try:
        model = timm.create_model(name, output_stride=output_stride, **kw) if output_stride else timm.create_model(name, **kw)
    except (TypeError, AssertionError, ValueError):
        model = timm.create_model(name, **kw)
    with torch.no_grad():
        was = model.training
        model.eval()
        out = model.forward_features(torch.zeros(1, 3, 64, 64))
        model.train(was)
    if out.dim() != 4:
        raise ValueError(f"timm model {name!r} does not produce a (B, C, h, w) feature map "
                         f"(got {tuple(out.shape)}); CAM needs a convolutional network")
    return Features(_TimmFeatures(model), int(out.shape[1]))


def _timm_named(name: str):
    def build(**kw: Any) -> Features:
        return timm_features(name, **kw)

    build.__name__ = name
    build.__doc__ = f"timm ``{name}`` with output stride 16, as a CAM feature extractor."
    return build


#: The registered image backbones: name -> builder.
IMAGE_BACKBONES: dict[str, Any] = {
    "tiny_cam": tiny_cam,
    "tiny_cam_nobn": tiny_cam_nobn,
    "tiny_cam_gelu": tiny_cam_gelu,
    "tiny_cam_softplus": tiny_cam_softplus,
    "vgg16": vgg16_cam,
    "resnet18": _timm_named("resnet18"),
    "resnet50": _timm_named("resnet50"),
}


def register_image_backbones(task: str) -> None:
    """Register :data:`IMAGE_BACKBONES` for ``task`` (called by an image plugin's entry point).

    A name already registered by this function for another task keeps its builder and gains
    ``task`` in its ``tasks`` metadata; a name taken by anything else raises
    :class:`~pgg_zoo.registry.DuplicateNameError` as any registration would.
    """
    for name, build in IMAGE_BACKBONES.items():
        tasks: tuple[str, ...] = (task,)
        if name in BACKBONES and BACKBONES.meta(name).get("family") == FAMILY:
            have = tuple(BACKBONES.meta(name).get("tasks", ()))
            if task in have:
                continue
            tasks = have + tasks
            BACKBONES.add(name, BACKBONES.get(name), replace=True, tasks=tasks, family=FAMILY)
            continue
        BACKBONES.add(name, build, tasks=tasks, family=FAMILY)


def build_backbone(name: str, **kwargs: Any) -> Features:
    """A registered backbone, or any timm model by name: ``(B, 3, H, W) -> (B, C, h, w)``."""
    if name in BACKBONES:
        return BACKBONES.build(name, **kwargs)
    return timm_features(name, **kwargs)
