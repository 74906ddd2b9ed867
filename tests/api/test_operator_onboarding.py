"""An operator with no chat channel opens an account and a key from the shell, then uses HTTP."""

import asyncio
import io

from aiohttp import FormData
from click.testing import CliRunner, Result
from PIL import Image

from bot.cli import cli
from bot.http_api import PREFIX
from tests.api.test_images_api import photo_bytes


def bgbot(tmp_path, database_url, *args: str) -> Result:
    env = {
        "BGBOT_ENV_FILE": str(tmp_path / "absent.env"),
        "DATA_DIR": str(tmp_path),
        "DATABASE_URL": database_url,
        # No chat channel at all: the HTTP API is the only way in.
        "TELEGRAM_BOT_TOKEN": "",
        "WHATSAPP_ACCESS_TOKEN": "",
    }
    return CliRunner().invoke(cli, list(args), env=env)


async def test_an_account_and_key_made_in_the_shell_remove_a_background_over_http(
    service, tmp_path, database_url
):
    def shell(*args: str) -> Result:
        result = bgbot(tmp_path, database_url, *args)
        assert result.exit_code == 0, result.output
        return result

    # Given an account opened, funded and keyed from the command line alone
    opened = await asyncio.to_thread(
        shell, "admin", "account", "create", "Toko Uji", "--language", "en"
    )
    account = opened.stdout.strip()
    assert account.isdigit()
    await asyncio.to_thread(shell, "admin", "grant", account, "20")
    secret = (await asyncio.to_thread(shell, "admin", "key", "create", account)).stdout.strip()

    # When the key removes one background over HTTP
    form = FormData()
    form.add_field("image", photo_bytes((96, 64)), filename="bag.jpg", content_type="image/jpeg")
    form.add_field("tier", "basic")
    headers = {"Authorization": f"Bearer {secret}"}
    response = await service.post(f"{PREFIX}/remove", data=form, headers=headers)

    # Then a cutout comes back and the account paid the basic price
    assert response.status == 200, await response.text()
    with Image.open(io.BytesIO(await response.read())) as result:
        assert (result.format, result.mode, result.size) == ("PNG", "RGBA", (96, 64))
    stats = await service.get(f"{PREFIX}/stats", headers=headers)
    assert (await stats.json())["balance"] == 20 - 3

    # And once revoked from the shell, the key opens nothing
    listed = await asyncio.to_thread(shell, "admin", "key", "list", account)
    key_id = listed.stdout.split("\t")[0]
    await asyncio.to_thread(shell, "admin", "key", "revoke", account, key_id)
    refused = await service.get(f"{PREFIX}/stats", headers=headers)
    assert refused.status == 401
