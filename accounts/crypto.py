"""Mail passwords at rest: Fernet tokens under MAIL_CREDENTIALS_KEY.

MAIL_CREDENTIALS_KEY holds one or more comma-separated keys. The first encrypts; every key
decrypts (MultiFernet), so a key is rotated by putting a new one first, re-encrypting
(`manage.py mailaccount rotate-key`) and then dropping the old one.
"""

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class CredentialError(Exception):
    """A stored password cannot be decrypted with the configured keys."""


@lru_cache(maxsize=4)
def _fernet(keys: str) -> MultiFernet:
    return MultiFernet([Fernet(key.strip().encode()) for key in keys.split(",") if key.strip()])


def _current() -> MultiFernet:
    return _fernet(settings.MAIL_CREDENTIALS_KEY)


def secret_encrypt(plaintext: str) -> str:
    return _current().encrypt(plaintext.encode()).decode()


def secret_decrypt(token: str) -> str:
    try:
        return _current().decrypt(token.encode()).decode()
    except InvalidToken:
        raise CredentialError(
            "a stored mail password cannot be decrypted: MAIL_CREDENTIALS_KEY has changed"
        ) from None


def secret_rotate(token: str) -> str:
    """The same secret, encrypted under the first (newest) key."""
    try:
        return _current().rotate(token.encode()).decode()
    except InvalidToken:
        raise CredentialError("a stored mail password cannot be decrypted") from None
