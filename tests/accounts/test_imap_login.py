"""Sign in with your mail account (accounts.backends.ImapLoginBackend) against the real
Dovecot: the first sign-in makes the Postfach user and its IMAP account and opens the mail
page; a wrong password reads as any wrong password; later sign-ins reuse the user and keep
its stored mail password current; a local user of the same name is never taken over.

The test Dovecot runs plain IMAP on 127.0.0.1 (security "none") and drops the domain of a
login (username_format=%n), so "name@example.org" reaches the mailbox "name"."""

import logging

import pytest

from accounts.backends import ImapLoginBackend
from accounts.models import AuditEvent, MailAccount, User

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("quick_password_hashes")]

LOGIN_URL = "/accounts/login/"
WRONG_PASSWORD = "Wr0ng-Pa55word-7d1f"
WRONG = "Please enter a correct username and password."


@pytest.fixture(autouse=True)
def imap_login(settings, dovecot):
    settings.IMAP_LOGIN_HOST = dovecot.host
    settings.IMAP_LOGIN_PORT = dovecot.imap_port
    settings.IMAP_LOGIN_SECURITY = "none"
    settings.IMAP_LOGIN_DOMAIN = "example.org"
    settings.AUTHENTICATION_BACKENDS = [
        "axes.backends.AxesStandaloneBackend",
        "django.contrib.auth.backends.ModelBackend",
        "accounts.backends.ImapLoginBackend",
    ]


def _sign_in(client, username, password, **extra):
    return client.post(LOGIN_URL, {"username": username, "password": password}, **extra)


def test_it_makes_the_user_and_its_account_at_the_first_sign_in(client, mail_user):
    response = _sign_in(client, mail_user.name, mail_user.password)
    assert response.status_code == 302 and response["Location"] == "/mail/"

    address = f"{mail_user.name}@example.org"
    user = User.objects.get()
    assert (user.username, user.email, user.has_usable_password()) == (address, address, False)
    account = MailAccount.objects.get(user=user)
    assert (account.protocol, account.email, account.incoming_login) == ("imap", address, address)
    assert (account.incoming_port, account.incoming_security) == (
        mail_user.dovecot.imap_port,
        "none",
    )
    assert account.incoming_password() == mail_user.password
    assert mail_user.password not in account.incoming_password_encrypted

    page = client.get("/mail/", follow=True)
    assert page.status_code == 200
    assert address in page.content.decode()
    kinds = list(AuditEvent.objects.order_by("id").values_list("kind", "detail"))
    assert kinds == [
        ("account_added", f"{address} (IMAP, {mail_user.dovecot.host}) at sign-in"),
        ("sign_in", "ImapLoginBackend"),
    ]


def test_it_refuses_a_wrong_password_with_the_usual_message(client, mail_user):
    response = _sign_in(client, mail_user.name, WRONG_PASSWORD)
    assert response.status_code == 200
    page = response.content.decode()
    assert WRONG in page
    assert WRONG_PASSWORD not in page
    assert not User.objects.exists()
    assert AuditEvent.objects.get().kind == "sign_in_failed"


def test_the_second_sign_in_reuses_the_user(client, mail_user):
    _sign_in(client, mail_user.name, mail_user.password)
    client.post("/accounts/logout/")
    response = _sign_in(client, f" {mail_user.name.upper()}@Example.org", mail_user.password)
    assert response.status_code == 302
    assert User.objects.count() == 1
    assert MailAccount.objects.count() == 1
    assert client.session["_auth_user_id"] == str(User.objects.get().pk)


def test_a_changed_mail_password_replaces_the_stored_one(client, mail_user):
    _sign_in(client, mail_user.name, mail_user.password)
    client.post("/accounts/logout/")
    account = MailAccount.objects.get()
    account.set_incoming_password("the-password-before-it-changed")
    account.save()

    _sign_in(client, mail_user.name, mail_user.password)
    account.refresh_from_db()
    assert account.incoming_password() == mail_user.password


def test_a_local_user_of_the_same_name_is_not_taken_over(client, mail_user):
    address = f"{mail_user.name}@example.org"
    local = User.objects.create_user(address, address, "local-password-1")

    response = _sign_in(client, address, mail_user.password)
    assert response.status_code == 200
    assert WRONG in response.content.decode()
    assert not MailAccount.objects.exists()
    local.refresh_from_db()
    assert local.check_password("local-password-1")

    response = _sign_in(client, address, "local-password-1")
    assert response.status_code == 302 and response["Location"] == "/mail/"


def test_the_account_gets_the_configured_outgoing_server(client, mail_user, settings):
    settings.IMAP_LOGIN_SMTP_HOST = "smtp.example.org"
    settings.IMAP_LOGIN_SMTP_SECURITY = "tls"
    _sign_in(client, mail_user.name, mail_user.password)
    account = MailAccount.objects.get()
    assert (account.smtp_host, account.smtp_port, account.smtp_security) == (
        "smtp.example.org",
        465,
        "tls",
    )
    assert account.smtp_credentials() == (account.incoming_login, mail_user.password)


def test_a_bare_name_without_a_login_domain_is_not_asked(client, mail_user, settings):
    """Without IMAP_LOGIN_DOMAIN a bare name cannot become a mail address."""
    settings.IMAP_LOGIN_DOMAIN = ""
    response = _sign_in(client, mail_user.name, mail_user.password)
    assert response.status_code == 200
    assert not User.objects.exists()
    response = _sign_in(client, f"{mail_user.name}@example.org", mail_user.password)
    assert response.status_code == 302


def test_a_disabled_user_cannot_sign_in_with_the_mail_password(client, mail_user):
    _sign_in(client, mail_user.name, mail_user.password)
    client.post("/accounts/logout/")
    User.objects.update(is_active=False)
    response = _sign_in(client, mail_user.name, mail_user.password)
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_without_imap_login_host_the_mail_password_is_not_asked(client, mail_user, settings):
    settings.IMAP_LOGIN_HOST = ""
    response = _sign_in(client, mail_user.name, mail_user.password)
    assert response.status_code == 200
    assert not User.objects.exists()


def test_a_mail_server_that_is_down_refuses_quietly(client, mail_user, settings, caplog):
    settings.IMAP_LOGIN_PORT = 9  # nothing listens on discard
    with caplog.at_level(logging.DEBUG):
        response = _sign_in(client, mail_user.name, mail_user.password)
    assert response.status_code == 200
    assert WRONG in response.content.decode()
    assert "sign-in server" in caplog.text


def test_the_password_reaches_no_log(client, mail_user, caplog):
    with caplog.at_level(logging.DEBUG):
        _sign_in(client, mail_user.name, mail_user.password)
        client.post("/accounts/logout/")
        _sign_in(client, mail_user.name, WRONG_PASSWORD)
    assert mail_user.password not in caplog.text
    assert WRONG_PASSWORD not in caplog.text


def test_it_follows_modelbackends_contract(mail_user, rf):
    backend = ImapLoginBackend()
    request = rf.post(LOGIN_URL)
    assert backend.authenticate(request, username=mail_user.name, password=WRONG_PASSWORD) is None
    assert backend.authenticate(request, username=mail_user.name, password="") is None
    assert backend.authenticate(request) is None
    user = backend.authenticate(request, username=mail_user.name, password=mail_user.password)
    assert backend.get_user(user.pk) == user
