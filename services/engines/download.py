"""Fetching official model weights into MODELS_DIR, verified against a pinned digest.

A file already in MODELS_DIR is used as it is: operators may place weights by hand (an
air-gapped host, a licensed file), and the engine never downloads anything by itself.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from services.engines.onnx_local import ModelSpec
from services.errors import ServiceError

_TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_SHA256 = re.compile(r'(?:W/)?"?([0-9a-f]{64})"?')
_CHUNK = 1 << 20


class DownloadFailed(ServiceError):
    code = "download_failed"


class NoOfficialDownload(DownloadFailed):
    """The model has no single official file to fetch; it must be placed by hand."""

    code = "no_official_download"


class ChecksumMismatch(DownloadFailed):
    """The bytes received are not the pinned file; nothing was kept."""

    code = "checksum_mismatch"


class _Transient(Exception):
    pass


@dataclass(frozen=True, slots=True)
class DownloadPolicy:
    attempts: int = 3
    first_wait: float = 1.0
    timeout: float = 60.0


@dataclass(frozen=True, slots=True)
class Fetched:
    path: Path
    downloaded: bool  # False: the file was already there and is used as it is


ProgressStart = Callable[[int | None], None]
ProgressAdvance = Callable[[int], None]


def model_url(spec: ModelSpec, base_url: str | None) -> str | None:
    """Where to fetch `spec`'s file: a configured mirror (`{base}/{filename}`) or the origin."""
    if base_url:
        return f"{base_url.rstrip('/')}/{spec.filename}"
    return spec.url


def _expected_digest(spec: ModelSpec, response: httpx.Response) -> tuple[str, str]:
    if spec.checksum:
        algorithm, _, digest = spec.checksum.partition(":")
        return algorithm, digest.lower()
    # Hugging Face serves large files from LFS and declares their SHA-256 in this header,
    # on its own redirect to the storage host rather than on the storage host's answer.
    for answer in (response, *response.history):
        linked = _SHA256.fullmatch(answer.headers.get("x-linked-etag", "").lower())
        if linked is not None:
            return "sha256", linked.group(1)
    raise DownloadFailed(f"{spec.name}: no checksum to verify the download against")


def download_model(
    spec: ModelSpec,
    models_dir: Path,
    *,
    client: httpx.Client,
    base_url: str | None = None,
    policy: DownloadPolicy = DownloadPolicy(),
    on_start: ProgressStart | None = None,
    on_bytes: ProgressAdvance | None = None,
) -> Fetched:
    """Fetch `spec`'s weights into `models_dir` unless the file is already there.

    The file appears under its final name only once its digest matched; a partial or wrong
    download is deleted.

    Raises:
        NoOfficialDownload: the model has no official download and no mirror is configured.
        ChecksumMismatch: the bytes received are not the expected file.
        DownloadFailed: the server refused, or stayed unreachable through the retries.
    """
    target = models_dir / spec.filename
    if target.is_file():
        return Fetched(target, downloaded=False)
    url = model_url(spec, base_url)
    if url is None:
        raise NoOfficialDownload(
            f"{spec.name} has no official download: place {spec.filename} in {models_dir}"
        )
    models_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")

    def attempt() -> tuple[str, str, str]:
        try:
            with client.stream("GET", url, follow_redirects=True, timeout=policy.timeout) as reply:
                if reply.status_code in _TRANSIENT_STATUSES:
                    raise _Transient(f"HTTP {reply.status_code}")
                if reply.status_code >= 400:
                    raise DownloadFailed(f"{url}: HTTP {reply.status_code}")
                algorithm, expected = _expected_digest(spec, reply)
                hasher = hashlib.new(algorithm)
                length = reply.headers.get("content-length")
                if on_start is not None:
                    on_start(int(length) if length and length.isdigit() else None)
                with partial.open("wb") as sink:
                    for chunk in reply.iter_bytes(_CHUNK):
                        hasher.update(chunk)
                        sink.write(chunk)
                        if on_bytes is not None:
                            on_bytes(len(chunk))
                return algorithm, expected, hasher.hexdigest()
        except httpx.TransportError as error:
            raise _Transient(f"{type(error).__name__}: {error}") from error

    retrying = Retrying(
        retry=retry_if_exception_type(_Transient),
        stop=stop_after_attempt(policy.attempts),
        wait=wait_exponential(multiplier=policy.first_wait, max=30),
        reraise=True,
    )
    try:
        algorithm, expected, actual = retrying(attempt)
    except _Transient as transient:
        partial.unlink(missing_ok=True)
        raise DownloadFailed(f"{url}: {transient} after {policy.attempts} attempts") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if actual != expected:
        partial.unlink(missing_ok=True)
        raise ChecksumMismatch(
            f"{spec.filename}: {algorithm} {actual} is not the expected {expected}; nothing kept"
        )
    partial.replace(target)
    return Fetched(target, downloaded=True)
