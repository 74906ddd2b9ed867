"""What a recipe hands to composition: the alpha, and the subject's colour where estimated."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from services.engines.base import Mask

Pixels = NDArray[np.float32]  # H x W x 3 RGB in 0..1


@dataclass(frozen=True, slots=True)
class Matte:
    """An alpha in 0..1 and, when a step estimated it, the foreground colour (same size).

    Without `foreground` the photo's own RGB is used, which carries the old background's
    colour in every soft edge pixel.
    """

    alpha: Mask
    foreground: Image.Image | None = None


@runtime_checkable
class MattingEngine(Protocol):
    """An engine that gives a whole matte, not only a mask (a tier recipe)."""

    name: str

    def mask(self, image: Image.Image) -> Mask: ...

    def matte(self, image: Image.Image) -> Matte: ...


def pixels_of(image: Image.Image) -> Pixels:
    """The image's RGB as float32 in 0..1."""
    return np.asarray(image.convert("RGB"), dtype=np.float32) / np.float32(255.0)
