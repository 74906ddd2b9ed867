"""The documentation stays true to the code: every configuration variable is documented."""

import re

from services.settings import Settings
from tests.conftest import REPO_ROOT


def _documentation() -> str:
    """The README and the docs it links, where the reference material lives."""
    readme = (REPO_ROOT / "README.md").read_text()
    linked = re.findall(r"\]\((docs/[\w.-]+\.md)\)", readme)
    return "\n".join([readme, *((REPO_ROOT / path).read_text() for path in linked)])


def test_every_configuration_variable_is_documented():
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", _documentation()))
    missing = sorted(
        name.upper() for name in Settings.model_fields if name.upper() not in documented
    )
    assert not missing, f"README.md and docs/ do not document {', '.join(missing)}"


def test_every_linked_document_exists():
    readme = (REPO_ROOT / "README.md").read_text()
    for path in re.findall(r"\]\(([\w./-]+\.md)[#)]", readme):
        assert (REPO_ROOT / path).is_file(), f"README.md links {path}, which does not exist"


def test_the_readme_test_command_is_the_one_ci_runs():
    readme = (REPO_ROOT / "README.md").read_text()
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert ".venv/bin/python -m pytest" in readme
    assert ".venv/bin/python -m pytest" in ci
