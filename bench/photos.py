"""Image sets for the benchmarks, read from ../shared; 12 MP phone photos made at run time.

The phone photos are not committed (each is several MB): each is a composite or matting
image enlarged to 4000x3000, with sensor-like grain so that it compresses like a real photo,
saved as a quality-90 JPEG with a camera's EXIF; every third one is stored sideways with an
EXIF orientation, as phones do.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

SHARED = Path(__file__).resolve().parents[2] / "shared"
COMPOSITES = SHARED / "datasets" / "composites" / "images"
MATTING = SHARED / "datasets" / "matting-synth" / "images"
PHONE_SIZE = (4000, 3000)


def shared_images(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.jpg"))


def phone_photos(folder: Path, count: int) -> list[Path]:
    """Make (once) `count` 12 MP JPEGs in `folder` from both shared sets, alternately."""
    folder.mkdir(parents=True, exist_ok=True)
    pairs = zip(shared_images(COMPOSITES), shared_images(MATTING), strict=False)
    sources = [path for pair in pairs for path in pair]
    made = []
    for number in range(count):
        source = sources[number % len(sources)]
        path = folder / f"phone-{number:02d}-{source.stem}.jpg"
        made.append(path)
        if path.is_file():
            continue
        rng = np.random.default_rng(number)
        large = Image.open(source).convert("RGB").resize(PHONE_SIZE, Image.Resampling.LANCZOS)
        grain = rng.normal(0.0, 3.0, (PHONE_SIZE[1], PHONE_SIZE[0], 3)).astype(np.float32)
        pixels = np.clip(np.asarray(large, np.float32) + grain, 0, 255).astype(np.uint8)
        photo = Image.fromarray(pixels, "RGB")
        exif = Image.Exif()
        exif[0x010F], exif[0x0110] = "Phone", "Bench 12MP"  # Make, Model
        if number % 3 == 2:
            photo = photo.transpose(Image.Transpose.ROTATE_90)
            exif[0x0112] = 6  # rotate 90 clockwise to display
        partial = path.with_suffix(".part")
        photo.save(partial, "JPEG", quality=90, exif=exif)
        partial.replace(path)
    return made
