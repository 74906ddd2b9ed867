"""Foreground colour estimation: soft edge pixels lose the old background's colour.

An edge pixel of the photo is alpha * F + (1 - alpha) * B; keeping its RGB leaves B in the
cutout (a dark or green fringe on a white page). pymatting's multi-level estimator solves for a
smooth F (and B) given the alpha; pixels that are fully opaque keep the photo's own colour.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from services.engines.base import Mask
from services.recipes.matte import Pixels

OPAQUE = 0.996  # above this the photo's pixel is the subject's colour already


def estimate_foreground(image: Pixels, alpha: Mask) -> Pixels:
    """The subject's colour at every pixel where alpha is above zero (photo where opaque)."""
    from pymatting import estimate_foreground_ml  # numba compiles on first import

    estimated = estimate_foreground_ml(image.astype(np.float64), alpha.astype(np.float64))
    foreground = np.asarray(estimated, dtype=np.float32)
    opaque = alpha >= OPAQUE
    foreground[opaque] = image[opaque]
    return np.clip(foreground, 0.0, 1.0)


def foreground_image(photo: Image.Image, estimated: Pixels, alpha: Mask) -> Image.Image:
    """The photo with its non-opaque pixels replaced by `estimated`, scaled to the photo."""
    rgb = np.asarray(photo.convert("RGB"))
    height, width = rgb.shape[:2]
    if estimated.shape[:2] != (height, width):
        small = Image.fromarray(np.round(estimated * 255).astype(np.uint8), "RGB")
        estimated = np.asarray(small.resize((width, height), Image.Resampling.BILINEAR))
        estimated = estimated.astype(np.float32) / np.float32(255.0)
    blended = np.where((alpha >= OPAQUE)[..., None], rgb, np.round(estimated * 255))
    return Image.fromarray(blended.astype(np.uint8), "RGB")
