"""Settings are read once, validated with clear errors, and never show a secret."""

import pytest
from pydantic import ValidationError

from services.settings import Settings


def settings(**environment):
    return Settings(_env_file=None, **environment)


def test_every_variable_has_a_default():
    defaults = settings()
    assert defaults.timezone == "Asia/Jakarta"
    assert defaults.redis_url is None
    assert defaults.resolved_database_url.startswith("sqlite+aiosqlite:///")
    assert defaults.resolved_models_dir == defaults.data_dir / "models"


def test_a_wrong_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("TIMEZONE", "Mars/Olympus")
    with pytest.raises(ValidationError, match="timezone"):
        Settings(_env_file=None)


def test_half_a_whatsapp_configuration_is_refused_with_what_is_missing():
    with pytest.raises(ValidationError, match="WHATSAPP_APP_SECRET"):
        settings(whatsapp_access_token="token", whatsapp_phone_number_id="1")


def test_database_urls_from_hosting_get_the_async_driver():
    assert settings(database_url="postgres://u@h/db").database_url == "postgresql+asyncpg://u@h/db"
    with pytest.raises(ValidationError, match="DATABASE_URL"):
        settings(database_url="mysql://u@h/db")


def test_admin_ids_are_read_from_a_comma_separated_list(monkeypatch):
    monkeypatch.setenv("ADMIN_IDS", "12, 34")
    assert Settings(_env_file=None).admin_ids == frozenset({12, 34})


def test_secrets_are_never_printed():
    secret = "123456:very-secret-token"
    loaded = settings(telegram_bot_token=secret, huggingface_api_key="hf_secret")
    for shown in (repr(loaded), str(loaded), loaded.model_dump_json()):
        assert secret not in shown and "hf_secret" not in shown
