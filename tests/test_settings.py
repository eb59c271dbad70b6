import subprocess
import sys

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from webmail.settings import envbool, envint


def test_it_refuses_a_boolean_setting_that_is_neither_true_nor_false(monkeypatch):
    monkeypatch.setenv("POSTFACH_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="POSTFACH_FLAG must be true or false"):
        envbool("POSTFACH_FLAG", False)


def test_it_refuses_a_number_setting_that_is_not_a_number(monkeypatch):
    monkeypatch.setenv("POSTFACH_NUMBER", "ten")
    with pytest.raises(ImproperlyConfigured, match="POSTFACH_NUMBER must be a whole number"):
        envint("POSTFACH_NUMBER", 3)


def test_it_makes_its_own_keys_on_first_run_and_keeps_them(tmp_path):
    """No key is hard-coded: a fresh data directory gets a generated SECRET_KEY and
    MAIL_CREDENTIALS_KEY, and the next start reads the same ones back."""
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='webmail.settings';"
        "from django.conf import settings;"
        "print(settings.SECRET_KEY); print(settings.MAIL_CREDENTIALS_KEY); print(settings.DEBUG)"
    )
    env = {"DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    first = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=settings.BASE_DIR,
    ).stdout.split()
    second = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=settings.BASE_DIR,
    ).stdout.split()
    assert first == second
    assert len(first[0]) >= 50 and first[2] == "False"
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
