"""Packaging results: names taken from the inputs, and ZIP parts that fit an upload limit."""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

# Room for a part's ZIP headers and central directory besides the files themselves.
_ZIP_OVERHEAD_PER_FILE = 200
_SUMMARY_NAME = "not-processed.txt"


@dataclass(frozen=True, slots=True)
class Failure:
    name: str
    reason: str


def result_name(input_name: str, extension: str) -> str:
    """The file name a result gets: the input's own name, with the result's extension."""
    # A leading dot would hide the result on the person's machine (".jpg" -> "jpg.png").
    stem = PurePosixPath(input_name.replace("\\", "/")).stem.strip().lstrip(".") or "image"
    return stem[:120] + extension


def unique_names(names: Sequence[str]) -> list[str]:
    """Keep every name distinct: `shoe.png`, `shoe (2).png`, ..."""
    seen: set[str] = set()
    unique = []
    for name in names:
        candidate, number = name, 1
        stem, dot, suffix = name.rpartition(".")
        while candidate.lower() in seen:
            number += 1
            candidate = f"{stem} ({number}).{suffix}" if dot else f"{name} ({number})"
        seen.add(candidate.lower())
        unique.append(candidate)
    return unique


def _summary(failures: Sequence[Failure]) -> str:
    return "".join(f"{failure.name}\t{failure.reason}\n" for failure in failures)


def zip_parts(
    files: Sequence[tuple[Path, str]],
    failures: Sequence[Failure],
    destination: Path,
    *,
    stem: str,
    part_bytes: int,
) -> list[Path]:
    """Write `files` (path, name in the archive) into ZIP parts each under `part_bytes`.

    PNG data is already compressed, so entries are stored, not deflated: packing is as fast
    as copying. A list of what could not be processed goes into the last part.
    """
    destination.mkdir(parents=True, exist_ok=True)
    groups: list[list[tuple[Path, str]]] = [[]]
    size = 0
    for path, name in files:
        entry = path.stat().st_size + _ZIP_OVERHEAD_PER_FILE + len(name.encode())
        if groups[-1] and size + entry > part_bytes:
            groups.append([])
            size = 0
        groups[-1].append((path, name))
        size += entry
    parts = []
    for number, group in enumerate(groups, start=1):
        suffix = f"-part{number}" if len(groups) > 1 else ""
        part = destination / f"{stem}{suffix}.zip"
        with zipfile.ZipFile(part, "w", compression=zipfile.ZIP_STORED) as archive:
            for path, name in group:
                archive.write(path, name)
            if failures and number == len(groups):
                archive.writestr(_SUMMARY_NAME, _summary(failures), zipfile.ZIP_DEFLATED)
        parts.append(part)
    return parts
