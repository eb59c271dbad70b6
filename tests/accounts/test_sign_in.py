"""The sign-in page's promises beyond the password: `next=` leads only to our own pages,
and "Sign out everywhere" on the settings page ends every session of the user."""

import pytest

from accounts.models import AuditEvent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("quick_password_hashes")]

LOGIN_URL = "/accounts/login/"


def _sign_in(client, next_url):
    return client.post(
        f"{LOGIN_URL}?next={next_url}",
        {"username": "alice", "password": "alice-password-1", "next": next_url},
    )


@pytest.mark.parametrize(
    "next_url",
    ["https://evil.example/", "//evil.example/", "https:/evil.example/", "/\\evil.example/"],
)
def test_it_never_leads_to_another_site(client, alice, next_url):
    response = _sign_in(client, next_url)
    assert response.status_code == 302
    assert response["Location"] == "/mail/"


def test_it_leads_to_our_own_page(client, alice):
    response = _sign_in(client, "/settings/")
    assert response["Location"] == "/settings/"


def test_the_settings_page_offers_sign_out_everywhere(client, alice):
    client.force_login(alice)
    page = client.get("/settings/").content.decode()
    assert 'action="/settings/sign-out-everywhere/"' in page
    assert "Sign out everywhere" in page


def test_sign_out_everywhere_ends_the_other_devices_sessions(client, alice, bob):
    laptop, phone = client, client.__class__()
    bobs = client.__class__()
    for device in (laptop, phone):
        assert (
            device.post(
                LOGIN_URL, {"username": "alice", "password": "alice-password-1"}
            ).status_code
            == 302
        )
    bobs.force_login(bob)
    assert phone.get("/settings/").status_code == 200

    response = laptop.post("/settings/sign-out-everywhere/", follow=True)
    assert response.redirect_chain[-1][0] == LOGIN_URL
    assert "You were signed out on every device." in response.content.decode()

    assert phone.get("/settings/")["Location"] == "/accounts/login/?next=/settings/"
    assert laptop.get("/settings/")["Location"] == "/accounts/login/?next=/settings/"
    assert bobs.get("/settings/").status_code == 200  # someone else's session stays
    event = AuditEvent.objects.get(kind=AuditEvent.Kind.SIGN_OUT_EVERYWHERE)
    assert (event.user, event.detail) == (alice, "2 sessions ended")


def test_sign_out_everywhere_is_a_post(client, alice):
    client.force_login(alice)
    assert client.get("/settings/sign-out-everywhere/").status_code == 405
    assert client.get("/settings/").status_code == 200
