"""3-D video backbones for the STAD detector: ``slowfast_r50``, ``slow_r50`` and ``tiny3d``.

Every backbone takes the *raw* clip ``(B, 3, T, H, W)`` and returns a list of 5-D feature maps
``(B, C_i, T_i, h, w)`` (one per pathway) that share the spatial size ``h = H / stride``. The
detector averages each over time and concatenates the channels (``out_channels`` in total).

Why the raw clip: provenance guidance takes the input gradient with respect to what the
synthesizer produced, one ``(T, H, W)`` mask per box. SlowFast therefore splits the clip into
its slow and fast pathways *inside* the model, with differentiable ``index_select``, so the
input gradient of both pathways lands on the same raw clip and one mask serves both.

No backbone downloads weights: pretrained weights come from model cards (a state dict loaded
into the detector's ``backbone``), never as a side effect of building a backbone; the task
option ``pretrained=True`` loads the card :data:`PRETRAINED_CARDS` names.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor, nn

__all__ = [
    "VideoBackbone",
    "SlowFastBackbone",
    "SlowBackbone",
    "Tiny3DBackbone",
    "slowfast_r50",
    "slow_r50",
    "tiny3d",
    "BACKBONE_ALIASES",
    "BACKBONE_BUILDERS",
    "PRETRAINED_CARDS",
    "register_backbones",
]


class VideoBackbone(nn.Module):
    """Base class: ``forward(clip (B, 3, T, H, W)) -> [(B, C_i, T_i, h, w), ...]``.

    Attributes:
        out_channels: ``sum C_i``, channels after temporal pooling and concatenation.
        spatial_stride: input pixels per feature pixel (``H / h``), so RoIs use
            ``spatial_scale = 1 / spatial_stride``.
        temporal_multiple: ``T`` must be a multiple of this.
    """

    out_channels: int
    spatial_stride: int
    temporal_multiple: int = 1

    def check_clip(self, clip: Tensor) -> None:
        if clip.dim() != 5 or clip.shape[1] != 3:
            raise ValueError(f"{type(self).__name__} expects a clip (B, 3, T, H, W), got {tuple(clip.shape)}")
        t = clip.shape[2]
        if t % self.temporal_multiple:
            raise ValueError(
                f"{type(self).__name__} needs T to be a multiple of {self.temporal_multiple}, got T={t}"
            )


class SlowFastBackbone(VideoBackbone):
    """SlowFast R50 (8x8 detection variant: last stage spatial stride 1, dilation 2; stride 16).

    Built with :func:`pytorchvideo.models.create_slowfast` and the stage settings of
    ``pytorchvideo.models.hub.slowfast_r50_detection``, without its pooling and RoI head (the
    detector owns those). The clip is split inside ``forward``: the fast pathway sees all ``T``
    frames, the slow pathway ``T / alpha`` frames picked by ``index_select`` at
    ``linspace(0, T - 1, T / alpha)`` (PySlowFast's ``PackPathway`` convention, which Kinetics
    and AVA checkpoints were trained with).

    Args:
        alpha: frame-rate ratio between the fast and slow pathways.
        depth: ResNet depth (50 or 101).
        norm: 3-D normalization layer.
    """

    def __init__(self, alpha: int = 4, depth: int = 50, norm: Callable[..., nn.Module] = nn.BatchNorm3d) -> None:
        super().__init__()
        from pytorchvideo.models.slowfast import create_slowfast  # heavy import, only when built

        net = create_slowfast(
            model_depth=depth,
            norm=norm,
            slowfast_fusion_conv_stride=(alpha, 1, 1),
            stage_conv_b_dilations=(
                ((1, 1, 1), (1, 1, 1), (1, 1, 1), (1, 2, 2)),
                ((1, 1, 1), (1, 1, 1), (1, 1, 1), (1, 2, 2)),
            ),
            stage_spatial_strides=((1, 2, 2, 1), (1, 2, 2, 1)),
            head=None,
        )
        # Drop PoolConcatPathway: it pools with fixed kernels and concatenates pathways whose
        # frame counts differ; the detector pools over time itself.
        self.blocks = nn.ModuleList(list(net.blocks)[:-1])
        self.alpha = int(alpha)
        self.out_channels = 2048 + 256
        self.spatial_stride = 16
        self.temporal_multiple = self.alpha

    def slow_indices(self, t: int, device: torch.device) -> Tensor:
        """``(T / alpha,)`` frame indices of the slow pathway."""
        return torch.linspace(0, t - 1, t // self.alpha, device=device).long()

    def forward(self, clip: Tensor) -> list[Tensor]:
        """``(B, 3, T, H, W)`` -> ``[(B, 2048, T/alpha, H/16, W/16), (B, 256, T, H/16, W/16)]``."""
        self.check_clip(clip)
        slow = clip.index_select(2, self.slow_indices(clip.shape[2], clip.device))
        # pytorchvideo's blocks may write into the list they receive: always a fresh list.
        x: list[Tensor] = [slow, clip]
        for block in self.blocks:
            x = block(list(x))
        return list(x)


class SlowBackbone(VideoBackbone):
    """Slow-only R50 (pytorchvideo ``create_resnet``; detection variant, stride 16).

    Args:
        temporal_stride: keep every ``temporal_stride``-th frame of the clip (strided slicing,
            differentiable) before the network; 1 uses the clip as given.
        depth: ResNet depth.
    """

    def __init__(self, temporal_stride: int = 1, depth: int = 50,
                 norm: Callable[..., nn.Module] = nn.BatchNorm3d) -> None:
        super().__init__()
        from pytorchvideo.models.resnet import create_resnet

        net = create_resnet(
            model_depth=depth,
            norm=norm,
            stem_conv_kernel_size=(1, 7, 7),
            stage_conv_a_kernel_size=((1, 1, 1), (1, 1, 1), (3, 1, 1), (3, 1, 1)),
            stage_conv_b_dilation=((1, 1, 1), (1, 1, 1), (1, 1, 1), (1, 2, 2)),
            stage_spatial_h_stride=(1, 2, 2, 1),
            stage_spatial_w_stride=(1, 2, 2, 1),
            head=None,
        )
        self.blocks = net.blocks
        self.temporal_stride = int(temporal_stride)
        self.out_channels = 2048
        self.spatial_stride = 16
        self.temporal_multiple = self.temporal_stride

    def forward(self, clip: Tensor) -> list[Tensor]:
        """``(B, 3, T, H, W)`` -> ``[(B, 2048, T/temporal_stride, H/16, W/16)]``."""
        self.check_clip(clip)
        x = clip[:, :, :: self.temporal_stride] if self.temporal_stride > 1 else clip
        for block in self.blocks:
            x = block(x)
        return [x]


class Tiny3DBackbone(VideoBackbone):
    """A small 3-D CNN that trains on CPU: three conv3d-BN-ReLU blocks, spatial stride 4.

    ``3 -> w -> 2w -> 4w`` channels (``w = 16``: 16-32-64), 3x3x3 kernels, spatial stride 2 in
    the first two blocks, temporal stride 1. A 16x64x64 clip gives a 16x16x16 map. Receptive
    field 15 x 15 input pixels (7 x 7 with ``local``).

    Args:
        width: channels of the first block.
        local: make the last block's kernel 3x1x1 (backbone ``tiny3d_local``).
    """

    def __init__(self, width: int = 16, local: bool = False) -> None:
        super().__init__()
        chans = (3, width, 2 * width, 4 * width)
        strides = ((1, 2, 2), (1, 2, 2), (1, 1, 1))
        # local: the last block is temporal only (3x1x1), so a feature sees 7 x 7 input pixels
        # instead of 15 x 15 and a small box's features see little of the scene around it.
        kernels = ((3, 3, 3), (3, 3, 3), (3, 1, 1) if local else (3, 3, 3))
        layers: list[nn.Module] = []
        for cin, cout, st, k in zip(chans[:-1], chans[1:], strides, kernels):
            layers += [
                nn.Conv3d(cin, cout, kernel_size=k, stride=st, padding=tuple(x // 2 for x in k),
                          bias=False),
                nn.BatchNorm3d(cout),
                nn.ReLU(inplace=False),  # in-place ReLU would break double backprop bookkeeping
            ]
        self.body = nn.Sequential(*layers)
        self.out_channels = chans[-1]
        self.spatial_stride = 4
        self.temporal_multiple = 1

    def forward(self, clip: Tensor) -> list[Tensor]:
        """``(B, 3, T, H, W)`` -> ``[(B, 4w, T, H/4, W/4)]``."""
        self.check_clip(clip)
        return [self.body(clip)]


def tiny3d_local(**kwargs: Any) -> Tiny3DBackbone:
    """tiny3d whose features see 7 x 7 input pixels instead of 15 x 15 (last block temporal
    only): with the ``global`` context head, the scene then reaches a box's logit mainly
    through the context path (docs/stad.md)."""
    return Tiny3DBackbone(local=True, **kwargs)


def slowfast_r50(**kwargs: Any) -> SlowFastBackbone:
    """SlowFast R50 detection backbone (alpha 4, stride 16, 2304 channels)."""
    return SlowFastBackbone(**kwargs)


def slow_r50(**kwargs: Any) -> SlowBackbone:
    """Slow-only R50 detection backbone (stride 16, 2048 channels)."""
    return SlowBackbone(**kwargs)


def tiny3d(**kwargs: Any) -> Tiny3DBackbone:
    """The CPU-sized 3-D CNN (stride 4, 64 channels)."""
    return Tiny3DBackbone(**kwargs)


BACKBONE_BUILDERS: dict[str, Callable[..., VideoBackbone]] = {
    "slowfast_r50": slowfast_r50,
    "slow_r50": slow_r50,
    "tiny3d": tiny3d,
    "tiny3d_local": tiny3d_local,
}

#: The model card ``pretrained=True`` loads into each backbone (Kinetics-400 trunks of
#: pytorchvideo's model zoo); the AVA-finetuned SlowFast stays available by name
#: (``pretrained="slowfast_r50_ava_v2.2"``).
PRETRAINED_CARDS: dict[str, str] = {"slowfast_r50": "slowfast_r50_kinetics400",
                                    "slow_r50": "slow_r50_kinetics400"}

#: The short names pytorchvideo's hub uses (``torch.hub.load(..., "slowfast_r50")`` documents
#: them as SlowFast / Slow), which users write: ``pgg_zoo.build("stad", backbone="slowfast")``.
BACKBONE_ALIASES: dict[str, str] = {"slowfast": "slowfast_r50", "slow": "slow_r50"}


def register_backbones() -> None:
    """Register the STAD backbones in ``pgg_zoo.registry.BACKBONES`` (meta ``tasks=("stad",)``).

    Idempotent: a name already bound to the same builder is left alone; a name bound to
    something else raises the registry's :class:`DuplicateNameError`.
    """
    from pgg_zoo.registry import BACKBONES

    for name, fn in BACKBONE_BUILDERS.items():
        if name in BACKBONES and BACKBONES.get(name) is fn:
            continue
        aliases = tuple(a for a, n in BACKBONE_ALIASES.items() if n == name)
        meta = {"pretrained": PRETRAINED_CARDS[name]} if name in PRETRAINED_CARDS else {}
        BACKBONES.add(name, fn, tasks=("stad",), modality="video", aliases=aliases, **meta)


def build_backbone(name: str | VideoBackbone, **kwargs: Any) -> VideoBackbone:
    """A backbone by name or an instance passed through.

    Built-in names and their aliases (``BACKBONE_ALIASES``) come from ``BACKBONE_BUILDERS``
    (no registry lookup, so building works before plugins are loaded); other names are looked up
    in ``pgg_zoo.registry.BACKBONES``.

    Raises:
        ConfigError: an unknown name (the message lists the STAD backbones only), or a backbone
            registered for other tasks only.
    """
    if isinstance(name, nn.Module):
        if kwargs:
            raise ValueError("backbone options are only accepted with a backbone name")
        return name
    name = BACKBONE_ALIASES.get(name, name)
    if name in BACKBONE_BUILDERS:
        return BACKBONE_BUILDERS[name](**kwargs)
    # A backbone a third-party plugin registered for stad (its builder must return a
    # VideoBackbone); anything else is refused listing the STAD backbones only.
    from pgg_zoo.registry import BACKBONES
    from pgg_zoo.task import resolve_backbone

    return BACKBONES.get(resolve_backbone("stad", name, open_names=False))(**kwargs)
