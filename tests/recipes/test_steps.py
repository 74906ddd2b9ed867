"""Each post-step on a synthetic edge whose exact alpha and foreground colour are known."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from services.recipes.flip import FlipAveraged
from services.recipes.foreground import estimate_foreground
from services.recipes.guided import refine_guided
from services.recipes.matting import refine_matting
from services.recipes.trimap import band_radius, trimap_of

SIZE = 96
SUBJECT = np.array([0.85, 0.35, 0.15], np.float32)  # orange


def _scene():
    """A disc with a 4 px soft rim on a striped blue-green backdrop, and the model-like
    coarse alpha: the true shape thresholded and a pixel too wide (a hard, stepped edge)."""
    rows, cols = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    distance = np.hypot(rows - SIZE / 2, cols - SIZE / 2)
    alpha = np.clip((30 - distance) / 4 + 0.5, 0, 1).astype(np.float32)
    stripes = 0.5 + 0.3 * np.sin(cols / 3)[..., None]
    backdrop = (stripes * np.array([0.1, 0.6, 0.9], np.float32)).astype(np.float32)
    image = alpha[..., None] * SUBJECT + (1 - alpha[..., None]) * backdrop
    coarse = ndimage.binary_dilation(alpha > 0.5).astype(np.float32)
    return image.astype(np.float32), alpha, coarse


def _sad(alpha, truth):
    return float(np.abs(alpha - truth).sum())


@pytest.mark.parametrize("refine", [refine_guided, refine_matting])
def test_a_refinement_brings_the_edge_closer_to_the_exact_alpha(refine):
    image, truth, coarse = _scene()
    trimap = trimap_of(coarse, band_radius(coarse.shape, 0.03))

    refined = refine(image, coarse, trimap)

    assert _sad(refined, truth) < 0.8 * _sad(coarse, truth)


@pytest.mark.parametrize("refine", [refine_guided, refine_matting])
def test_a_refinement_keeps_a_solid_interior_solid_and_the_backdrop_clear(refine):
    image, truth, coarse = _scene()
    trimap = trimap_of(coarse, band_radius(coarse.shape, 0.03))

    refined = refine(image, coarse, trimap)

    assert trimap.foreground.sum() > 500  # a real interior, not an empty test
    assert (refined[trimap.foreground] == 1.0).all()
    assert (refined[trimap.background] == 0.0).all()
    interior = ndimage.binary_erosion(truth == 1, iterations=6)
    assert refined[interior].min() > 0.95


def test_foreground_estimation_removes_the_backdrop_colour_from_the_rim():
    image, truth, _ = _scene()
    rim = (truth > 0.05) & (truth < 0.95)

    foreground = estimate_foreground(image, truth)

    photo_error = np.abs(image[rim] - SUBJECT).mean()
    estimated_error = np.abs(foreground[rim] - SUBJECT).mean()
    assert estimated_error < 0.5 * photo_error
    opaque = truth >= 0.999
    assert np.array_equal(foreground[opaque], image[opaque])  # opaque pixels keep the photo


class _StripedEngine:
    """A model that drops every fourth column of the subject, counted from its left edge:
    an error tied to position, which the mirror image makes elsewhere."""

    name = "striped"

    def mask(self, image: Image.Image):
        picture = np.asarray(image.convert("L"), np.float32) / 255
        found = (picture > 0.5).astype(np.float32)
        found[:, ::4] = 0.0
        return found


def test_flip_averaging_halves_an_error_tied_to_position():
    truth = np.zeros((SIZE, SIZE), np.float32)
    truth[20:76, 20:76] = 1.0
    photo = Image.fromarray((truth * 255).astype(np.uint8), "L").convert("RGB")
    engine = _StripedEngine()

    averaged = FlipAveraged(engine).mask(photo)

    squared = float(((averaged - truth) ** 2).sum())
    assert squared <= 0.5 * float(((engine.mask(photo) - truth) ** 2).sum())
    assert np.array_equal(averaged >= 0.5, truth == 1)  # no column of the subject lost


def test_the_guided_filter_keeps_a_see_through_region_the_model_found():
    image, _, _ = _scene()
    coarse = np.zeros((SIZE, SIZE), np.float32)
    coarse[20:76, 20:76] = 0.4  # a pane of glass: soft over a wide area, not an edge
    trimap = trimap_of(coarse, band_radius(coarse.shape, 0.03))

    refined = refine_guided(image, coarse, trimap)

    assert np.allclose(refined[30:66, 30:66], 0.4)
