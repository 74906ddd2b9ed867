"""Log records: one line each, in text or JSON, with the request id they belong to."""

import json
import logging
import sys

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer

from bot.observability import (
    JsonLines,
    KeyValueLines,
    RequestAccessLogger,
    configure_logging,
    request_ids,
)
from services.tracing import REQUEST_ID


def record_with_traceback(logger: str, error: Exception, message: str, *args: object):
    try:
        raise error
    except type(error):
        record = logging.LogRecord(logger, logging.ERROR, __file__, 1, message, args, None)
        record.exc_info = sys.exc_info()
    return record


@pytest.fixture
def restore_root_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_record_with_a_traceback_is_one_key_value_line():
    record = record_with_traceback("t", ValueError('bad "input"\nsecond line'), "job %s failed", 7)
    record.request_id = "req-1"

    line = KeyValueLines().format(record)

    assert "\n" not in line
    assert line.startswith("time=")
    assert " level=ERROR logger=t request=req-1 " in line
    assert 'msg="job 7 failed"' in line
    exc = json.loads(line.split(" exc=", 1)[1])
    assert exc.startswith("Traceback (most recent call last):")
    assert exc.endswith('ValueError: bad "input"\nsecond line')


def test_json_lines_carry_the_same_fields_and_parse_back():
    record = record_with_traceback("w", KeyError("lost"), "it %s", "broke")
    record.request_id = "abc"

    line = JsonLines().format(record)

    assert "\n" not in line
    fields = json.loads(line)
    assert (fields["level"], fields["logger"], fields["request"], fields["msg"]) == (
        "ERROR",
        "w",
        "abc",
        "it broke",
    )
    assert fields["exc"].endswith("KeyError: 'lost'")


def test_configured_logging_tags_records_with_the_running_request(capsys, restore_root_logging):
    configure_logging("INFO", "json")
    token = REQUEST_ID.set("from-the-request")
    try:
        logging.getLogger("services.x").info("inside")
    finally:
        REQUEST_ID.reset(token)
    logging.getLogger("services.x").info("outside")

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]

    assert [(line["msg"], line["request"]) for line in lines] == [
        ("inside", "from-the-request"),
        ("outside", "-"),
    ]


async def serve(app: web.Application, *paths: str, headers=None) -> list[ClientResponse]:
    server = TestServer(app, host="127.0.0.1")
    # The runner is made here, with the access logger `bgbot run` gives it.
    await server.start_server(access_log_class=RequestAccessLogger)
    async with TestClient(server) as client:
        return [await client.get(path, headers=headers or {}) for path in paths]


async def test_every_access_line_names_the_request_id_the_response_carries(
    capsys, restore_root_logging
):
    configure_logging("INFO", "text")
    app = web.Application(middlewares=[request_ids])

    async def hello(request: web.Request) -> web.Response:
        logging.getLogger("bot.test").info("handling")
        return web.Response(text="hi")

    app.router.add_get("/hello", hello)

    (given,) = await serve(app, "/hello", headers={"X-Request-ID": "caller-7"})
    made, missing = await serve(app, "/hello", "/nowhere")
    lines = capsys.readouterr().err.splitlines()
    access = [line for line in lines if "logger=aiohttp.access" in line]

    made_id, missing_id = made.headers["X-Request-ID"], missing.headers["X-Request-ID"]
    assert given.headers["X-Request-ID"] == "caller-7"
    assert missing.status == 404 and len(missing_id) == 32
    assert len(access) == 3
    assert "request=caller-7 " in access[0] and "status=200" in access[0]
    assert f"request={made_id} " in access[1]
    assert f"request={missing_id} " in access[2] and "status=404" in access[2]
    assert any("request=caller-7 " in line and "msg=handling" in line for line in lines)


async def test_a_download_token_and_query_stay_out_of_the_access_log(capsys, restore_root_logging):
    configure_logging("INFO", "json")
    app = web.Application(middlewares=[request_ids])

    async def download(request: web.Request) -> web.Response:
        return web.Response(text="file")

    app.router.add_get("/d/{token}", download)

    await serve(app, "/d/s3cret-link-token?hub.verify_token=also-secret")
    (access,) = [json.loads(line) for line in capsys.readouterr().err.splitlines()]

    assert access["path"] == "/d/[redacted]"
    assert "s3cret" not in json.dumps(access) and "also-secret" not in json.dumps(access)


def test_a_bot_token_in_a_traceback_is_redacted(capsys, restore_root_logging):
    configure_logging("INFO", "text")
    token = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"
    try:
        raise ConnectionError(f"cannot reach https://api.telegram.org/bot{token}/getMe")
    except ConnectionError:
        logging.getLogger("telegram.ext").exception("polling failed")

    (line,) = capsys.readouterr().err.splitlines()

    assert token not in line
    assert "bot[redacted]/getMe" in line
    assert 'msg="polling failed"' in line


def test_a_secret_on_its_own_line_of_a_logged_message_is_redacted():
    # An HTTP client logs a message's parameters as a dict repr: the newline before the secret
    # becomes backslash-n, and the secret follows a letter.
    from bot.observability import REDACTED, RedactSecrets

    parameters = {"text": "New secret:\nwhsec_" + "a1B2" * 8 + "\nAPI key:\nbrp_" + "x9_Z" * 8}
    record = logging.LogRecord("telegram", logging.DEBUG, __file__, 1, "%s", (parameters,), None)

    RedactSecrets().filter(record)

    assert "whsec_" not in record.getMessage() and "brp_" not in record.getMessage()
    assert record.getMessage().count(REDACTED) == 2
