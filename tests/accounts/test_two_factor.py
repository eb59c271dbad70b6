"""Two-step sign-in (accounts/two_factor.py): a local user turns it on in the settings with
a current code from an authenticator app and gets backup codes once; from then on the
password alone reaches no page but the code step; a wrong code is refused, logged and
counted with the failed sign-ins; each backup code works once; turning it off asks for the
password. Codes are computed from the device's key with django_otp.oath.totp, as the app
does; time passes by moving the recorded failures back, never by waiting."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.db.models import F
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import AuditEvent, User
from accounts.two_factor import backup_codes_make

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("quick_password_hashes")]

LOGIN_URL = "/accounts/login/"
CODE_URL = "/accounts/two-step/"
PASSWORD = "alice-password-1"
WRONG_CODE_MESSAGE = "That code is not right."


@pytest.fixture
def alice_app(alice) -> TOTPDevice:
    """alice has turned two-step sign-in on: her app, and her backup codes."""
    device = TOTPDevice.objects.create(user=alice, name="Authenticator app", confirmed=True)
    backup_codes_make(user=alice)
    return device


@pytest.fixture
def root(db) -> User:
    return User.objects.create_superuser("root", "root@example.org", "root-password-1")


def _code(device: TOTPDevice, steps_ahead: int = 0) -> str:
    """The code the app shows now (or `steps_ahead` 30-second steps later)."""
    device.refresh_from_db()
    value = totp(device.bin_key, device.step, device.t0, device.digits, device.drift + steps_ahead)
    return f"{value:0{device.digits}d}"


def _wrong_code(device: TOTPDevice) -> str:
    right = {_code(device, steps) for steps in (-1, 0, 1)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in right)


def _sign_in(client, username="alice", password=PASSWORD, next_url=""):
    url = f"{LOGIN_URL}?next={next_url}" if next_url else LOGIN_URL
    data = {"username": username, "password": password}
    if next_url:
        data["next"] = next_url
    return client.post(url, data)


def _enter(client, code, next_url=""):
    return client.post(CODE_URL, {"code": code, "next": next_url})


def _time_passes() -> None:
    """An hour later: every throttle of django-otp has run out."""
    for model in (TOTPDevice, StaticDevice):
        model.objects.exclude(throttling_failure_timestamp=None).update(
            throttling_failure_timestamp=F("throttling_failure_timestamp") - timedelta(hours=1)
        )


def _audit(kind) -> list[tuple[str, str]]:
    return list(AuditEvent.objects.filter(kind=kind).values_list("username", "detail"))


# Turning it on


def test_it_turns_on_only_with_a_current_code_and_shows_the_backup_codes_once(alice_client, alice):
    page = alice_client.get("/settings/two-step/").content.decode()
    assert "Turn on two-step sign-in" in page
    assert "/settings/two-step/" in alice_client.get("/settings/").content.decode()

    response = alice_client.post("/settings/two-step/start/")
    assert response.status_code == 302 and response["Location"] == "/settings/two-step/setup/"
    device = TOTPDevice.objects.get(user=alice)
    assert not device.confirmed

    page = alice_client.get("/settings/two-step/setup/").content.decode()
    assert 'src="data:image/svg+xml' in page
    secret = page.split('<code class="totp-secret">')[1].split("</code>")[0]
    assert len(secret.replace(" ", "")) == 32  # 20 random bytes in base32

    response = alice_client.post("/settings/two-step/setup/", {"code": _wrong_code(device)})
    assert response.status_code == 200
    assert WRONG_CODE_MESSAGE in response.content.decode()
    device.refresh_from_db()
    assert not device.confirmed
    assert not StaticDevice.objects.filter(user=alice).exists()

    _time_passes()
    response = alice_client.post("/settings/two-step/setup/", {"code": _code(device)})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    page = response.content.decode()
    assert "Two-step sign-in is on." in page
    codes = set(StaticToken.objects.filter(device__user=alice).values_list("token", flat=True))
    assert len(codes) == 10
    assert all(f"<code>{code}</code>" in page for code in codes)
    device.refresh_from_db()
    assert device.confirmed
    assert _audit(AuditEvent.Kind.TWO_FACTOR_ON) == [("alice", "")]

    # This session gave the code: it goes on; the codes are never shown again.
    page = alice_client.get("/settings/two-step/").content.decode()
    assert "You have 10 unused backup codes." in page
    assert not any(code in page for code in codes)


def test_the_setup_page_without_a_started_device_goes_back_to_the_settings(alice_client):
    response = alice_client.get("/settings/two-step/setup/")
    assert response.status_code == 302 and response["Location"] == "/settings/two-step/"


def test_a_user_of_the_mail_account_sign_in_is_not_offered_it(client):
    provider_user = User.objects.create_user("carol@example.org")  # no usable password
    client.force_login(provider_user)

    page = client.get("/settings/two-step/").content.decode()
    assert "your mail provider checks who you are" in page
    assert "Turn on two-step sign-in" not in page
    client.post("/settings/two-step/start/")
    assert not TOTPDevice.objects.exists()


# Signing in


def test_a_user_without_a_device_signs_in_with_the_password_alone(client, alice):
    response = _sign_in(client, next_url="/settings/")
    assert response["Location"] == "/settings/"
    assert client.get("/settings/").status_code == 200


def test_with_a_device_the_password_leads_to_the_code_step_only(client, alice_app, root):
    TOTPDevice.objects.create(user=root, name="Authenticator app", confirmed=True)
    response = _sign_in(client, "root", "root-password-1", next_url="/settings/")
    assert response["Location"] == "/settings/"

    for page in ("/settings/", "/mail/", "/mail/all/", "/settings/two-step/", "/admin/"):
        response = client.get(page)
        assert response.status_code == 302, page
        assert response["Location"] == f"{CODE_URL}?next={page}", page
    assert (
        client.post("/settings/two-step/off/", {"off-password": "root-password-1"})["Location"]
        == CODE_URL
    )
    assert TOTPDevice.objects.filter(user=root).exists()

    page = client.get(f"{CODE_URL}?next=/admin/").content.decode()
    assert "Enter the 6-digit code from your app" in page
    assert 'name="next" value="/admin/"' in page


def test_the_code_opens_the_mail_pages(client, alice_app, alice_account):
    mail_page = f"/mail/{alice_account.pk}/"
    _sign_in(client, next_url=mail_page)
    response = client.get(mail_page)
    assert response["Location"] == f"{CODE_URL}?next={mail_page}"

    response = _enter(client, _code(alice_app), next_url=mail_page)
    assert response.status_code == 302 and response["Location"] == mail_page
    page = client.get(mail_page)
    assert page.status_code == 200
    assert "<h1>Inbox</h1>" in page.content.decode()
    assert _audit(AuditEvent.Kind.TWO_FACTOR_PASSED) == [("alice", "authenticator app")]


def test_the_code_step_never_leads_to_another_site(client, alice_app):
    _sign_in(client)
    response = _enter(client, _code(alice_app), next_url="https://evil.example/")
    assert response["Location"] == "/mail/"


def test_a_code_is_taken_with_spaces(client, alice_app):
    _sign_in(client)
    code = _code(alice_app)
    assert _enter(client, f"{code[:3]} {code[3:]}")["Location"] == "/mail/"


def test_sign_out_and_the_language_work_before_the_code(client, alice_app):
    _sign_in(client)
    assert client.post("/i18n/setlang/", {"language": "de"}).status_code == 302
    page = client.get(CODE_URL).content.decode()
    assert "Geben Sie den 6-stelligen Code aus Ihrer App ein." in page
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


def test_a_wrong_code_is_refused_logged_and_counted(client, alice_app):
    _sign_in(client)
    response = _enter(client, _wrong_code(alice_app))

    assert response.status_code == 200
    assert WRONG_CODE_MESSAGE in response.content.decode()
    assert client.get("/settings/").status_code == 302
    alice_app.refresh_from_db()
    assert alice_app.throttling_failure_count == 1
    assert _audit(AuditEvent.Kind.TWO_FACTOR_FAILED) == [("alice", "")]
    assert AccessAttempt.objects.get(username="alice").failures_since_start == 1


def test_right_after_a_wrong_code_the_app_must_wait(client, alice_app):
    _sign_in(client)
    _enter(client, _wrong_code(alice_app))

    response = _enter(client, _code(alice_app))
    assert "Too many wrong codes. Try again in 1 second." in response.content.decode()
    assert client.get("/settings/").status_code == 302
    # A try the throttle turned away unchecked is no guess: counted once only.
    assert AccessAttempt.objects.get(username="alice").failures_since_start == 1

    _time_passes()
    assert _enter(client, _code(alice_app))["Location"] == "/mail/"


def test_wrong_codes_lock_the_name_out_like_wrong_passwords(client, alice_app):
    _sign_in(client)
    for _ in range(4):
        assert _enter(client, _wrong_code(alice_app)).status_code == 200
        _time_passes()
    response = _enter(client, _wrong_code(alice_app))

    assert response.status_code == 429
    assert "Too many failed sign-ins. Try again in 15 minutes." in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.LOCKED_OUT, username="alice").exists()
    # The right password is refused too while the lock-out lasts.
    assert _sign_in(client).status_code == 429


def test_a_backup_code_works_once(client, alice, alice_app):
    code = StaticToken.objects.filter(device__user=alice).first().token

    _sign_in(client)
    response = _enter(client, code.upper())
    assert response["Location"] == "/mail/"
    page = client.get("/settings/", follow=True).content.decode()
    assert "9 backup codes are left." in page
    assert _audit(AuditEvent.Kind.TWO_FACTOR_PASSED) == [("alice", "backup code, 9 left")]

    client.post("/accounts/logout/")
    _sign_in(client)
    response = _enter(client, code)
    assert response.status_code == 200
    assert WRONG_CODE_MESSAGE in response.content.decode()
    assert client.get("/settings/").status_code == 302


# Settings while on


def _signed_in_with_code(client, device, username="alice", password=PASSWORD):
    _sign_in(client, username, password)
    assert _enter(client, _code(device))["Location"] == "/mail/"


def test_new_backup_codes_replace_the_old_ones(client, alice, alice_app):
    old = set(StaticToken.objects.filter(device__user=alice).values_list("token", flat=True))
    _signed_in_with_code(client, alice_app)

    response = client.post("/settings/two-step/backup-codes/", {"codes-password": "nope"})
    assert "That is not your password." in response.content.decode()
    response = client.post("/settings/two-step/backup-codes/", {"codes-password": PASSWORD})
    new = set(StaticToken.objects.filter(device__user=alice).values_list("token", flat=True))
    assert len(new) == 10 and not new & old
    assert all(f"<code>{code}</code>" in response.content.decode() for code in new)


def test_turning_it_off_asks_for_the_password(client, alice, alice_app):
    _signed_in_with_code(client, alice_app)

    response = client.post("/settings/two-step/off/", {"off-password": "not-my-password"})
    assert response.status_code == 200
    assert "That is not your password." in response.content.decode()
    assert TOTPDevice.objects.filter(user=alice).exists()

    response = client.post("/settings/two-step/off/", {"off-password": PASSWORD}, follow=True)
    assert "Two-step sign-in is off." in response.content.decode()
    assert not TOTPDevice.objects.filter(user=alice).exists()
    assert not StaticDevice.objects.filter(user=alice).exists()
    assert _audit(AuditEvent.Kind.TWO_FACTOR_OFF) == [("alice", "")]

    client.post("/accounts/logout/")
    _sign_in(client)
    assert client.get("/settings/").status_code == 200


# The admin


def test_a_superuser_removes_a_users_app_without_seeing_its_secret(client, root, alice_app):
    client.force_login(root)
    listing = client.get("/admin/otp_totp/totpdevice/")
    assert listing.status_code == 200
    assert "alice" in listing.content.decode()
    change = client.get(f"/admin/otp_totp/totpdevice/{alice_app.pk}/change/").content.decode()
    static = client.get("/admin/otp_static/staticdevice/").content.decode()
    for page in (listing.content.decode(), change, static):
        assert alice_app.key not in page
        assert "qrcode" not in page
        for token in StaticToken.objects.values_list("token", flat=True):
            assert token not in page
    assert client.get(f"/admin/otp_totp/totpdevice/{alice_app.pk}/config/").status_code == 403

    response = client.post(
        "/admin/otp_totp/totpdevice/",
        {"action": "delete_selected", "_selected_action": [alice_app.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert not TOTPDevice.objects.exists()

    client.post("/accounts/logout/")
    _sign_in(client)
    assert client.get("/settings/").status_code == 200
