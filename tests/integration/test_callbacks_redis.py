"""Callbacks on Redis: their own broker and worker beside the pipeline's, signed, once."""

import hashlib
import hmac
from datetime import timedelta

from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.api_delivery import ApiDelivery
from db.engine import create_engine, create_session_factory
from db.uow import UnitOfWork
from services.api_keys import ensure_callback_secret
from services.billing import QuoteFile, accept_quote, create_quote
from services.pricing import Tier
from tests.integration.helpers import JAKARTA, NOON, new_account
from tests.integration.pipeline_helpers import build_test_pipeline, wait_for
from workers.submit import submit_batch

SERVER_KEY = b"server-key-for-tests"


def write_result(work, source, results_dir):
    results_dir.mkdir(parents=True, exist_ok=True)
    target = results_dir / f"{work.position:04d}.png"
    target.write_bytes(b"png")
    return target


def package(outcome, data_dir):
    return [(data_dir / job.output_path, job.input_name) for job in outcome.results]


async def test_a_batch_on_redis_calls_back_once_signed_by_the_accounts_secret(
    tmp_path, database_url, redis_url, redis_namespace, uow
):
    calls = []

    async def receive(request: web.Request) -> web.Response:
        calls.append((await request.read(), request.headers["X-Signature-256"]))
        return web.Response(text="ok")

    receiver = web.Application()
    receiver.router.add_post("/hook", receive)
    async with TestServer(receiver, host="127.0.0.1") as hook:
        pipeline = build_test_pipeline(
            redis_url=redis_url,
            namespace=redis_namespace,
            database_url=database_url,
            data_dir=tmp_path,
            cutter=write_result,
            packager=package,
            callback_signing_key=SERVER_KEY.decode(),
        )
        engine = create_engine(database_url)
        sessions = create_session_factory(engine)
        pipeline.runtime.channels["api"] = ApiDelivery(
            lambda: UnitOfWork(sessions), "https://api.example", allowed_hosts={"127.0.0.1"}
        )
        account = await new_account(uow, credits=30)
        secret = await ensure_callback_secret(uow, account, SERVER_KEY, now=NOON)
        assert secret is not None
        (tmp_path / "inbox").mkdir()
        (tmp_path / "inbox" / "a.jpg").write_bytes(b"jpeg")
        offer = await create_quote(
            uow,
            account,
            [QuoteFile(name="a.jpg", path="inbox/a.jpg")],
            channel="api",
            chat={"language": "en", "callback_url": str(hook.make_url("/hook"))},
            ttl=timedelta(days=3650),
            zone=JAKARTA,
            now=NOON,
        )
        accepted = await accept_quote(
            uow, offer.quote_id, account, Tier.BASIC, zone=JAKARTA, now=NOON
        )
        assert await submit_batch(pipeline.actors, uow, accepted)
        worker = pipeline.worker(threads=2)
        try:

            async def called():
                return calls

            await wait_for(called, seconds=60, message="the callback")

            async def recorded():
                async with uow:
                    batch = await uow.batches.get(accepted.batch_id)
                    return batch.callback_state == "delivered" and batch

            batch = await wait_for(recorded, seconds=30, message="the callback's state")
        finally:
            worker.stop()
            pipeline.broker.close()
            await engine.dispose()
    body, signature = calls[0]
    assert signature == "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert (len(calls), batch.callback_attempts) == (1, 1)
    assert b'"download_url":"https://api.example/api/background-remover/batch/' in body
