"""A request id follows the work an HTTP request starts, through the queue into the worker."""

from aiohttp import FormData

from bot.http_api import PREFIX
from tests.api.test_images_api import key_for, photo_bytes


async def test_the_workers_records_of_a_job_carry_the_request_id_that_started_it(
    service, uow, worker_records
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
    done = [r for r in worker_records if "cut out at basic" in r.getMessage()]
    assert len(done) == 1
    assert done[0].request_id == "trace-job-1"
