"""Pieces the image task plugins share: CAM classifier, image backbones, localization maps,
image-file helpers, the base of resized-image readers and the CUB-200-2011 reader,
procedural drawing and box IoU."""
