"""Everything the service says to people, in Indonesian and English."""

from __future__ import annotations

from typing import Final

DEFAULT_LANGUAGE: Final = "en"

MESSAGES: Final[dict[str, dict[str, str]]] = {
    "progress": {
        "id": "⏳ Memproses gambar: {finished} / {total}",
        "en": "⏳ Processing images: {finished} / {total}",
    },
    "summary.done": {
        "id": "✅ Selesai: {succeeded} dari {total} gambar berhasil.",
        "en": "✅ Done: {succeeded} of {total} images succeeded.",
    },
    "summary.failed_header": {
        "id": "Tidak berhasil ({count}):",
        "en": "Not processed ({count}):",
    },
    "summary.refund": {
        "id": "💰 {credits} kredit dikembalikan ke saldo Anda.",
        "en": "💰 {credits} credits were refunded to your balance.",
    },
    "summary.quota_back": {
        "id": "{images} gambar dikembalikan ke kuota harian Anda.",
        "en": "{images} images were returned to your daily quota.",
    },
    "summary.all_failed": {
        "id": "❌ Tidak ada gambar yang berhasil diproses.",
        "en": "❌ No image could be processed.",
    },
    "summary.part": {
        "id": "Bagian {part} dari {parts}",
        "en": "Part {part} of {parts}",
    },
    "reason.not_an_image": {"id": "bukan gambar", "en": "not an image"},
    "reason.truncated": {"id": "file gambar rusak", "en": "damaged image file"},
    "reason.corrupt": {"id": "file gambar rusak", "en": "damaged image file"},
    "reason.too_many_pixels": {"id": "resolusi terlalu besar", "en": "resolution too large"},
    "reason.too_small": {"id": "gambar terlalu kecil", "en": "image too small"},
    "reason.file_too_large": {"id": "file terlalu besar", "en": "file too large"},
    "reason.engine_unavailable": {
        "id": "layanan sedang sibuk, coba lagi nanti",
        "en": "engine busy, please try again later",
    },
    "reason.worker_lost": {
        "id": "pemrosesan terhenti berulang kali",
        "en": "processing stopped repeatedly",
    },
    "reason.unknown": {"id": "kesalahan tak terduga", "en": "unexpected error"},
}


def text(key: str, language: str, **values: object) -> str:
    """Render message `key` in `language` (English when the language is not supported)."""
    variants = MESSAGES[key]
    template = variants.get(language) or variants[DEFAULT_LANGUAGE]
    return template.format(**values)


def reason(code: str, language: str) -> str:
    """Say why an image was refused or failed, from its reason code."""
    key = f"reason.{code}"
    return text(key if key in MESSAGES else "reason.unknown", language)
