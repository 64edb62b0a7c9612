"""mmengine metric for WSOL: classification accuracy and localization from CAMs."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

#: Values of the WSOL config key ``eval_size``.
EVAL_SIZES = ("input", "original")


class WSOLMetric(BaseMetric):
    """Top-1 accuracy and the box metrics of the chosen protocol preset (and PxAP with masks).

    Per image it keeps the CAM of the ground-truth class, the GT boxes, the top-5 classes, the
    label, the original size and the masks, and scores everything with the shared CAM-to-box
    core at the end. The preset decides the whole evaluation path, not only the box
    conventions:

    * ``"wsoleval"`` (default) reproduces wsolevaluation's pipeline: the CAM at the feature
      resolution (``feature_cam``) is kept in float64, resized to the evaluation frame with
      ``cv2.resize(..., INTER_CUBIC)`` and min-max normalized (``inference.py``); the GT boxes
      are scaled from the original image (``orig_boxes``) and truncated to int
      (``resize_bbox``: ``int(x * 224 / W)``).
    * ``"wsoleval_bilinear"`` (and ``"tscam"``): the model's bilinearly upsampled map (float32)
      and float boxes, pgg_zoo's first evaluation path.

    Output keys (all in percent): ``top1``; with boxes ``maxboxacc_v2`` (mean over IoU
    30/50/70), ``maxboxacc_v2@30/50/70``, ``maxboxacc_v1``, ``top1_loc``, ``top5_loc``,
    ``gt_known_loc``; with masks ``pxap``. A dataset with masks only (OpenImages) reports
    ``top1`` and ``pxap``.

    Args:
        preset: the convention preset (``"wsoleval"``, ``"wsoleval_bilinear"``, ``"tscam"``).
        eval_size: the frame in which maps are scored:

            * ``"input"``: the network input (``S x S``; wsolevaluation's protocol at S = 224,
              where its boxes are also scaled to 224 and the CAM resized to 224);
            * ``"original"``: each image's original ``(h, w)``. The CAM is resized bicubically
              (then min-max normalized), the boxes are the annotation's (truncated to int under
              ``wsoleval``, as wsolevaluation reads them), the masks are resized with nearest
              neighbour from the input frame.
    """

    default_prefix = ""  # keys stay unprefixed ("top1"), without mmengine's warning

    def __init__(self, preset: str = "wsoleval", eval_size: str = "input", **kwargs: Any) -> None:
        from .metrics import get_preset

        super().__init__(**kwargs)
        if eval_size not in EVAL_SIZES:
            raise ValueError(f"eval_size must be one of {EVAL_SIZES}, got {eval_size!r}")
        self.preset = preset
        self.conv = get_preset(preset)
        self.eval_size = eval_size

    def process(self, data_batch: Any, data_samples: Sequence[dict[str, Any]]) -> None:
        bicubic = self.conv.cam_resize == "cv2_bicubic"
        for p in data_samples:
            frame = np.shape(p["cam"])[-2:]
            if bicubic:
                # wsolevaluation's t2n: float64 before anything else touches the map. Models
                # without a feature-resolution map give their input-size one (resized 1:1).
                cam = np.asarray(p.get("feature_cam", p["cam"]), dtype=np.float64)
            else:
                cam = np.asarray(p["cam"], dtype=np.float32)
            r = {
                "cam": cam,
                "frame": (int(frame[0]), int(frame[1])),
                "boxes": np.asarray(p["boxes"], dtype=np.float64).reshape(-1, 4),
                "top5": np.asarray(p["top5"]),
                "label": int(p["label"]),
            }
            if p.get("orig_boxes") is not None:
                r["orig_boxes"] = np.asarray(p["orig_boxes"], dtype=np.float64).reshape(-1, 4)
            if "mask" in p:
                # CUB's segmentations are soft (averaged over annotators): binarize at 0.5.
                r["mask"] = np.asarray(p["mask"], dtype=np.float32).reshape(frame) >= 0.5
            if "ignore" in p:
                r["ignore"] = np.asarray(p["ignore"], dtype=np.float32).reshape(frame) >= 0.5
            if "orig_size" in p:
                r["orig_size"] = tuple(int(v) for v in p["orig_size"])
            elif self.eval_size == "original":
                raise ValueError("eval_size='original' needs each prediction's 'orig_size' "
                                 "(h, w); the dataset items must carry it")
            self.results.append(r)

    def _gt_boxes(self, r: dict[str, Any], target_wh: tuple[int, int]) -> np.ndarray:
        """GT boxes in the ``target_wh = (w, h)`` frame, per the preset's ``integer_boxes``."""
        from .metrics import resize_boxes

        integer = self.conv.integer_boxes
        if not len(r["boxes"]):
            return r["boxes"]
        if r.get("orig_boxes") is not None and "orig_size" in r:
            h, w = r["orig_size"]
            return resize_boxes(r["orig_boxes"], (w, h), target_wh, integer=integer)
        # No original-frame boxes (a custom dataset): scale the input-frame ones.
        sh, sw = r["frame"]
        if (sw, sh) == tuple(target_wh):
            return np.trunc(r["boxes"]) if integer else r["boxes"]
        return resize_boxes(r["boxes"], (sw, sh), target_wh, integer=integer)

    def _to_frame(self, r: dict[str, Any]):
        """``(cam, boxes, mask, ignore)`` in the evaluation frame; cam normalized to [0, 1]."""
        import cv2

        from .metrics import normalize_scoremap, resize_scoremap

        cam = r["cam"]
        mask, ignore = r.get("mask"), r.get("ignore")
        sh, sw = r["frame"]
        if self.eval_size == "input":
            if cam.shape != (sh, sw):
                cam = resize_scoremap(cam, (sw, sh))  # float64 cv2 bicubic, then normalized
            else:
                cam = normalize_scoremap(cam)
            return cam, self._gt_boxes(r, (sw, sh)), mask, ignore
        h, w = r["orig_size"]
        cam = resize_scoremap(cam, (w, h))

        def nearest(m):
            if m is None:
                return None
            return cv2.resize(m.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0

        return cam, self._gt_boxes(r, (w, h)), nearest(mask), nearest(ignore)

    def compute_metrics(self, results: list[dict[str, Any]]) -> dict[str, float]:
        from .metrics import BoxAccumulator, PxAPAccumulator

        v2 = BoxAccumulator(self.preset, variant="v2")
        # GT-known / Top-k Loc come from the single-box (largest contour) protocol.
        v1 = BoxAccumulator(self.preset, variant="v1")
        pxap = PxAPAccumulator() if any("mask" in r for r in results) else None
        correct = 0
        n_boxed = 0
        for r in results:
            cam, boxes, mask, ignore = self._to_frame(r)
            if len(boxes):
                v2.update(cam, boxes)
                v1.update(cam, boxes, pred_top5=r["top5"], gt_label=r["label"])
                n_boxed += 1
            correct += int(r["top5"][0] == r["label"])
            if pxap is not None and mask is not None:
                pxap.update(cam, mask, ignore)
        out = {"top1": 100.0 * correct / max(len(results), 1)}
        if n_boxed:
            m2, m1 = v2.compute(), v1.compute()
            out.update({k: float(v) for k, v in m2.items() if k.startswith("maxboxacc_v2")})
            out["maxboxacc_v1"] = float(m1["maxboxacc_v1"])
            for k in ("top1_loc", "top5_loc", "gt_known_loc"):
                out[k] = float(m1[k])
        if pxap is not None and pxap.count:
            out["pxap"] = float(pxap.compute()["pxap"])
        return out
