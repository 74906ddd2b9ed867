"""Compile the refinement steps' numba code before the first paying image needs it.

pymatting compiles every one of its numba functions when it is first imported: about a minute
of CPU on a 2-core machine the first time, a few seconds once numba's cache beside the package
holds the result. Left to the first job, that minute falls on a person waiting for a cutout.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

from services.recipes.spec import Recipe, Step

log = logging.getLogger(__name__)

NUMBA_STEPS = frozenset({Step.MATTING, Step.FOREGROUND})


def needs_compiling(recipes: Iterable[Recipe | None]) -> bool:
    """Whether any of `recipes` runs a step whose code numba compiles."""
    return any(recipe is not None and recipe.steps & NUMBA_STEPS for recipe in recipes)


def compile_refinement() -> None:
    """Import pymatting, compiling its numba code (or loading it from numba's cache)."""
    started = time.monotonic()
    import pymatting  # noqa: F401  (importing is what compiles)

    log.info("refinement steps ready in %.1f s", time.monotonic() - started)


def compile_refinement_in_background(recipes: Iterable[Recipe | None]) -> None:
    """Start compiling on a thread of its own when a recipe needs it; a job that needs the
    steps meanwhile waits on the import, never compiles a second time."""
    if needs_compiling(recipes):
        threading.Thread(target=compile_refinement, name="compile-refinement", daemon=True).start()
