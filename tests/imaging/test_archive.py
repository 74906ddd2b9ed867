"""Opening ZIPs of images safely: every unsafe or useless entry skipped or refused, with why."""

from __future__ import annotations

import io
import stat
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from services.imaging.archive import ArchiveLimits, ArchiveRejected, extract_images
from services.imaging.package import result_name, unique_names

LIMITS = ArchiveLimits()


def _png(colour: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 40), colour).save(buffer, "PNG")
    return buffer.getvalue()


def _zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, data in entries.items():
            bundle.writestr(name, data)
    return path


def _reasons(contents) -> dict[str, str]:
    return {skipped.name: skipped.reason for skipped in contents.skipped}


def test_images_are_extracted_and_useless_entries_skipped_with_a_reason(tmp_path):
    archive = _zip(
        tmp_path / "batch.zip",
        {
            "shoe.png": _png(),
            "bags/bag.PNG": _png("blue"),
            "notes.txt": b"not a picture",
            "inner.zip": _zip(tmp_path / "inner.zip", {"x.png": _png()}).read_bytes(),
            "__MACOSX/._shoe.png": b"resource fork",
            ".DS_Store": b"finder junk",
            "bags/.hidden.png": _png(),
        },
    )

    contents = extract_images(archive, tmp_path / "out", LIMITS)

    assert [image.name for image in contents.images] == ["shoe.png", "bags/bag.PNG"]
    assert all(image.path.parent == tmp_path / "out" for image in contents.images)
    assert _reasons(contents) == {"notes.txt": "not_an_image", "inner.zip": "nested_archive"}


def test_traversal_and_absolute_names_are_skipped_and_nothing_lands_outside(tmp_path):
    archive = _zip(
        tmp_path / "evil.zip",
        {
            "../escape.png": _png(),
            "photos/../../escape2.png": _png(),
            "/etc/absolute.png": _png(),
            "C:/windows.png": _png(),
            "ok.png": _png(),
        },
    )
    destination = tmp_path / "deep" / "out"

    contents = extract_images(archive, destination, LIMITS)

    assert [image.name for image in contents.images] == ["ok.png"]
    assert _reasons(contents) == {
        "../escape.png": "path_traversal",
        "photos/../../escape2.png": "path_traversal",
        "/etc/absolute.png": "absolute_path",
        "C:/windows.png": "absolute_path",
    }
    assert sorted(p.name for p in (tmp_path / "deep").iterdir()) == ["out"]
    assert not list(tmp_path.glob("escape*"))


def test_a_symlink_entry_is_skipped(tmp_path):
    archive = tmp_path / "links.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        link = zipfile.ZipInfo("passwd.png")
        link.create_system = 3  # Unix, so the mode bits below are read
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        bundle.writestr(link, "/etc/passwd")
        bundle.writestr("ok.png", _png())

    contents = extract_images(archive, tmp_path / "out", LIMITS)

    assert _reasons(contents) == {"passwd.png": "symlink"}
    assert [image.name for image in contents.images] == ["ok.png"]


def test_an_encrypted_entry_is_skipped(tmp_path):
    archive = _zip(tmp_path / "locked.zip", {"secret.png": _png(), "ok.png": _png()})
    # zipfile cannot encrypt; set the "encrypted" flag bit of the entry's central record.
    data = bytearray(archive.read_bytes())
    central = data.index(b"PK\x01\x02")
    data[central + 8] |= 0x1
    archive.write_bytes(bytes(data))

    contents = extract_images(archive, tmp_path / "out", LIMITS)

    assert _reasons(contents) == {"secret.png": "encrypted"}


def test_duplicate_names_in_different_folders_stay_distinct(tmp_path):
    archive = _zip(tmp_path / "dupes.zip", {"a/shoe.png": _png("red"), "b/shoe.png": _png("blue")})

    contents = extract_images(archive, tmp_path / "out", LIMITS)

    paths = [image.path for image in contents.images]
    assert len(set(paths)) == 2
    assert [Image.open(p).getpixel((0, 0)) for p in paths] == [(255, 0, 0), (0, 0, 255)]
    names = unique_names([result_name(image.name, ".png") for image in contents.images])
    assert names == ["shoe.png", "shoe (2).png"]


def test_more_images_than_a_batch_holds_is_refused(tmp_path):
    archive = _zip(tmp_path / "many.zip", {f"{n}.png": b"" for n in range(LIMITS.max_images + 1)})

    with pytest.raises(ArchiveRejected) as refused:
        extract_images(archive, tmp_path / "out", LIMITS)
    assert refused.value.code == "too_many_images"


def test_a_zip_bomb_is_refused_after_reading_a_bounded_amount(tmp_path):
    # Given a real bomb: 200 MB of zeros that deflate about a thousand times
    archive = tmp_path / "bomb.zip"
    with (
        zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as bundle,
        bundle.open("bomb.png", "w", force_zip64=True) as entry,
    ):
        block = b"\0" * 2**20
        for _ in range(200):
            entry.write(block)
    assert archive.stat().st_size < 2**20

    # When it is opened, with a per-entry cap higher than the bomb
    tracemalloc.start()
    try:
        with pytest.raises(ArchiveRejected) as refused:
            extract_images(archive, tmp_path / "out", ArchiveLimits(max_entry_bytes=2**30))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # Then the ratio gives it away, and neither memory nor disk held the bomb
    assert refused.value.code == "zip_bomb"
    assert peak < 5 * 2**20
    assert list((tmp_path / "out").iterdir()) == []


def test_an_archive_unpacking_past_its_total_size_is_refused(tmp_path):
    rng_bytes = [bytes([n]) * 600_000 for n in range(3)]
    archive = _zip(tmp_path / "big.zip", {f"{n}.png": data for n, data in enumerate(rng_bytes)})

    with pytest.raises(ArchiveRejected) as refused:
        extract_images(archive, tmp_path / "out", ArchiveLimits(max_total_bytes=2**20))
    assert refused.value.code == "zip_bomb"


def test_one_entry_over_the_file_size_limit_is_skipped_alone(tmp_path):
    archive = _zip(tmp_path / "mixed.zip", {"big.png": b"\1" * 300_000, "ok.png": _png()})

    contents = extract_images(archive, tmp_path / "out", ArchiveLimits(max_entry_bytes=100_000))

    assert _reasons(contents) == {"big.png": "file_too_large"}
    assert [image.name for image in contents.images] == ["ok.png"]


def test_a_corrupt_entry_is_skipped(tmp_path):
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as bundle:
        bundle.writestr("broken.png", b"A" * 1000)
        bundle.writestr("ok.png", _png())
    data = bytearray(archive.read_bytes())
    data[data.index(b"A" * 1000)] = ord("B")  # the stored CRC no longer matches
    archive.write_bytes(bytes(data))

    contents = extract_images(archive, tmp_path / "out", LIMITS)

    assert _reasons(contents) == {"broken.png": "corrupt"}


def test_a_file_that_is_not_a_zip_is_refused(tmp_path):
    path = tmp_path / "fake.zip"
    path.write_bytes(b"PK but not really")

    with pytest.raises(ArchiveRejected) as refused:
        extract_images(path, tmp_path / "out", LIMITS)
    assert refused.value.code == "not_a_zip"
