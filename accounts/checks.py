"""Start-up checks with stable ids, so a broken configuration is an error, not a surprise."""

from cryptography.fernet import Fernet
from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security)
def check_mail_credentials_key(app_configs, **kwargs):
    keys = [k.strip() for k in settings.MAIL_CREDENTIALS_KEY.split(",") if k.strip()]
    if not keys:
        return [checks.Error("MAIL_CREDENTIALS_KEY is empty.", id="postfach.E001")]
    errors = []
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            errors.append(
                checks.Error(
                    f"Key number {position} in MAIL_CREDENTIALS_KEY is not a Fernet key.",
                    hint="Make one with: python -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())'",
                    id="postfach.E002",
                )
            )
    return errors
