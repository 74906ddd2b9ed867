"""`.env.example` lists every setting, and its example values are valid settings."""

import re

from services.settings import Settings
from tests.conftest import REPO_ROOT

EXAMPLE = REPO_ROOT / ".env.example"


def named_settings(text: str) -> set[str]:
    return set(re.findall(r"(?m)^#? ?([A-Z][A-Z0-9_]*)=", text))


def test_the_example_env_file_names_every_setting():
    named = named_settings(EXAMPLE.read_text())
    missing = sorted(name.upper() for name in Settings.model_fields if name.upper() not in named)
    assert not missing, f".env.example does not name {', '.join(missing)}"


def test_the_example_env_file_sets_nothing_until_a_line_is_uncommented():
    assert not re.findall(r"(?m)^[A-Z][A-Z0-9_]*=", EXAMPLE.read_text())


def test_every_example_value_is_accepted_when_uncommented(tmp_path):
    switched_on = re.sub(r"(?m)^# ([A-Z][A-Z0-9_]*=)", r"\1", EXAMPLE.read_text())
    env_file = tmp_path / ".env"
    env_file.write_text(switched_on)

    settings = Settings(_env_file=env_file)

    assert settings.whatsapp_enabled
    assert settings.telegram_bot_token is not None
    assert settings.log_format == "text"
    assert settings.stars_credit_packs == {100: 50, 500: 240, 1500: 690}
