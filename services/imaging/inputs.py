"""Turning files named on a command line into the images to cut out: a ZIP yields its images."""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from services.imaging.archive import ArchiveLimits, ArchiveRejected, extract_images
from services.imaging.package import Failure


@dataclass(frozen=True, slots=True)
class NamedImage:
    name: str  # what the person calls it: the file's name, or the entry's name in its ZIP
    path: Path


@dataclass
class GatheredInputs:
    images: list[NamedImage] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)


def gather_inputs(inputs: Sequence[Path], workdir: Path, limits: ArchiveLimits) -> GatheredInputs:
    """List the images of `inputs`, extracting ZIPs into `workdir` (their entries checked).

    Other files are listed as they are: decoding them is where an unusable one is refused.
    """
    gathered = GatheredInputs()
    for number, source in enumerate(inputs):
        if source.suffix.lower() != ".zip" and not zipfile.is_zipfile(source):
            gathered.images.append(NamedImage(source.name, source))
            continue
        try:
            contents = extract_images(source, workdir / f"{number:04d}", limits)
        except ArchiveRejected as rejected:
            gathered.failures.append(Failure(source.name, rejected.code))
            continue
        gathered.images.extend(NamedImage(image.name, image.path) for image in contents.images)
        gathered.failures.extend(
            Failure(f"{source.name}/{skipped.name}", skipped.reason) for skipped in contents.skipped
        )
    return gathered
