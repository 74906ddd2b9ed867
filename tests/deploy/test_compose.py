"""The compose file, as Docker Compose's own parser reads it: start order, settings, profiles.

Docker cannot pull images on CI machines, so `docker compose config` (or the standalone
`docker-compose config`) is the check: it validates the file and prints it resolved, with
`.env` merged in, which these tests read.
"""

import re
import shutil
import subprocess
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.settings import Settings
from tests.conftest import REPO_ROOT

APP_SERVICES = ("migrate", "models", "bot", "worker")
# What the compose file points at its own services, volume and port, whatever .env says.
SET_BY_COMPOSE = {
    "DATABASE_URL",
    "REDIS_URL",
    "DATA_DIR",
    "MODELS_DIR",
    "HTTP_HOST",
    "HTTP_PORT",
}


def compose_command() -> list[str]:
    """`docker compose` when the plugin is there, else the standalone `docker-compose`."""
    docker = shutil.which("docker")
    if docker is not None:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    if standalone is None:
        pytest.skip(
            "neither `docker compose` nor `docker-compose` is installed (.ci/run installs it)"
        )
    return [standalone]


def project(directory: Path, env_text: str | None = None) -> Path:
    """A copy of the compose file with an `.env` (the example's, unless given)."""
    shutil.copy(REPO_ROOT / "docker-compose.yml", directory / "docker-compose.yml")
    text = env_text if env_text is not None else (REPO_ROOT / ".env.example").read_text()
    (directory / ".env").write_text(text)
    return directory


def config(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*compose_command(), *args, "config"],
        cwd=directory,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin"},
    )


def resolved(directory: Path, *args: str) -> dict[str, Any]:
    result = config(directory, *args)
    assert result.returncode == 0, result.stderr
    loaded: dict[str, Any] = yaml.safe_load(result.stdout)
    return loaded


def mounts(service: dict[str, Any]) -> list[str]:
    """A service's volumes as `source:target`, from either parser's way of printing them."""
    shown = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):  # Compose v2 prints the long syntax
            shown.append(f"{volume['source']}:{volume['target']}")
        else:
            shown.append(":".join(str(volume).split(":")[:2]))
    return shown


def uncommented_example() -> str:
    """The example with every setting line switched on, as an operator might write it."""
    text = (REPO_ROOT / ".env.example").read_text()
    return re.sub(r"(?m)^# ([A-Z][A-Z0-9_]*=)", r"\1", text)


def test_docker_compose_config_accepts_the_compose_file(tmp_path):
    result = config(project(tmp_path), "--profile", "local-bot-api")
    assert result.returncode == 0, result.stderr


def test_docker_compose_config_rejects_a_broken_copy(tmp_path):
    # The check above can fail: an unknown depends_on condition is refused.
    project(tmp_path)
    compose = tmp_path / "docker-compose.yml"
    compose.write_text(
        compose.read_text().replace("condition: service_healthy", "condition: service_happy")
    )
    assert config(tmp_path).returncode != 0


def test_services_start_in_order_each_waiting_for_the_one_before(tmp_path):
    services = resolved(project(tmp_path))["services"]

    def waits_for(name: str) -> dict[str, str]:
        return {dep: spec["condition"] for dep, spec in services[name]["depends_on"].items()}

    assert waits_for("migrate") == {"postgres": "service_healthy", "redis": "service_healthy"}
    assert waits_for("models") == {"migrate": "service_completed_successfully"}
    assert waits_for("bot") == {
        "postgres": "service_healthy",
        "redis": "service_healthy",
        "migrate": "service_completed_successfully",
        "models": "service_completed_successfully",
    }
    assert waits_for("worker") == {
        "redis": "service_healthy",
        "models": "service_completed_successfully",
        "bot": "service_healthy",
    }
    # A service_healthy condition means nothing without a health check to answer it.
    for name in ("postgres", "redis", "bot"):
        assert services[name]["healthcheck"]["test"], name
    assert "/healthz" in " ".join(services["bot"]["healthcheck"]["test"])
    # The one-shot steps run once; the long-running ones come back after a crash.
    for name in ("migrate", "models"):
        assert services[name]["restart"] == "no"
    graph = {name: set(spec.get("depends_on", {})) for name, spec in services.items()}
    order = list(TopologicalSorter(graph).static_order())
    positions = {name: order.index(name) for name in order}
    assert (
        max(positions["postgres"], positions["redis"])
        < positions["migrate"]
        < positions["models"]
        < positions["bot"]
        < positions["worker"]
    )


def test_the_one_shot_steps_migrate_and_fetch_the_models_into_the_shared_volume(tmp_path):
    services = resolved(project(tmp_path))["services"]

    assert services["migrate"]["command"] == ["bgbot", "db", "upgrade"]
    assert services["models"]["command"][:3] == ["bgbot", "models", "download"]
    for name in APP_SERVICES:
        assert "data:/data" in mounts(services[name]), name
        assert services[name]["environment"]["MODELS_DIR"] == "/data/models"


def test_every_setting_in_env_reaches_the_bot_the_workers_and_the_one_shot_steps(tmp_path):
    services = resolved(project(tmp_path, uncommented_example()))["services"]

    for name in APP_SERVICES:
        environment = services[name]["environment"]
        missing = sorted(
            field.upper()
            for field in Settings.model_fields
            if field.upper() not in environment and field.upper() not in SET_BY_COMPOSE
        )
        assert not missing, f"{name} does not get {', '.join(missing)} from .env"
        assert environment["WHATSAPP_PHONE_NUMBER_ID"] == "123456789012345"
        # The compose file's own addresses win over a .env written for a machine without it.
        assert environment["DATABASE_URL"].startswith("postgresql+asyncpg://bgbot:")
        assert environment["REDIS_URL"] == "redis://redis:6379/0"
        assert environment["DATA_DIR"] == "/data"


def test_the_local_bot_api_server_is_an_optional_profile(tmp_path):
    env = "TELEGRAM_API_ID=12345\nTELEGRAM_API_HASH=0123456789abcdef\n"
    services = resolved(project(tmp_path, env), "--profile", "local-bot-api")["services"]

    server = services["telegram-bot-api"]
    assert server["profiles"] == ["local-bot-api"]
    assert server["image"].startswith("aiogram/telegram-bot-api")
    assert server["environment"]["TELEGRAM_API_ID"] == "12345"
    assert server["environment"]["TELEGRAM_LOCAL"] == "1"
    # In local mode getFile answers with a path on the server's disk, which the bot reads.
    assert "telegram-bot-api:/var/lib/telegram-bot-api" in mounts(services["bot"])
    assert "telegram-bot-api:/var/lib/telegram-bot-api" in mounts(server)
    # The example .env says how to point the bot at it.
    example = (REPO_ROOT / ".env.example").read_text()
    assert "TELEGRAM_API_URL=http://telegram-bot-api:8081/bot" in example
    assert "TELEGRAM_FILE_URL=http://telegram-bot-api:8081/file/bot" in example
    assert "TELEGRAM_LOCAL_MODE=true" in example


def test_the_image_is_built_in_stages_and_runs_as_a_user_without_privileges():
    lines = [
        line.strip()
        for line in (REPO_ROOT / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    stages = [i for i, line in enumerate(lines) if line.upper().startswith("FROM ")]
    assert len(stages) >= 2
    final = lines[stages[-1] :]
    assert any(line.startswith("COPY --from=") for line in final)
    users = [line.split()[1] for line in final if line.upper().startswith("USER ")]
    assert users, "the final stage sets no USER"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert final[-1].startswith("CMD ")
    assert final.index(f"USER {users[-1]}") < len(final) - 1
