"""`bgbot models download` and the download service against a loopback file server."""

from __future__ import annotations

import dataclasses
import hashlib
import os

import httpx
import pytest
from aiohttp import web
from click.testing import CliRunner

from bot.cli import cli
from services.engines.download import (
    ChecksumMismatch,
    DownloadFailed,
    DownloadPolicy,
    NoOfficialDownload,
    download_model,
)
from services.engines.onnx_local import MODELS, ModelSpec

WEIGHTS = os.urandom(3 * 2**20 + 17)  # more than one read chunk
FAST = DownloadPolicy(attempts=3, first_wait=0.0, timeout=5.0)


def _spec(checksum: str | None, url: str | None = None) -> ModelSpec:
    return dataclasses.replace(MODELS["u2netp"], url=url, checksum=checksum)


def _md5(data: bytes) -> str:
    return "md5:" + hashlib.md5(data).hexdigest()


@pytest.fixture
def client():
    with httpx.Client() as http:
        yield http


@pytest.fixture
def weights_server(loopback):
    @loopback.route("/mirror/u2netp.onnx")
    async def weights(request: web.Request) -> web.Response:
        return web.Response(body=WEIGHTS, content_type="application/octet-stream")

    return loopback


def test_download_keeps_the_file_once_its_checksum_matches(weights_server, client, tmp_path):
    seen: list[int | None] = []
    received: list[int] = []

    fetched = download_model(
        _spec(_md5(WEIGHTS)),
        tmp_path,
        client=client,
        base_url=weights_server.url + "/mirror",
        on_start=seen.append,
        on_bytes=received.append,
    )

    assert fetched.downloaded
    assert fetched.path == tmp_path / "u2netp.onnx"
    assert fetched.path.read_bytes() == WEIGHTS
    assert seen == [len(WEIGHTS)]
    assert sum(received) == len(WEIGHTS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["u2netp.onnx"]


def test_download_with_a_wrong_checksum_keeps_nothing(weights_server, client, tmp_path):
    with pytest.raises(ChecksumMismatch):
        download_model(
            _spec(_md5(b"other weights")),
            tmp_path,
            client=client,
            base_url=weights_server.url + "/mirror",
        )

    assert list(tmp_path.iterdir()) == []


def test_a_file_placed_by_hand_is_used_as_is(weights_server, client, tmp_path):
    placed = tmp_path / "u2netp.onnx"
    placed.write_bytes(b"an operator's own copy")

    fetched = download_model(
        _spec(_md5(WEIGHTS)), tmp_path, client=client, base_url=weights_server.url + "/mirror"
    )

    assert not fetched.downloaded
    assert placed.read_bytes() == b"an operator's own copy"
    assert weights_server.requests == []


def test_download_retries_a_503_then_succeeds(weights_server, client, tmp_path):
    answers = iter([web.Response(status=503)])

    @weights_server.route("/flaky/u2netp.onnx")
    async def flaky(request: web.Request) -> web.Response:
        return next(answers, None) or web.Response(body=WEIGHTS)

    fetched = download_model(
        _spec(_md5(WEIGHTS)),
        tmp_path,
        client=client,
        base_url=weights_server.url + "/flaky",
        policy=FAST,
    )

    assert fetched.path.read_bytes() == WEIGHTS
    assert len(weights_server.requests) == 2


def test_download_reports_a_missing_file_without_retrying(weights_server, client, tmp_path):
    with pytest.raises(DownloadFailed, match="HTTP 404"):
        download_model(
            _spec(_md5(WEIGHTS)), tmp_path, client=client, base_url=weights_server.url + "/gone"
        )
    assert len(weights_server.requests) == 1
    assert list(tmp_path.iterdir()) == []


def test_download_follows_a_redirect_and_checks_the_sha256_hugging_face_declares(
    loopback, client, tmp_path
):
    digest = hashlib.sha256(WEIGHTS).hexdigest()

    @loopback.route("/briaai/RMBG-1.4/resolve/main/onnx/model.onnx")
    async def resolve(request: web.Request) -> web.Response:
        raise web.HTTPFound("/lfs/model.onnx", headers={"X-Linked-ETag": f'"{digest}"'})

    @loopback.route("/lfs/model.onnx")
    async def lfs(request: web.Request) -> web.Response:
        return web.Response(body=WEIGHTS)

    spec = dataclasses.replace(
        MODELS["rmbg-1.4"], url=loopback.url + "/briaai/RMBG-1.4/resolve/main/onnx/model.onnx"
    )
    fetched = download_model(spec, tmp_path, client=client)

    assert fetched.path.name == "bria-rmbg-1.4.onnx"
    assert fetched.path.read_bytes() == WEIGHTS


def test_a_model_without_an_official_download_names_the_file_to_place(client, tmp_path):
    with pytest.raises(NoOfficialDownload, match=r"isnet-imgly-medium\.onnx"):
        download_model(MODELS["isnet-imgly-medium"], tmp_path, client=client)


def test_every_downloadable_model_has_a_pinned_digest_or_a_declaring_host():
    for spec in MODELS.values():
        if spec.url is not None:
            assert spec.checksum or spec.url.startswith("https://huggingface.co/"), spec.name


def _cli_env(tmp_path, base_url: str) -> dict[str, str]:
    return {
        "BGBOT_ENV_FILE": str(tmp_path / "no.env"),
        "DATA_DIR": str(tmp_path / "data"),
        "MODELS_DIR": str(tmp_path / "models"),
        "MODELS_BASE_URL": base_url,
    }


def test_models_download_command_fetches_into_models_dir(weights_server, tmp_path, monkeypatch):
    monkeypatch.setitem(MODELS, "u2netp", _spec(_md5(WEIGHTS), url="https://unused.invalid/"))

    env = _cli_env(tmp_path, weights_server.url + "/mirror")

    result = CliRunner().invoke(cli, ["models", "download", "u2netp"], env=env)

    assert result.exit_code == 0, result.output
    assert "downloaded and verified" in result.output
    assert (tmp_path / "models" / "u2netp.onnx").read_bytes() == WEIGHTS


def test_models_download_command_refuses_a_corrupt_file(weights_server, tmp_path):
    # The pinned digest is the official file's, which the mirror does not serve.
    env = _cli_env(tmp_path, weights_server.url + "/mirror")

    result = CliRunner().invoke(cli, ["models", "download", "u2netp"], env=env)

    assert result.exit_code == 1
    assert "is not the expected" in result.output
    assert not (tmp_path / "models" / "u2netp.onnx").exists()


def test_a_failed_download_names_the_source_and_both_ways_out(tmp_path):
    # Given no route to the model host (a closed port on loopback stands for no internet)
    spec = _spec(_md5(WEIGHTS), url="http://127.0.0.1:9/u2netp.onnx")

    # When the operator asks for the model
    with httpx.Client() as http, pytest.raises(DownloadFailed) as failed:
        download_model(spec, tmp_path / "models", client=http, policy=FAST)

    # Then the answer says what was fetched, from where, and what to do instead
    message = str(failed.value)
    assert "could not fetch u2netp from http://127.0.0.1:9/u2netp.onnx" in message
    assert "ConnectError" in message
    assert "set MODELS_BASE_URL to a server that serves the file as" in message
    target = tmp_path / "models" / "u2netp.onnx"
    assert f"copy the file, named exactly u2netp.onnx, to {target}" in message
    assert hashlib.md5(WEIGHTS).hexdigest() in message
    assert not target.exists()


def test_models_download_command_explains_a_mirror_that_lacks_the_file(weights_server, tmp_path):
    env = _cli_env(tmp_path, weights_server.url + "/empty-mirror")

    result = CliRunner().invoke(cli, ["models", "download", "u2netp"], env=env)

    assert result.exit_code == 1
    assert "HTTP 404" in result.output
    assert f"MODELS_BASE_URL is {weights_server.url}/empty-mirror" in result.output
    assert f"{weights_server.url}/empty-mirror/u2netp.onnx" in result.output
    assert str(tmp_path / "models" / "u2netp.onnx") in result.output
    assert "8e83ca70e441ab06c318d82300c84806" in result.output  # the pinned md5


def test_models_download_with_no_name_fetches_what_the_configured_tiers_need(
    weights_server, tmp_path, monkeypatch
):
    monkeypatch.setitem(MODELS, "u2netp", _spec(_md5(WEIGHTS), url="https://unused.invalid/"))
    env = _cli_env(tmp_path, weights_server.url + "/mirror") | {"ENGINE_ALL": "u2netp"}

    result = CliRunner().invoke(cli, ["models", "download"], env=env)

    assert result.exit_code == 0, result.output
    assert "the configured tiers need: u2netp" in result.output
    assert (tmp_path / "models" / "u2netp.onnx").read_bytes() == WEIGHTS
