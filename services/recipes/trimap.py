"""The trimap of a coarse alpha: sure background, sure foreground, and the band in between.

A model's mask is right far from the edge and uncertain near it; the refinement steps only
change the band, so a solid interior stays solid and a clean backdrop stays clean.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from services.engines.base import Mask

Flags = NDArray[np.bool_]

SURE = 0.98  # a model's probability above this (or below 1 - this) is taken as given


@dataclass(frozen=True, slots=True)
class Trimap:
    foreground: Flags
    background: Flags

    @property
    def band(self) -> Flags:
        return ~(self.foreground | self.background)


def band_radius(shape: tuple[int, ...], fraction: float) -> int:
    """The band's half width in pixels: `fraction` of the image's diagonal, at least 2."""
    return max(2, round(fraction * float(np.hypot(shape[0], shape[1]))))


def trimap_of(alpha: Mask, radius: int) -> Trimap:
    """Mark as uncertain every pixel within `radius` of a soft pixel or of the 0.5 contour."""
    soft = (alpha > 1 - SURE) & (alpha < SURE)
    inside = alpha >= 0.5
    edge = inside ^ ndimage.binary_erosion(inside, border_value=1)
    seeds = soft | edge
    if not seeds.any():
        return Trimap(foreground=inside, background=~inside)
    band = ndimage.distance_transform_edt(~seeds) <= radius
    return Trimap(foreground=inside & ~band, background=~inside & ~band)
