"""Opening a ZIP of images safely: every entry is checked, and bytes are counted as read.

Declared sizes in a ZIP can lie, so each entry is streamed with a cap on what is actually
written, and the whole archive has a cap on total bytes and on the compression ratio.
"""

from __future__ import annotations

import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from services.errors import ServiceError
from services.pricing import MAX_BATCH_IMAGES

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".bmp", ".tif", ".tiff", ".gif"}
)
ARCHIVE_SUFFIXES = frozenset({".zip", ".rar", ".7z", ".tar", ".gz", ".tgz", ".bz2", ".xz"})
CHUNK = 1 << 16


class ArchiveRejected(ServiceError):
    """A whole archive refused; `code` says why."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    max_images: int = MAX_BATCH_IMAGES
    max_total_bytes: int = 2 * 2**30
    max_entry_bytes: int = 50 * 2**20
    max_ratio: int = 100


@dataclass(frozen=True, slots=True)
class ExtractedImage:
    name: str  # the entry's name inside the archive
    path: Path


@dataclass(frozen=True, slots=True)
class SkippedEntry:
    name: str
    reason: str


@dataclass
class ArchiveContents:
    images: list[ExtractedImage] = field(default_factory=list)
    skipped: list[SkippedEntry] = field(default_factory=list)


def _entry_problem(info: zipfile.ZipInfo) -> str | None:
    """Why an entry is skipped before reading it, or None."""
    name = info.filename
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or name.startswith(("/", "\\")) or ":" in path.parts[0]:
        return "absolute_path"
    if ".." in path.parts:
        return "path_traversal"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symlink"
    if info.flag_bits & 0x1:
        return "encrypted"
    if any(part.startswith(".") or part == "__MACOSX" for part in path.parts):
        return "junk"
    suffix = path.suffix.lower()
    if suffix in ARCHIVE_SUFFIXES:
        return "nested_archive"
    if suffix not in IMAGE_SUFFIXES:
        return "not_an_image"
    return None


def _stored_name(index: int, entry_name: str) -> str:
    # Names on disk come from the position, never from the archive: no traversal, no clash.
    suffix = PurePosixPath(entry_name).suffix.lower()
    return f"{index:04d}{suffix}"


def extract_images(archive: Path, destination: Path, limits: ArchiveLimits) -> ArchiveContents:
    """Extract the images of a ZIP into `destination`, skipping unsafe or useless entries.

    Raises:
        ArchiveRejected: not a ZIP, more images than a batch holds, or a ZIP bomb.
    """
    try:
        bundle = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as error:
        raise ArchiveRejected("not_a_zip", f"not a readable ZIP: {error}") from None
    contents = ArchiveContents()
    destination.mkdir(parents=True, exist_ok=True)
    with bundle:
        entries = [info for info in bundle.infolist() if not info.is_dir()]
        candidates = []
        for info in entries:
            problem = _entry_problem(info)
            if problem is None:
                candidates.append(info)
            elif problem != "junk":
                contents.skipped.append(SkippedEntry(info.filename, problem))
        if len(candidates) > limits.max_images:
            raise ArchiveRejected(
                "too_many_images", f"{len(candidates)} images; a batch holds {limits.max_images}"
            )
        total = 0
        for index, info in enumerate(candidates):
            target = destination / _stored_name(index, info.filename)
            try:
                written = _copy_capped(bundle, info, target, limits, limits.max_total_bytes - total)
            except _TooLarge as too_large:
                target.unlink(missing_ok=True)
                if too_large.archive_wide:
                    raise ArchiveRejected("zip_bomb", "the archive unpacks to too much") from None
                contents.skipped.append(SkippedEntry(info.filename, "file_too_large"))
                continue
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError):
                target.unlink(missing_ok=True)
                contents.skipped.append(SkippedEntry(info.filename, "corrupt"))
                continue
            total += written
            contents.images.append(ExtractedImage(info.filename, target))
    return contents


class _TooLarge(Exception):
    def __init__(self, archive_wide: bool) -> None:
        super().__init__()
        self.archive_wide = archive_wide


def _copy_capped(
    bundle: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    target: Path,
    limits: ArchiveLimits,
    archive_room: int,
) -> int:
    """Stream one entry to disk, stopping as soon as it grows past a limit."""
    compressed = max(info.compress_size, 1)
    written = 0
    with bundle.open(info) as source, target.open("wb") as sink:
        while chunk := source.read(CHUNK):
            written += len(chunk)
            if written > archive_room:
                raise _TooLarge(archive_wide=True)
            if written > limits.max_entry_bytes:
                raise _TooLarge(archive_wide=False)
            if written > 10 * 2**20 and written / compressed > limits.max_ratio:
                # Photos barely compress; a huge ratio past a few megabytes is a bomb.
                raise _TooLarge(archive_wide=True)
            sink.write(chunk)
    return written
