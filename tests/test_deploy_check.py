"""`python manage.py check --deploy` is clean with production settings (issue 6,
"Hardening"): run as an operator would, in a fresh process with only the environment the
README's table describes."""

import secrets
import subprocess
import sys

from django.conf import settings

PRODUCTION = {
    "DEBUG": "false",
    "ALLOWED_HOSTS": "mail.example.org",
    "CSRF_TRUSTED_ORIGINS": "https://mail.example.org",
    "SECURE_COOKIES": "true",
    "SSL_REDIRECT": "true",
    "BEHIND_PROXY": "true",
    "HSTS_SECONDS": "31536000",
    "HSTS_INCLUDE_SUBDOMAINS": "true",
    "HSTS_PRELOAD": "true",
}


def _check_deploy(tmp_path, **overrides: str) -> subprocess.CompletedProcess:
    env = {
        "PATH": "/usr/bin:/bin",
        "DATA_DIR": str(tmp_path),
        "SECRET_KEY": secrets.token_urlsafe(64),
        **PRODUCTION,
        **overrides,
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env={key: value for key, value in env.items() if value is not None},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = _check_deploy(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_check_deploy_speaks_up_when_https_settings_are_missing(tmp_path):
    """The check is not silenced: without the HTTPS settings it warns, and the README's
    settings are the ones that quiet it."""
    result = _check_deploy(
        tmp_path,
        SECURE_COOKIES="false",
        HSTS_SECONDS="0",
        HSTS_INCLUDE_SUBDOMAINS="false",
        HSTS_PRELOAD="false",
        SSL_REDIRECT="false",
    )
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stderr + result.stdout


def test_sub_domains_and_preload_are_left_to_the_operator(tmp_path):
    result = _check_deploy(tmp_path, HSTS_INCLUDE_SUBDOMAINS=None, HSTS_PRELOAD=None)
    output = result.stderr + result.stdout
    assert "security.W005" in output and "security.W021" in output
