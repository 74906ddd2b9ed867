"""Running a recipe: the engine's mask, then the post-steps, at the working resolution."""

from __future__ import annotations

import logging

import numpy as np
from PIL import Image

from services.engines.base import EngineUnavailable, Mask, SegmentationEngine
from services.recipes.flip import FlipAveraged
from services.recipes.foreground import estimate_foreground, foreground_image
from services.recipes.guided import refine_guided
from services.recipes.matte import Matte, pixels_of
from services.recipes.matting import refine_matting
from services.recipes.spec import Recipe, Step
from services.recipes.trimap import band_radius, trimap_of

log = logging.getLogger(__name__)

BAND_FRACTION = 0.01  # half width of the uncertain band, as a fraction of the diagonal


class RecipeEngine:
    """Runs a recipe: the engine's mask, then the post-steps. CPU bound: call it off the loop.

    `fallback` serves the whole image when the engine is unavailable (a remote API that stays
    down): the tier's local recipe, so a paid job still gets its tier's refinement.
    """

    def __init__(
        self,
        recipe: Recipe,
        engine: SegmentationEngine,
        fallback: RecipeEngine | None = None,
    ) -> None:
        self.recipe = recipe
        self.name = str(recipe)
        self.engine: SegmentationEngine = (
            FlipAveraged(engine) if Step.FLIP in recipe.steps else engine
        )
        self.fallback = fallback

    def mask(self, image: Image.Image) -> Mask:
        return self.matte(image).alpha

    def matte(self, image: Image.Image) -> Matte:
        try:
            coarse = self.engine.mask(image)
        except EngineUnavailable as unavailable:
            if self.fallback is None:
                raise
            log.warning("%s unavailable (%s); using %s", self.name, unavailable, self.fallback.name)
            return self.fallback.matte(image)
        return self.finish(image, coarse)

    def finish(self, image: Image.Image, coarse: Mask) -> Matte:
        """Apply the post-steps to the engine's mask of `image`."""
        steps = self.recipe.steps
        if not self.recipe.refines:
            return Matte(coarse)
        scale = min(1.0, self.recipe.working_pixels / max(image.size))
        small = image
        alpha = coarse
        if scale < 1.0:
            size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
            small = image.resize(size, Image.Resampling.BOX)
            alpha = _resize_alpha(coarse, size)
        pixels = pixels_of(small)
        if Step.GUIDED in steps or Step.MATTING in steps:
            trimap = trimap_of(alpha, band_radius(alpha.shape, BAND_FRACTION))
            refined = alpha
            if Step.GUIDED in steps:
                refined = refine_guided(pixels, refined, trimap)
            if Step.MATTING in steps:
                refined = refine_matting(pixels, refined, trimap)
            alpha = refined
            if scale < 1.0:
                # The sure regions keep the model's full-size answer; only the band is scaled.
                upscaled = _resize_alpha(refined, image.size)
                band = _resize_alpha(trimap.band.astype(np.float32), image.size) > 0
                coarse = np.where(band, upscaled, np.where(coarse >= 0.5, 1.0, 0.0))
                coarse = coarse.astype(np.float32)
            else:
                coarse = refined
        if Step.FOREGROUND not in steps:
            return Matte(coarse)
        estimated = estimate_foreground(pixels, alpha)
        return Matte(coarse, foreground_image(image, estimated, coarse))


def _resize_alpha(alpha: Mask, size: tuple[int, int]) -> Mask:
    resized = Image.fromarray(alpha.astype(np.float32), mode="F").resize(
        size, Image.Resampling.BILINEAR
    )
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)
