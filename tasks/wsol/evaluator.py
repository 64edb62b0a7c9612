"""mmengine metric for WSOL: classification accuracy and localization from CAMs."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric


class WSOLMetric(BaseMetric):
    """Top-1 accuracy and the box metrics of the chosen protocol preset.

    Per image it keeps the CAM of the ground-truth class, the GT boxes, the top-5 classes and
    the label (stored as float16 CAMs so distributed evaluation can gather them), then scores
    everything with the shared CAM-to-box core at the end.

    Output keys: ``top1``, ``maxboxacc_v2`` (mean over IoU 30/50/70), ``maxboxacc_v2@30/50/70``,
    ``maxboxacc_v1``, ``top1_loc``, ``top5_loc``, ``gt_known_loc``; and ``pxap`` when masks
    are available.

    Args:
        preset: the convention preset of the box metrics (``"wsoleval"``).
    """

    default_prefix = None

    def __init__(self, preset: str = "wsoleval", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.preset = preset

    def process(self, data_batch: Any, data_samples: Sequence[dict[str, Any]]) -> None:
        for p in data_samples:
            r = {
                "cam": np.asarray(p["cam"], dtype=np.float16),
                "boxes": np.asarray(p["boxes"], dtype=np.float32).reshape(-1, 4),
                "top5": np.asarray(p["top5"]),
                "label": int(p["label"]),
            }
            if "mask" in p:
                # CUB's segmentations are soft (averaged over annotators): binarize at 0.5.
                r["mask"] = np.asarray(p["mask"], dtype=np.float32).reshape(r["cam"].shape) >= 0.5
            self.results.append(r)

    def compute_metrics(self, results: list[dict[str, Any]]) -> dict[str, float]:
        from .metrics import BoxAccumulator, PxAPAccumulator, normalize_scoremap

        v2 = BoxAccumulator(self.preset, variant="v2")
        # GT-known / Top-k Loc come from the single-box (largest contour) protocol.
        v1 = BoxAccumulator(self.preset, variant="v1")
        pxap = PxAPAccumulator() if results and "mask" in results[0] else None
        correct = 0
        for r in results:
            cam = normalize_scoremap(r["cam"].astype(np.float32))
            v2.update(cam, r["boxes"])
            v1.update(cam, r["boxes"], pred_top5=r["top5"], gt_label=r["label"])
            correct += int(r["top5"][0] == r["label"])
            if pxap is not None:
                pxap.update(cam, r["mask"])
        out = {"top1": 100.0 * correct / max(len(results), 1)}
        m2, m1 = v2.compute(), v1.compute()
        out.update({k: float(v) for k, v in m2.items() if k.startswith("maxboxacc_v2")})
        out["maxboxacc_v1"] = float(m1["maxboxacc_v1"])
        for k in ("top1_loc", "top5_loc", "gt_known_loc"):
            out[k] = float(m1[k])
        if pxap is not None:
            out["pxap"] = float(pxap.compute()["pxap"])
        return out
