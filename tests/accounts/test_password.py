"""Local accounts change their password on the settings page and, having forgotten it,
choose a new one through a link sent by mail. Django's views do the work; these tests hold
what a user sees and what arrives in the mailbox. Users who sign in with their mail account
have no Postfach password: they are offered neither, and no reset mail goes to them."""

import email
import re
from email import policy

import pytest
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from tests.smtp_server import (  # noqa: F401  (fixtures)
    make_smtp_server_fixture,
    smtp_server_fixture,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("quick_password_hashes")]

LOGIN_URL = "/accounts/login/"
CHANGE_URL = "/accounts/password_change/"
RESET_URL = "/accounts/password_reset/"
RESET_LINK = re.compile(r"http://testserver(/accounts/reset/[\w-]+/[\w-]+/)")
NEW_PASSWORD = "Kastanienbaum-42"


@pytest.fixture
def carol(db) -> User:
    """Signs in with her mail account (ImapLoginBackend): no usable Postfach password."""
    return User.objects.create_user("carol", "carol@example.org", password=None)


def _signs_in(password: str, username: str = "alice") -> bool:
    response = Client().post(LOGIN_URL, {"username": username, "password": password})
    return response.status_code == 302 and response["Location"] == "/mail/"


def _sign_in(client) -> None:
    response = client.post(LOGIN_URL, {"username": "alice", "password": "alice-password-1"})
    assert response.status_code == 302


def _change(client, old: str, new: str, confirmation: str | None = None):
    return client.post(
        CHANGE_URL,
        {"old_password": old, "new_password1": new, "new_password2": confirmation or new},
        follow=True,
    )


def _reset_link(body: str) -> str:
    [link] = RESET_LINK.findall(body)
    return link


def _set_new_password(client, link: str, password: str):
    form = client.get(link, follow=True)
    assert "Choose a new password" in form.content.decode()
    set_password_url = form.redirect_chain[-1][0]
    return client.post(
        set_password_url, {"new_password1": password, "new_password2": password}, follow=True
    )


# Changing the password


def test_the_settings_page_offers_a_password_change(alice_client):
    page = alice_client.get("/settings/").content.decode()
    assert f'href="{CHANGE_URL}"' in page
    assert "Change your Postfach password" in page


def test_it_refuses_a_wrong_old_password(client, alice):
    _sign_in(client)
    response = _change(client, "not-my-password", NEW_PASSWORD)
    page = response.content.decode()
    assert response.redirect_chain == []
    assert "Your old password was entered incorrectly. Please enter it again." in page
    assert _signs_in("alice-password-1")
    assert not _signs_in(NEW_PASSWORD)


def test_it_changes_the_password_and_keeps_the_session(client, alice):
    _sign_in(client)
    response = _change(client, "alice-password-1", NEW_PASSWORD)
    assert response.redirect_chain == [("/accounts/password_change/done/", 302)]
    assert "Your password was changed." in response.content.decode()
    assert client.get("/settings/").status_code == 200  # still signed in here
    assert _signs_in(NEW_PASSWORD)
    assert not _signs_in("alice-password-1")


def test_the_password_rules_apply(alice_client):
    page = _change(alice_client, "alice-password-1", "kurz1").content.decode()
    assert "This password is too short. It must contain at least 8 characters." in page
    mismatch = _change(alice_client, "alice-password-1", NEW_PASSWORD, "Kastanienbaum-43")
    assert "The two password fields didn’t match." in mismatch.content.decode()
    assert _signs_in("alice-password-1")


def test_the_rules_are_listed_and_the_errors_speak_german(alice_client, alice):
    alice.language = "de"
    alice.save()
    page = alice_client.get(CHANGE_URL).content.decode()
    assert 'aria-describedby="id_new_password1_helptext"' in page
    assert 'id="id_new_password1_helptext"' in page
    assert "Passwort ändern" in page
    page = _change(alice_client, "alice-password-1", "kurz1").content.decode()
    assert "Dieses Passwort ist zu kurz. Es muss mindestens 8 Zeichen enthalten." in page


def test_a_user_who_signs_in_with_the_mail_account_is_offered_no_password_change(client, carol):
    client.force_login(carol)
    assert CHANGE_URL not in client.get("/settings/").content.decode()
    page = client.get(CHANGE_URL).content.decode()
    assert "Change it with your mail provider." in page
    assert 'name="old_password"' not in page


# Resetting it by mail


def test_the_sign_in_page_links_to_the_reset(client):
    page = client.get(LOGIN_URL).content.decode()
    assert f'<a href="{RESET_URL}">Forgot your password?</a>' in page


def test_a_reset_mail_leads_to_a_new_password(client, alice, mailoutbox):
    response = client.post(RESET_URL, {"email": "Alice@Example.org"}, follow=True)
    assert response.redirect_chain == [("/accounts/password_reset/done/", 302)]
    assert "a mail with a link to choose a new password is on its way" in (
        response.content.decode()
    )
    [mail] = mailoutbox
    assert mail.to == ["alice@example.org"]
    assert mail.subject == "A new Postfach password for testserver"
    assert "Your user name: alice" in mail.body
    link = _reset_link(mail.body)

    done = _set_new_password(client, link, NEW_PASSWORD)
    assert done.redirect_chain[-1] == ("/accounts/reset/done/", 302)
    assert "Your new password is set. Sign in with it." in done.content.decode()
    assert _signs_in(NEW_PASSWORD)
    assert not _signs_in("alice-password-1")

    # The link works once.
    again = client.get(link, follow=True).content.decode()
    assert "This link does not work" in again
    assert 'name="new_password1"' not in again


def test_a_new_password_does_not_skip_the_second_step(client, alice, mailoutbox):
    """The reset signs nobody in: with two-step sign-in on, the new password alone still
    reaches only the code step."""
    TOTPDevice.objects.create(user=alice, name="Authenticator app", confirmed=True)
    client.post(RESET_URL, {"email": "alice@example.org"})
    _set_new_password(client, _reset_link(mailoutbox[0].body), NEW_PASSWORD)
    assert client.get("/settings/")["Location"] == "/accounts/login/?next=/settings/"
    client.post(LOGIN_URL, {"username": "alice", "password": NEW_PASSWORD})
    assert client.get("/settings/")["Location"] == "/accounts/two-step/?next=/settings/"


def test_the_new_password_must_follow_the_rules(client, alice, mailoutbox):
    client.post(RESET_URL, {"email": "alice@example.org"})
    page = _set_new_password(client, _reset_link(mailoutbox[0].body), "12345678")
    assert "This password is entirely numeric." in page.content.decode()
    assert _signs_in("alice-password-1")


def test_a_bad_link_says_so_plainly(client, alice, mailoutbox):
    client.post(RESET_URL, {"email": "alice@example.org"})
    uid_part = _reset_link(mailoutbox[0].body).split("/")[3]
    response = client.get(f"/accounts/reset/{uid_part}/cx1xxx-0123456789abcdef0123456789abcdef/")
    page = response.content.decode()
    assert response.status_code == 200
    assert "This link does not work" in page
    assert "It was used already, is too old, or is incomplete." in page
    assert f'href="{RESET_URL}"' in page


def test_an_unknown_address_looks_the_same_and_gets_nothing(client, alice, mailoutbox):
    known = client.post(RESET_URL, {"email": "alice@example.org"}, follow=True)
    unknown = client.post(RESET_URL, {"email": "nobody@example.org"}, follow=True)
    assert unknown.redirect_chain == known.redirect_chain
    assert unknown.content == known.content
    assert [mail.to for mail in mailoutbox] == [["alice@example.org"]]


def test_a_user_who_signs_in_with_the_mail_account_gets_no_reset_mail(client, carol, mailoutbox):
    response = client.post(RESET_URL, {"email": "carol@example.org"}, follow=True)
    assert response.redirect_chain == [("/accounts/password_reset/done/", 302)]
    assert mailoutbox == []


def test_the_mail_speaks_the_language_of_the_page(client, alice, mailoutbox):
    client.post(RESET_URL, {"email": "alice@example.org"}, HTTP_ACCEPT_LANGUAGE="de")
    [mail] = mailoutbox
    assert mail.subject == "Ein neues Postfach-Passwort für testserver"
    assert "Ihr Benutzername: alice" in mail.body
    assert _reset_link(mail.body)


def test_the_reset_mail_goes_out_through_the_smtp_server(client, alice, settings, smtp_server):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = smtp_server.host
    settings.EMAIL_PORT = smtp_server.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.DEFAULT_FROM_EMAIL = "postfach@example.org"

    client.post(RESET_URL, {"email": "alice@example.org"})

    [received] = smtp_server.received
    assert (received.mail_from, received.rcpt_tos) == (
        "postfach@example.org",
        ["alice@example.org"],
    )
    sent = email.message_from_bytes(received.data, policy=policy.default)
    assert sent["Subject"] == "A new Postfach password for testserver"
    _set_new_password(client, _reset_link(sent.get_content()), NEW_PASSWORD)
    assert _signs_in(NEW_PASSWORD)
