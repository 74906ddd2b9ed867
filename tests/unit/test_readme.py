"""The README stays true to the code: every configuration variable is documented there."""

import re

from services.settings import Settings
from tests.conftest import REPO_ROOT


def test_every_configuration_variable_is_in_the_readme_table():
    readme = (REPO_ROOT / "README.md").read_text()
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", readme))
    missing = sorted(
        name.upper() for name in Settings.model_fields if name.upper() not in documented
    )
    assert not missing, f"README.md does not document {', '.join(missing)}"


def test_the_readme_test_command_is_the_one_ci_runs():
    readme = (REPO_ROOT / "README.md").read_text()
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert ".venv/bin/python -m pytest" in readme
    assert ".venv/bin/python -m pytest" in ci
