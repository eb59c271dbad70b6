import pytest


@pytest.fixture
def quick_password_hashes(settings):
    """Sign-in tests hash a password at every attempt; the production hasher takes half a
    second each time, MD5 none (it is only ever used here)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
