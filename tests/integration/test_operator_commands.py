"""`bgbot admin`: accounts, keys and grants for operators without a chat channel."""

import asyncio

from click.testing import CliRunner, Result

from bot.cli import cli
from services.api_keys import authenticate
from services.clock import utcnow
from tests.integration.helpers import new_account


def runner(tmp_path, database_url):
    env = {
        "BGBOT_ENV_FILE": str(tmp_path / "absent.env"),
        "DATA_DIR": str(tmp_path),
        "DATABASE_URL": database_url,
    }

    def run(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args), env=env)

    return lambda *args: asyncio.to_thread(run, *args)


async def test_a_negative_grant_is_taken_as_written(uow, tmp_path, database_url):
    account = await new_account(uow, telegram_id=31, credits=50)
    bgbot = runner(tmp_path, database_url)

    taken = await bgbot("admin", "grant", str(account), "-30")
    overdrawn = await bgbot("admin", "grant", "tg:31", "-21", "--reason", "refund by hand")

    assert taken.exit_code == 0, taken.output
    assert "balance 20 credits" in taken.output
    assert overdrawn.exit_code == 1
    assert "has only 20 credits" in overdrawn.output
    async with uow:
        assert (await uow.accounts.get(account)).balance == 20


async def test_an_unknown_option_of_grant_is_still_refused(uow, tmp_path, database_url):
    account = await new_account(uow, telegram_id=32, credits=5)

    result = await runner(tmp_path, database_url)("admin", "grant", str(account), "--reasn", "x")

    assert result.exit_code == 2
    async with uow:
        assert (await uow.accounts.get(account)).balance == 5


async def test_a_whatsapp_only_operator_opens_funds_and_keys_an_account_by_number(
    uow, tmp_path, database_url
):
    bgbot = runner(tmp_path, database_url)

    opened = await bgbot("admin", "account", "create", "Toko Uji", "--whatsapp", "+628123456")
    granted = await bgbot("admin", "grant", "wa:628123456", "40")
    keyed = await bgbot("admin", "key", "create", "wa:+628123456", "--name", "shop")
    again = await bgbot("admin", "account", "create", "Other", "--whatsapp", "628123456")

    assert opened.exit_code == 0, opened.output
    account = int(opened.stdout)
    assert granted.exit_code == 0 and f"account {account}: balance 40" in granted.output
    assert keyed.exit_code == 0, keyed.output
    assert await authenticate(uow, keyed.stdout.strip(), now=utcnow()) == account
    assert again.exit_code == 1 and f"already has account {account}" in again.output
    async with uow:
        stored = await uow.accounts.get(account)
        assert stored is not None
        assert (stored.whatsapp_number, stored.language, stored.balance) == ("628123456", "id", 40)


async def test_an_account_without_a_channel_has_no_balance_until_granted(
    uow, tmp_path, database_url
):
    opened = await runner(tmp_path, database_url)(
        "admin", "account", "create", "API only", "--language", "en"
    )

    assert opened.exit_code == 0, opened.output
    async with uow:
        stored = await uow.accounts.get(int(opened.stdout))
        assert stored is not None
        assert (stored.telegram_id, stored.whatsapp_number) == (None, None)
        assert (stored.display_name, stored.language, stored.balance) == ("API only", "en", 0)


async def test_keys_are_listed_and_revoked_per_account(uow, tmp_path, database_url):
    account = await new_account(uow, telegram_id=33)
    other = await new_account(uow, telegram_id=34)
    bgbot = runner(tmp_path, database_url)
    first = (await bgbot("admin", "key", "create", "tg:33", "--name", "till")).stdout.strip()
    await bgbot("admin", "key", "create", "tg:33", "--name", "web")

    listed = await bgbot("admin", "key", "list", str(account))
    rows = [line.split("\t") for line in listed.stdout.splitlines()]
    foreign = await bgbot("admin", "key", "revoke", str(other), rows[0][0])
    revoked = await bgbot("admin", "key", "revoke", str(account), rows[0][0])
    after = await bgbot("admin", "key", "list", str(account))

    assert [row[2] for row in rows] == ["till", "web"]
    assert rows[0][1].rstrip("…") == first[: len(rows[0][1].rstrip("…"))]
    assert foreign.exit_code == 1 and "no active key" in foreign.output
    assert revoked.exit_code == 0, revoked.output
    assert [line.split("\t")[2] for line in after.stdout.splitlines()] == ["web"]
