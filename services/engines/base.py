"""The interface every segmentation engine implements, and the errors it may raise."""

from __future__ import annotations

from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from services.errors import ServiceError

Mask = NDArray[np.float32]  # H x W foreground probability in 0..1, the size of the input


class EngineError(ServiceError):
    code = "engine_error"


class EngineUnavailable(EngineError):
    """A transient failure (rate limit, outage, timeout): the same call may work later."""

    code = "engine_unavailable"


class EngineFailed(EngineError):
    """A permanent failure for this input (the engine rejected it, or answered nonsense)."""

    code = "engine_failed"


class ModelMissing(EngineError):
    """The model file is not in MODELS_DIR."""

    code = "model_missing"


class SegmentationEngine(Protocol):
    """Turns an RGB image into a foreground mask of the same size."""

    name: str

    def mask(self, image: Image.Image) -> Mask: ...
