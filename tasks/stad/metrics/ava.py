"""AVA frame-mAP: the ActivityNet AVA evaluation (``calc_mAP.py``) of key-frame detections.

The protocol, as the AVA challenge kit and mmaction2's ``ava_evaluation`` run it:

* one "image" per annotated key frame ``(video_id, timestamp)``; the ground truth of a class
  there is the boxes of the persons doing that action (a person with three actions is a box
  in three classes); excluded timestamps are in neither ground truth nor detections (the
  readers drop them);
* a detection is ``(key frame, class, score, box)``; of each key frame only the ``capacity``
  (50) highest-scoring detections over all classes are kept, as the kit's ``read_csv(...,
  50)`` does; detections on a key frame that is not in the ground truth are ignored (the
  kit's ``included_keys``; a key frame listed with no person counts, its detections are false
  positives);
* per key frame and class, detections in decreasing score take the ground-truth box of
  largest IoU; IoU >= 0.5 with a box not yet taken is a true positive, anything else a false
  positive (PASCAL VOC matching; continuous box IoU, no +1);
* per class, AP is PASCAL VOC's all-point interpolated area over the detections of every key
  frame by decreasing score; a class without ground truth has no AP and is left out of the
  mean.

Equal scores keep input order (the kit sorts with NumPy's unstable quicksort; equal float
probabilities are rare, and the difference is in which of two equal scores comes first).
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Hashable, Iterable, Mapping, Sequence

import numpy as np

from .frame_map import MAPResult, _nanmean, class_ap, match_detections, score_order
from .ap import pr_curve
from .presets import Protocol

#: The AVA kit's conventions as a :class:`Protocol` (VOC matching and AP, continuous IoU,
#: stable order of equal scores, a class without ground truth left out). Not one of the tube
#: protocols (``PROTOCOLS``): it scores key frames only, there is no video-mAP.
AVA_PROTOCOL = Protocol("ava", box_plus_one=False, temporal_plus_one=False, ap_mode="voc",
                        matching="voc", eval_frames="all", tube_nms=None)

#: Detections kept per key frame, over all classes (the kit's ``read_csv(..., 50)``).
AVA_CAPACITY = 50


def keep_top(detections: Sequence[tuple[int, float, np.ndarray]], capacity: int
             ) -> list[tuple[int, float, np.ndarray]]:
    """The ``capacity`` highest-scoring of one key frame's ``(class, score, box)`` detections,
    by decreasing score (all of them when ``capacity < 1``); of equal scores the earlier
    detection comes first."""
    order = sorted(range(len(detections)), key=lambda i: -float(detections[i][1]))
    if capacity >= 1:
        order = order[:capacity]
    return [detections[i] for i in order]


def ava_frame_map(
    detections: Iterable[tuple[Hashable, int, float, Any]],
    groundtruth: Mapping[Hashable, Sequence[tuple[Any, Sequence[int]]]],
    *,
    num_classes: int,
    iou_threshold: float = 0.5,
    capacity: int = AVA_CAPACITY,
) -> MAPResult:
    """Frame-mAP of AVA key-frame detections (module docstring: the protocol).

    Args:
        detections: ``(key, class_index, score, box)`` with ``key`` the key frame (e.g.
            ``(video_id, timestamp)``), ``class_index`` in ``[0, num_classes)`` and ``box``
            ``(4,)`` ``x1, y1, x2, y2`` in the ground truth's coordinates. A detection on a
            key frame that is not a key of ``groundtruth`` is ignored.
        groundtruth: ``{key: [(box (4,), [class_index, ...]), ...]}``, one entry per person
            (an empty list: a key frame without persons, where every detection is false).
        num_classes: classes scored (``C``).
        iou_threshold: match threshold (IoU >= threshold).
        capacity: detections kept per key frame over all classes; < 1 keeps all.

    Returns:
        :class:`MAPResult` with ``value`` in [0, 1] (``nan`` when no class has ground truth),
        ``ap`` / ``n_gt`` / ``n_det`` / ``curves`` per class index.

    Raises:
        ValueError: a class index outside ``[0, num_classes)``.
    """
    per_key: dict[Hashable, list[tuple[int, float, np.ndarray]]] = defaultdict(list)
    for key, c, score, box in detections:
        if not 0 <= int(c) < num_classes:
            raise ValueError(f"AVA detection class {c} outside [0, {num_classes})")
        if key not in groundtruth:
            continue
        per_key[key].append((int(c), float(score), np.asarray(box, np.float64).reshape(4)))
    gt_by_class: dict[int, dict[Hashable, list[np.ndarray]]] = {c: {} for c in range(num_classes)}
    for key, persons in groundtruth.items():
        for box, classes in persons:
            for c in classes:
                if not 0 <= int(c) < num_classes:
                    raise ValueError(f"AVA ground truth class {c} at {key!r} outside "
                                     f"[0, {num_classes})")
                gt_by_class[int(c)].setdefault(key, []).append(
                    np.asarray(box, np.float64).reshape(4))
    # (key, class, score, box) rows of every key frame, its top `capacity` only
    kept = [(key, c, s, b) for key, dets in per_key.items()
            for c, s, b in keep_top(dets, capacity)]
    res = MAPResult(float("nan"), {}, {}, {}, AVA_PROTOCOL, iou_threshold)
    for c in range(num_classes):
        rows = [r for r in kept if r[1] == c]
        order = score_order(np.array([r[2] for r in rows], dtype=np.float64), AVA_PROTOCOL)
        rows = [rows[i] for i in order]
        gt = {k: np.stack(v) for k, v in gt_by_class[c].items()}
        n_gt = sum(len(v) for v in gt.values())
        boxes = np.array([r[3] for r in rows], dtype=np.float64).reshape(-1, 4)
        is_tp = match_detections([r[0] for r in rows], boxes, gt, iou_threshold, AVA_PROTOCOL)
        res.ap[c] = class_ap(is_tp, n_gt, AVA_PROTOCOL)
        res.n_gt[c], res.n_det[c] = n_gt, len(rows)
        res.curves[c] = pr_curve(is_tp, n_gt)
    res.value = _nanmean(res.ap.values())
    return res
