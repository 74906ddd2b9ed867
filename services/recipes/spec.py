"""A tier's recipe: one engine and the steps after it, written `engine+step+step[@pixels]`.

Steps run in a fixed order whatever the order written: `flip` around the engine, then one
edge refinement in the trimap's band (`guided`, then `matting`, which starts
from the guided filter's alpha when both are named), then `foreground` colour
estimation. The post-steps work at a working resolution (`@PIXELS`, the longer side; default
1024): a larger image is refined at that size and only its edge band scaled back, so a 40 MP
photo costs about what a 1 MP one does. No numpy here: settings read recipes at start.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

DEFAULT_WORKING_PIXELS = 1024


class Step(StrEnum):
    FLIP = "flip"
    GUIDED = "guided"
    MATTING = "matting"
    FOREGROUND = "foreground"


class InvalidRecipe(ValueError):
    """A recipe string that names no engine, an unknown step, or a bad working size."""


@dataclass(frozen=True, slots=True)
class Recipe:
    engine: str
    steps: frozenset[Step] = frozenset()
    working_pixels: int = DEFAULT_WORKING_PIXELS

    @classmethod
    def parse(cls, text: str) -> Recipe:
        """Read `engine[+step...][@pixels]`, e.g. `birefnet-general+flip+matting+foreground`.

        Raises:
            InvalidRecipe: no engine, an unknown step, or a bad working resolution.
        """
        body, _, pixels = text.strip().partition("@")
        engine, *names = body.split("+")
        if not engine:
            raise InvalidRecipe(f"recipe {text!r} names no engine")
        try:
            steps = frozenset(Step(name) for name in names)
        except ValueError:
            known = ", ".join(step.value for step in Step)
            raise InvalidRecipe(f"recipe {text!r}: steps are {known}") from None
        working = DEFAULT_WORKING_PIXELS
        if pixels:
            if not pixels.isdigit() or not 256 <= int(pixels) <= 8192:
                raise InvalidRecipe(f"recipe {text!r}: working size is 256 to 8192 pixels")
            working = int(pixels)
        return cls(engine, steps, working)

    def __str__(self) -> str:
        names = [step.value for step in Step if step in self.steps]
        suffix = "" if self.working_pixels == DEFAULT_WORKING_PIXELS else f"@{self.working_pixels}"
        return "+".join([self.engine, *names]) + suffix

    def with_engine(self, engine: str) -> Recipe:
        return Recipe(engine, self.steps, self.working_pixels)

    @property
    def refines(self) -> bool:
        return bool(self.steps - {Step.FLIP})
