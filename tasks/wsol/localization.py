"""Localization maps (CAM, Grad-CAM, guided backpropagation) live in
:mod:`pgg_zoo.vision.localization`; re-exported here."""
from pgg_zoo.vision.localization import *  # noqa: F401,F403
from pgg_zoo.vision.localization import __all__  # noqa: F401
