"""A request id follows the work an HTTP request starts, through the queue into the worker."""

import logging

import pytest
from aiohttp import FormData

from bot.http_api import PREFIX
from bot.observability import TagRequest
from tests.api.test_images_api import key_for, photo_bytes


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.addFilter(TagRequest())
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def collected():
    handler = Collect()
    logger = logging.getLogger("workers")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    yield handler.records
    logger.removeHandler(handler)
    logger.setLevel(level)


async def test_the_workers_records_of_a_job_carry_the_request_id_that_started_it(
    service, uow, collected
):
    _, _, headers = await key_for(uow)
    form = FormData()
    form.add_field("image", photo_bytes((64, 48)), filename="cup.jpg", content_type="image/jpeg")
    form.add_field("tier", "basic")

    response = await service.post(
        f"{PREFIX}/remove", data=form, headers={**headers, "X-Request-ID": "trace-job-1"}
    )

    assert response.status == 200, await response.text()
    assert response.headers["X-Request-ID"] == "trace-job-1"
    done = [r for r in collected if "cut out at basic" in r.getMessage()]
    assert len(done) == 1
    assert done[0].request_id == "trace-job-1"
