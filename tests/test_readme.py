"""The README names every setting the code reads from the environment."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_environment_setting_is_in_the_readme():
    settings = (ROOT / "webmail" / "settings.py").read_text()
    names = set(re.findall(r'\benv(?:bool|int|list)?\(\s*"([A-Z][A-Z0-9_]+)"', settings))
    assert len(names) > 20  # the pattern still finds them
    readme = (ROOT / "README.md").read_text()
    table = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", readme))
    assert sorted(names - table) == []


def test_the_readme_pictures_exist():
    readme = (ROOT / "README.md").read_text()
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme)
    assert pictures
    assert [p for p in pictures if not (ROOT / p).is_file()] == []
