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
    """A model file could not be fetched; `str()` says why and what the operator can do."""

    code = "download_failed"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.advice = ""

    def __str__(self) -> str:
        return f"{self.reason}\n{self.advice}" if self.advice else self.reason


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


def ways_out(spec: ModelSpec, models_dir: Path, base_url: str | None) -> str:
    """What an operator can do when `spec`'s file cannot be fetched: a mirror, or by hand.

    A first install often runs where the model hosts are out of reach (no internet, a proxy,
    a firewall); the answer names the file, where it belongs and how to check it.
    """
    target = models_dir / spec.filename
    if spec.checksum:
        algorithm, _, digest = spec.checksum.partition(":")
        check = f"its {algorithm} must be {digest} (`{algorithm}sum {target}`)"
    elif spec.url:
        check = f"check it against the SHA-256 its host publishes for {spec.url}"
    else:
        check = "it is used as it is"
    mirror = (
        f"MODELS_BASE_URL is {base_url}: that server must answer {model_url(spec, base_url)}"
        if base_url
        else f"set MODELS_BASE_URL to a server that serves the file as <MODELS_BASE_URL>/"
        f"{spec.filename} (an internal web server, a proxy cache)"
    )
    return "\n".join(
        [
            "Two ways out:",
            f"  1. a mirror: {mirror}, then run `bgbot models download {spec.name}` again;",
            f"  2. by hand: copy the file, named exactly {spec.filename}, to {target}"
            + (f" (the official file is {spec.url})" if spec.url else "")
            + f"; {check}. A file there is used as it is, and nothing is downloaded.",
        ]
    )


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
    raise DownloadFailed(
        f"{spec.name} from {response.url}: no checksum to verify the download against"
    )


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
    try:
        return _fetch(
            spec,
            models_dir,
            client=client,
            base_url=base_url,
            policy=policy,
            on_start=on_start,
            on_bytes=on_bytes,
        )
    except DownloadFailed as failed:
        failed.advice = ways_out(spec, models_dir, base_url)
        raise


def _fetch(
    spec: ModelSpec,
    models_dir: Path,
    *,
    client: httpx.Client,
    base_url: str | None,
    policy: DownloadPolicy,
    on_start: ProgressStart | None,
    on_bytes: ProgressAdvance | None,
) -> Fetched:
    target = models_dir / spec.filename
    url = model_url(spec, base_url)
    if url is None:
        raise NoOfficialDownload(
            f"{spec.name} has no official download: {spec.filename} must be placed by hand"
        )
    models_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")

    def attempt() -> tuple[str, str, str]:
        try:
            with client.stream("GET", url, follow_redirects=True, timeout=policy.timeout) as reply:
                if reply.status_code in _TRANSIENT_STATUSES:
                    raise _Transient(f"HTTP {reply.status_code}")
                if reply.status_code >= 400:
                    raise DownloadFailed(
                        f"could not fetch {spec.name} from {url}: HTTP {reply.status_code}"
                    )
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
        raise DownloadFailed(
            f"could not fetch {spec.name} from {url}: {transient} (tried {policy.attempts} times)"
        ) from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if actual != expected:
        partial.unlink(missing_ok=True)
        raise ChecksumMismatch(
            f"{spec.filename} fetched from {url}: {algorithm} {actual} is not the expected "
            f"{expected}; nothing kept"
        )
    partial.replace(target)
    return Fetched(target, downloaded=True)
