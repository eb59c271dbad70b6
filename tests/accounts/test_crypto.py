import pytest
from cryptography.fernet import Fernet

from accounts.crypto import CredentialError, secret_decrypt
from accounts.models import MailAccount
from webmail.services.accounts import mail_credentials_rotate

pytestmark = pytest.mark.django_db


def _account(user, password="hunter2-secret"):
    account = MailAccount(
        user=user,
        email="alice@example.org",
        incoming_host="127.0.0.1",
        incoming_port=143,
        incoming_security="none",
        incoming_login="alice",
    )
    account.set_incoming_password(password)
    account.save()
    return account


def test_it_stores_the_password_encrypted_not_in_clear(alice):
    account = _account(alice)
    stored = MailAccount.objects.values_list("incoming_password_encrypted", flat=True).get()
    assert "hunter2-secret" not in stored
    assert MailAccount.objects.get(pk=account.pk).incoming_password() == "hunter2-secret"


def test_it_still_reads_old_passwords_after_a_new_key_is_put_first(alice, settings):
    old_key = settings.MAIL_CREDENTIALS_KEY
    account = _account(alice)
    new_key = Fernet.generate_key().decode()
    settings.MAIL_CREDENTIALS_KEY = f"{new_key},{old_key}"
    assert MailAccount.objects.get(pk=account.pk).incoming_password() == "hunter2-secret"


def test_it_rotates_every_password_to_the_new_key(alice, settings):
    old_key = settings.MAIL_CREDENTIALS_KEY
    account = _account(alice)
    new_key = Fernet.generate_key().decode()
    settings.MAIL_CREDENTIALS_KEY = f"{new_key},{old_key}"
    assert mail_credentials_rotate() == 1
    settings.MAIL_CREDENTIALS_KEY = new_key  # the old key is gone now
    assert MailAccount.objects.get(pk=account.pk).incoming_password() == "hunter2-secret"


def test_it_says_plainly_when_the_key_no_longer_fits(alice, settings):
    account = _account(alice)
    settings.MAIL_CREDENTIALS_KEY = Fernet.generate_key().decode()
    with pytest.raises(CredentialError) as excinfo:
        MailAccount.objects.get(pk=account.pk).incoming_password()
    assert "hunter2" not in str(excinfo.value)
    assert secret_decrypt  # the module's public decrypt is what the model uses
