"""Spatio-temporal actor paste for STAD, with provenance ("video_paste").

For each host clip ``b`` of a batch, one actor tube of a donor clip (``donor[b]``, a seeded
cyclic permutation of the batch: no clip is its own donor when ``B >= 2``) is cut out frame by
frame, optionally scaled and shifted (one seeded scale and shift per clip, constant over time so
the tube moves rigidly), and pasted into the host over the same frames::

    clip = host * (1 - P) + layer * P          P: (T, H, W) binary paste region

where ``layer`` is the donor actor's tube moved to its new place (see :func:`paste_layer`).

Provenance, one ``(T, H, W)`` mask per box label of the new clip:

* the pasted actor owns the paste region ``P`` (its box in every frame it was pasted into);
* every host actor owns ``1 - P``: everything of the host clip that survived.

So the guidance tells a host actor's logit not to read the pasted actor, and the pasted
actor's logit not to read the host scene (the background it was moved into): paste provenance
marks the actor itself, which is what targets background shortcuts. The pasted region is the
donor's box, so a little donor background around the actor travels with it and is owned by
the pasted actor.

Occlusion rule: a host actor whose key-frame box is covered by ``P`` (at the key frame) by more
than ``occlusion_threshold`` of its area (default 0.5) no longer shows its action reliably.
``occluded="drop"`` (default) removes it from the boxes and labels; ``occluded="mark"`` keeps
it as a box with ``valid=False`` and weight 0 (it still gets logits, but neither the task loss
nor the penalty uses it). Less-covered host actors keep weight 1.

Batch keys read: ``"inputs"`` ``(B, 3, T, H, W)``; ``"boxes"`` ``B`` tensors ``(n_b, 4)``
``[x1, y1, x2, y2]`` key-frame boxes in input pixels; ``"box_labels"`` ``B`` tensors ``(n_b,)``
int64 (or ``(n_b, C)`` multi-hot: the provenance label is then the first positive class); and
optionally ``"tubes"`` ``B`` tensors ``(n_b, T, 4)`` per-frame boxes (NaN rows: actor absent in
that frame) and ``"key_frame"`` (an int or ``(B,)`` tensor; default ``T // 2``). Without
``"tubes"``, the key-frame box is used for all frames.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from pgg_zoo.provenance import Provenance
from pgg_zoo.synthesizers.base import SynthesizedBatch, rand_uniform

__all__ = [
    "VideoPaste",
    "paste_layer",
    "box_provenance",
    "covered_fraction",
    "register_synthesizers",
]


def _int_rect(box: Tensor, height: int, width: int) -> tuple[int, int, int, int]:
    """``[x1, y1, x2, y2]`` float box -> integer pixel rect ``(x0, y0, x1, y1)`` (end-exclusive)
    covering it, clipped to the frame; empty rects have ``x1 <= x0`` or ``y1 <= y0``."""
    x1, y1, x2, y2 = (float(v) for v in box)
    x0 = min(max(math.floor(x1), 0), width)
    y0 = min(max(math.floor(y1), 0), height)
    xe = min(max(math.ceil(x2), 0), width)
    ye = min(max(math.ceil(y2), 0), height)
    return x0, y0, xe, ye


def paste_layer(
    donor: Tensor,
    src_boxes: Tensor,
    scale: float = 1.0,
    shift: tuple[float, float] = (0.0, 0.0),
) -> tuple[Tensor, Tensor, Tensor]:
    """The donor actor tube moved to its new place.

    For every frame ``t`` with a box, the integer rect covering ``src_boxes[t]`` is cropped,
    resized by ``scale`` (bilinear; an exact copy when the size does not change), its centre
    moved by ``shift = (dx, dy)`` pixels, and the part inside the frame written to ``layer``.

    Args:
        donor: ``(C, T, H, W)`` donor clip.
        src_boxes: ``(T, 4)`` the actor's box per frame ``[x1, y1, x2, y2]`` (a NaN row: absent).
        scale: size factor of the pasted actor.
        shift: ``(dx, dy)`` displacement of the box centre in pixels.

    Returns:
        ``layer`` ``(C, T, H, W)`` (zeros outside the region), ``region`` ``(T, H, W)`` float
        in ``{0, 1}`` (the paste region ``P``), and ``dst_boxes`` ``(T, 4)`` float: the visible
        pasted rect per frame (NaN where nothing was pasted).
    """
    c, t, h, w = donor.shape
    layer = torch.zeros_like(donor)
    region = torch.zeros((t, h, w), dtype=torch.float32, device=donor.device)
    dst_boxes = torch.full((t, 4), float("nan"))
    # Frames sharing a box (the key-frame-only case: all of them) are moved in one resize.
    groups: dict[tuple[float, ...], list[int]] = {}
    for ti in range(t):
        row = src_boxes[ti].detach().cpu()
        if torch.isnan(row).any():
            continue
        groups.setdefault(tuple(row.tolist()), []).append(ti)
    for key, frames in groups.items():
        sx0, sy0, sx1, sy1 = _int_rect(torch.tensor(key), h, w)
        sw, sh = sx1 - sx0, sy1 - sy0
        if sw <= 0 or sh <= 0:
            continue
        dw, dh = max(1, round(sw * scale)), max(1, round(sh * scale))
        dx0 = round((sx0 + sx1) / 2 + shift[0] - dw / 2)
        dy0 = round((sy0 + sy1) / 2 + shift[1] - dh / 2)
        fr = torch.tensor(frames, device=donor.device)
        crop = donor.index_select(1, fr)[:, :, sy0:sy1, sx0:sx1]  # (C, n, sh, sw)
        if (dh, dw) != (sh, sw):
            # Frames become the batch of a 2-D resize; integer dtypes go through float.
            src = crop.transpose(0, 1).float()
            crop = F.interpolate(src, size=(dh, dw), mode="bilinear", align_corners=False)
            crop = crop.transpose(0, 1).to(donor.dtype)
        # Clip the placed patch to the frame.
        vx0, vy0 = max(dx0, 0), max(dy0, 0)
        vx1, vy1 = min(dx0 + dw, w), min(dy0 + dh, h)
        if vx1 <= vx0 or vy1 <= vy0:
            continue
        patch = crop[:, :, vy0 - dy0 : vy1 - dy0, vx0 - dx0 : vx1 - dx0]
        layer[:, fr, vy0:vy1, vx0:vx1] = patch
        region[fr, vy0:vy1, vx0:vx1] = 1.0
        dst_boxes[frames] = torch.tensor([vx0, vy0, vx1, vy1], dtype=torch.float32)
    return layer, region, dst_boxes


def covered_fraction(boxes: Tensor, region: Tensor) -> Tensor:
    """Fraction of each box's area that ``region`` covers.

    Args:
        boxes: ``(n, 4)`` ``[x1, y1, x2, y2]`` in pixels (continuous coordinates).
        region: ``(H, W)`` float mask in ``[0, 1]`` (one frame of the paste region).

    Returns:
        ``(n,)`` float in ``[0, 1]``; a box of zero area counts as covered when its pixel is.
        Pixel ``(i, j)`` is the unit square ``[j, j+1) x [i, i+1)``; partial pixels count by
        their overlap with the box.
    """
    h, w = region.shape
    out = torch.zeros(boxes.shape[0])
    reg = region.detach().float().cpu()
    for i, bx in enumerate(boxes.detach().float().cpu()):
        x1, y1, x2, y2 = bx.tolist()
        xs = torch.arange(w, dtype=torch.float32)
        ys = torch.arange(h, dtype=torch.float32)
        ox = (torch.minimum(xs + 1, torch.tensor(x2)) - torch.maximum(xs, torch.tensor(x1))).clamp(min=0)
        oy = (torch.minimum(ys + 1, torch.tensor(y2)) - torch.maximum(ys, torch.tensor(y1))).clamp(min=0)
        area = float(oy.sum() * ox.sum())
        if area <= 0:
            cx = min(max(int(math.floor((x1 + x2) / 2)), 0), w - 1)
            cy = min(max(int(math.floor((y1 + y2) / 2)), 0), h - 1)
            out[i] = reg[cy, cx]
            continue
        out[i] = float((oy.view(-1, 1) * ox.view(1, -1) * reg).sum()) / area
    return out


def _class_ids(labels: Tensor) -> Tensor:
    """``(n,)`` class ids from ``(n,)`` ids or ``(n, C)`` multi-hot (first positive class)."""
    if labels.dim() == 2:
        return (labels > 0).float().argmax(dim=1).long()
    return labels.reshape(-1).long()


def _key_frames(batch: Mapping[str, Any], b: int, t: int, default: int | None) -> list[int]:
    kf = batch.get("key_frame")
    if kf is None:
        return [t // 2 if default is None else int(default)] * b
    if isinstance(kf, Tensor):
        kf = kf.reshape(-1).tolist()
        if len(kf) == 1:
            kf = kf * b
        return [int(k) for k in kf]
    if isinstance(kf, int):
        return [kf] * b
    return [int(k) for k in kf]


def _pad_provenance(
    inputs: Tensor,
    masks: Sequence[Sequence[Tensor]],
    labels: Sequence[Tensor],
    weights: Sequence[Tensor],
    valid: Sequence[Tensor],
    mask_dtype: torch.dtype,
) -> Provenance:
    """Pad per-clip label lists to ``L = max(1, max n_b)`` and build the Provenance."""
    b, grid = inputs.shape[0], tuple(inputs.shape[2:])
    n_slots = max([1] + [len(m) for m in masks])
    dev = inputs.device
    m_out = torch.zeros((b, n_slots, *grid), dtype=mask_dtype, device=dev)
    l_out = torch.zeros((b, n_slots), dtype=torch.long, device=dev)
    w_out = torch.zeros((b, n_slots), dtype=torch.float32, device=dev)
    v_out = torch.zeros((b, n_slots), dtype=torch.bool, device=dev)
    for i in range(b):
        n = len(masks[i])
        for j, mk in enumerate(masks[i]):
            m_out[i, j] = mk.to(dev, mask_dtype)
        l_out[i, :n] = labels[i].to(dev)
        w_out[i, :n] = weights[i].to(dev)
        v_out[i, :n] = valid[i].to(dev)
    return Provenance(m_out, l_out, w_out, input_shape=inputs.shape, valid=v_out)


def box_provenance(
    inputs: Tensor,
    boxes: Sequence[Tensor],
    box_labels: Sequence[Tensor],
    mask_dtype: torch.dtype = torch.float32,
) -> Provenance:
    """Provenance of unsynthesized clips: every box label owns the whole clip (no penalty).

    Args:
        inputs: ``(B, 3, T, H, W)``.
        boxes: ``B`` tensors ``(n_b, 4)``.
        box_labels: ``B`` tensors ``(n_b,)`` (or ``(n_b, C)`` multi-hot).

    Returns:
        Provenance with ``L = max(1, max n_b)``, slot ``l`` = box ``l``, weights 1, padding
        invalid.
    """
    grid = tuple(inputs.shape[2:])
    ones = torch.ones(grid, dtype=mask_dtype, device=inputs.device)
    masks, labels, weights, valid = [], [], [], []
    for bx, lb in zip(boxes, box_labels):
        n = bx.reshape(-1, 4).shape[0]
        masks.append([ones] * n)
        labels.append(_class_ids(lb)[:n])
        weights.append(torch.ones(n))
        valid.append(torch.ones(n, dtype=torch.bool))
    return _pad_provenance(inputs, masks, labels, weights, valid, mask_dtype)


@dataclass
class VideoPaste:
    """Paste one donor actor tube into each clip of the batch (module docstring: the rule).

    Args:
        prob: probability that a clip receives a paste (others keep their own boxes, each
            owning the whole clip).
        scale_range: ``(lo, hi)``; the pasted actor's size factor is uniform in it.
        shift: maximal centre displacement as a fraction of the frame size; ``dx`` is uniform
            in ``[-shift * W, shift * W]`` and ``dy`` in ``[-shift * H, shift * H]``.
        occlusion_threshold: a host actor covered by more than this fraction of its
            key-frame box area is occluded.
        occluded: ``"drop"`` removes occluded host actors; ``"mark"`` keeps them with
            ``valid=False`` and weight 0.
        min_box_size: a pasted key-frame rect narrower or lower than this (pixels, after
            clipping to the frame) is not pasted at all.
        key_frame: key-frame index when the batch has no ``"key_frame"`` (default ``T // 2``).
        mask_dtype: dtype of the provenance masks (``torch.float16`` halves their memory).
        host_labels: ``"keep"`` (default) keeps the host clip's actors as labelled boxes that
            own everything but ``P``; ``"drop"`` removes their boxes and labels from a clip that
            received a paste, so the host serves as a background plate for the pasted actor
            (actor-onto-another-video's-background synthesis, as ActorCutMix / FAME). The host
            actors stay visible, unlabelled, and lie outside the pasted actor's provenance.
    """

    prob: float = 1.0
    scale_range: tuple[float, float] = (1.0, 1.0)
    shift: float = 0.0
    occlusion_threshold: float = 0.5
    occluded: Literal["drop", "mark"] = "drop"
    min_box_size: float = 2.0
    key_frame: int | None = None
    mask_dtype: torch.dtype = field(default=torch.float32)
    host_labels: Literal["keep", "drop"] = "keep"

    def __post_init__(self) -> None:
        if self.occluded not in ("drop", "mark"):
            raise ValueError(f"occluded must be 'drop' or 'mark', got {self.occluded!r}")
        if self.host_labels not in ("keep", "drop"):
            raise ValueError(f"host_labels must be 'keep' or 'drop', got {self.host_labels!r}")
        lo, hi = self.scale_range
        if not 0 < lo <= hi:
            raise ValueError(f"scale_range must satisfy 0 < lo <= hi, got {self.scale_range}")
        if not 0 <= self.occlusion_threshold <= 1:
            raise ValueError(f"occlusion_threshold must lie in [0, 1], got {self.occlusion_threshold}")
        if self.shift < 0:
            raise ValueError(f"shift must be >= 0, got {self.shift}")

    def __call__(
        self, batch: Mapping[str, Any], generator: torch.Generator | None = None
    ) -> SynthesizedBatch:
        """Paste, and return the new clips, provenance and extras.

        Returns:
            :class:`SynthesizedBatch` with ``inputs`` ``(B, 3, T, H, W)``, provenance with
            ``L = max(1, max boxes after paste)`` (host actors kept, in order, then the pasted
            actor), and extras: ``"boxes"`` / ``"box_labels"`` (lists, the new key-frame boxes
            and labels, same order as the label slots), ``"box_valid"`` (list of ``(n_b,)``
            bool), ``"donor"`` ``(B,)`` donor clip index, ``"donor_actor"`` ``(B,)`` actor index
            in the donor (-1: no paste), ``"pasted"`` ``(B,)`` bool, ``"paste_region"``
            ``(B, T, H, W)`` the region ``P``, ``"paste_boxes"`` ``(B, T, 4)`` pasted rects
            (NaN: none), ``"occluded"`` list of host box indices dropped or marked,
            ``"scale"`` ``(B,)``, ``"shift"`` ``(B, 2)`` pixels ``(dx, dy)``, ``"key_frame"``.
        """
        x: Tensor = batch["inputs"]
        if x.dim() != 5:
            raise ValueError(f"video_paste expects clips (B, C, T, H, W), got {tuple(x.shape)}")
        b, _, t, h, w = x.shape
        boxes = [bx.reshape(-1, 4).float().cpu() for bx in batch["boxes"]]
        labels = list(batch["box_labels"])
        if len(boxes) != b or len(labels) != b:
            raise ValueError(f"batch has {b} clips but {len(boxes)} box sets and {len(labels)} label sets")
        tubes = batch.get("tubes")
        key_frames = _key_frames(batch, b, t, self.key_frame)

        # All randomness up front, in a fixed order, from ``generator`` alone.
        order = torch.randperm(b, generator=generator)
        donor = torch.empty(b, dtype=torch.long)
        donor[order] = order.roll(-1)  # a single cycle: no clip is its own donor if B >= 2
        u_apply = rand_uniform(b, generator)
        u_actor = rand_uniform(b, generator)
        u_scale = rand_uniform(b, generator)
        u_shift = rand_uniform(2 * b, generator).view(b, 2)
        lo, hi = self.scale_range
        scales = lo + (hi - lo) * u_scale
        shifts = (2 * u_shift - 1) * self.shift * torch.tensor([float(w), float(h)])

        out = x.clone()
        region_all = torch.zeros((b, t, h, w), dtype=torch.float32, device=x.device)
        paste_boxes = torch.full((b, t, 4), float("nan"))
        pasted = torch.zeros(b, dtype=torch.bool)
        donor_actor = torch.full((b,), -1, dtype=torch.long)
        new_boxes, new_labels, new_valid, occl = [], [], [], []
        masks, prov_labels, weights, valid = [], [], [], []
        ones = torch.ones((t, h, w), dtype=torch.float32, device=x.device)
        for i in range(b):
            d = int(donor[i])
            n_d = boxes[d].shape[0]
            region = None
            if n_d > 0 and float(u_apply[i]) < self.prob:
                j = min(int(float(u_actor[i]) * n_d), n_d - 1)
                if tubes is not None:
                    src = tubes[d][j].reshape(t, 4).float().cpu()
                else:
                    src = boxes[d][j].view(1, 4).expand(t, 4)
                layer, region, dst = paste_layer(
                    x[d], src, float(scales[i]), (float(shifts[i, 0]), float(shifts[i, 1]))
                )
                kb = dst[key_frames[i]]
                if torch.isnan(kb).any() or min(kb[2] - kb[0], kb[3] - kb[1]) < self.min_box_size:
                    region = None  # the pasted actor is not (enough) in the key frame
                else:
                    keep = region.to(x.device).bool().unsqueeze(0)  # (1, T, H, W)
                    # torch.where keeps host and donor values bit-exact (no 0 * x arithmetic).
                    out[i] = torch.where(keep, layer.to(x.device), x[i])
                    region_all[i] = region.to(x.device)
                    paste_boxes[i] = dst
                    pasted[i] = True
                    donor_actor[i] = j

            hb, hl = boxes[i], labels[i]
            hl = hl if hl.dim() == 2 else hl.reshape(-1)
            if region is None:
                cov = torch.zeros(hb.shape[0])
            else:
                cov = covered_fraction(hb, region[key_frames[i]])
            occ = cov > self.occlusion_threshold
            occl.append(occ.nonzero(as_tuple=True)[0])
            keep_idx = (~occ).nonzero(as_tuple=True)[0] if self.occluded == "drop" else torch.arange(hb.shape[0])
            if region is not None and self.host_labels == "drop":
                keep_idx = keep_idx[:0]  # a background plate: no host actor keeps a label
            kb_boxes, kb_labels = hb[keep_idx], hl[keep_idx.to(hl.device)]
            kb_valid = ~occ[keep_idx]
            host_mask = ones if region is None else (1.0 - region_all[i])
            m_i = [host_mask] * kb_boxes.shape[0]
            lab_i = [_class_ids(kb_labels).cpu()]
            val_i = [kb_valid]
            if region is not None:
                m_i.append(region_all[i])
                dl = labels[d]
                dl = dl if dl.dim() == 2 else dl.reshape(-1)
                d_lab = dl[donor_actor[i] : donor_actor[i] + 1]
                kb_boxes = torch.cat([kb_boxes, paste_boxes[i, key_frames[i]].view(1, 4)])
                kb_labels = torch.cat([kb_labels, d_lab.to(kb_labels.device, kb_labels.dtype)])
                kb_valid = torch.cat([kb_valid, torch.ones(1, dtype=torch.bool)])
                lab_i.append(_class_ids(d_lab).cpu())
                val_i.append(torch.ones(1, dtype=torch.bool))
            new_boxes.append(kb_boxes.to(batch["boxes"][i].device))
            new_labels.append(kb_labels)
            new_valid.append(kb_valid)
            masks.append(m_i)
            prov_labels.append(torch.cat(lab_i).cpu())
            v = torch.cat(val_i)
            valid.append(v)
            weights.append(v.float())

        prov = _pad_provenance(out, masks, prov_labels, weights, valid, self.mask_dtype)
        extras = {
            "boxes": new_boxes,
            "box_labels": new_labels,
            "box_valid": new_valid,
            "donor": donor,
            "donor_actor": donor_actor,
            "pasted": pasted,
            "paste_region": region_all,
            "paste_boxes": paste_boxes,
            "occluded": occl,
            "scale": scales,
            "shift": shifts,
            "key_frame": torch.tensor(key_frames),
        }
        return SynthesizedBatch(out, prov, extras)


def register_synthesizers() -> None:
    """Register ``"video_paste"`` in ``pgg_zoo.registry.SYNTHESIZERS`` (modality ``"video"``).

    Idempotent for the same class; another object under the name raises the registry's error.
    """
    from pgg_zoo.registry import SYNTHESIZERS

    if "video_paste" in SYNTHESIZERS and SYNTHESIZERS.get("video_paste") is VideoPaste:
        return
    SYNTHESIZERS.add("video_paste", VideoPaste, modality="video", tasks=("stad",))
