"""The WSOL model is the shared CAM classifier (:mod:`pgg_zoo.vision.cam`); re-exported here."""
from pgg_zoo.vision.cam import CAMClassifier, soft_target_cross_entropy  # noqa: F401
