"""Scores of a cutout against exact alpha and foreground colour (matting-synth's SOURCE.md).

SAD, MSE, gradient error (Composition-1k's Gaussian-derivative filter, sigma 1.4), IoU of
alpha > 0.5, and the edge colour error: mean |RGB - F| over the truth's soft pixels, weighted
by the true alpha, counting only pixels the cutout shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

Array = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Scores:
    sad: float
    mse: float
    grad: float
    iou: float
    colour: float


@cache
def _derivative_kernel(sigma: float) -> Array:
    epsilon = 1e-2
    half = int(np.ceil(sigma * np.sqrt(-2 * np.log(np.sqrt(2 * np.pi) * sigma * epsilon))))
    steps = np.arange(-half, half + 1, dtype=np.float64)
    gauss = np.exp(-(steps**2) / (2 * sigma**2)) / (sigma * np.sqrt(2 * np.pi))
    derivative = -steps * gauss / sigma**2
    kernel = np.outer(gauss, derivative)
    normalised: Array = kernel / np.sqrt((kernel**2).sum())
    return normalised


def _gradient_magnitude(alpha: Array, sigma: float = 1.4) -> Array:
    kernel = _derivative_kernel(sigma)
    along_x = ndimage.convolve(alpha, kernel, mode="nearest")
    along_y = ndimage.convolve(alpha, kernel.T, mode="nearest")
    return np.asarray(np.sqrt(along_x**2 + along_y**2))


def score(alpha: Array, rgb: Array, true_alpha: Array, true_rgb: Array) -> Scores:
    """Alpha in 0..1, RGB in 0..255, all H x W (x 3)."""
    difference = alpha - true_alpha
    ours, theirs = alpha > 0.5, true_alpha > 0.5
    iou = float((ours & theirs).sum() / max((ours | theirs).sum(), 1))
    grad = float(((_gradient_magnitude(alpha) - _gradient_magnitude(true_alpha)) ** 2).sum())
    soft = (true_alpha > 0) & (true_alpha < 1) & (alpha > 0)
    weights = true_alpha[soft]
    errors = np.abs(rgb[soft] - true_rgb[soft]).mean(axis=-1)
    colour = float((errors * weights).sum() / max(weights.sum(), 1e-9))
    return Scores(
        sad=float(np.abs(difference).sum() / 1000),
        mse=float((difference**2).mean() * 1000),
        grad=grad / 1000,
        iou=iou,
        colour=colour,
    )
