"""The compose file is accepted by Docker Compose's own parser."""

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT


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


def config(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*compose_command(), "config", "--quiet"],
        cwd=directory,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "TELEGRAM_BOT_TOKEN": "0:test"},
    )


def test_docker_compose_config_accepts_the_compose_file():
    result = config(REPO_ROOT)
    assert result.returncode == 0, result.stderr


def test_docker_compose_config_rejects_a_broken_copy(tmp_path):
    # The check above can fail: a service depending on one that does not exist is refused.
    broken = (
        (REPO_ROOT / "docker-compose.yml")
        .read_text()
        .replace("condition: service_healthy", "condition: service_happy")
    )
    (tmp_path / "docker-compose.yml").write_text(broken)
    assert config(tmp_path).returncode != 0
