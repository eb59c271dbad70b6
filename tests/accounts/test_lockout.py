"""Brute-force protection on the sign-in page (django-axes, accounts/lockout.py): five wrong
passwords for a name, or from an address, lock it for LOGIN_LOCKOUT_MINUTES; the page says
so plainly, in the reader's language; the lock-out is in the audit log; afterwards the
right password works again. Time passes by moving the recorded failures back, the one
clock axes reads (its attempt times), rather than by waiting."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.db.models import F

from accounts.models import AuditEvent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("quick_password_hashes")]

LOGIN_URL = "/accounts/login/"
WRONG_PASSWORD = "Wr0ng-Pa55word-7d1f"
LOCKED = "Too many failed sign-ins. Try again in 15 minutes."
LOCKED_DE = "Zu viele fehlgeschlagene Anmeldungen. Versuchen Sie es in 15 Minuten erneut."
WRONG = "Please enter a correct username and password."


def _sign_in(client, username, password, address="192.0.2.10", **extra):
    return client.post(
        LOGIN_URL, {"username": username, "password": password}, REMOTE_ADDR=address, **extra
    )


def _fail_five_times(client, username="alice", address="192.0.2.10"):
    for _ in range(5):
        response = _sign_in(client, username, WRONG_PASSWORD, address)
    return response


def _time_passes(minutes: int) -> None:
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=minutes))


def test_it_refuses_four_wrong_passwords_with_the_usual_message(client, alice):
    for _ in range(4):
        response = _sign_in(client, "alice", WRONG_PASSWORD)
        assert response.status_code == 200
        assert WRONG in response.content.decode()
    response = _sign_in(client, "alice", "alice-password-1")
    assert response.status_code == 302 and response["Location"] == "/mail/"


def test_it_locks_after_five_wrong_passwords(client, alice):
    response = _fail_five_times(client)
    assert response.status_code == 429
    page = response.content.decode()
    assert LOCKED in page
    assert WRONG_PASSWORD not in page
    assert AuditEvent.objects.filter(
        kind=AuditEvent.Kind.LOCKED_OUT, username="alice", remote_address="192.0.2.10"
    ).exists()


def test_it_refuses_the_right_password_while_locked(client, alice):
    _fail_five_times(client)
    response = _sign_in(client, "alice", "alice-password-1")
    assert response.status_code == 429
    assert LOCKED in response.content.decode()
    assert "_auth_user_id" not in client.session
    # The refusal itself is logged as a lock-out too.
    assert AuditEvent.objects.filter(kind=AuditEvent.Kind.LOCKED_OUT).count() == 2


def test_it_says_it_in_german(client, alice):
    _fail_five_times(client)
    response = _sign_in(client, "alice", "alice-password-1", HTTP_ACCEPT_LANGUAGE="de")
    assert LOCKED_DE in response.content.decode()


def test_it_names_the_minutes_that_are_left(client, alice):
    _fail_five_times(client)
    _time_passes(11)
    response = _sign_in(client, "alice", "alice-password-1")
    assert "Too many failed sign-ins. Try again in 4 minutes." in response.content.decode()


def test_it_locks_the_name_from_any_address(client, alice):
    _fail_five_times(client, address="192.0.2.10")
    response = _sign_in(client, "alice", "alice-password-1", address="198.51.100.7")
    assert response.status_code == 429


def test_it_locks_the_address_for_every_name(client, alice, bob):
    for name in ["alice", "bob", "carl", "dora", "emil"]:
        _sign_in(client, name, WRONG_PASSWORD, address="192.0.2.66")
    response = _sign_in(client, "bob", "bob-password-1", address="192.0.2.66")
    assert response.status_code == 429


def test_another_user_from_another_address_is_not_locked(client, alice, bob):
    _fail_five_times(client, "alice", "192.0.2.10")
    response = _sign_in(client, "bob", "bob-password-1", address="198.51.100.7")
    assert response.status_code == 302 and response["Location"] == "/mail/"


def test_it_counts_by_remote_address_not_by_forwarded_for(client, alice):
    for number in range(5):
        _sign_in(client, "alice", WRONG_PASSWORD, HTTP_X_FORWARDED_FOR=f"203.0.113.{number}")
    response = _sign_in(client, "alice", "alice-password-1", HTTP_X_FORWARDED_FOR="203.0.113.99")
    assert response.status_code == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"192.0.2.10"}


def test_after_the_lockout_the_right_password_works(client, alice):
    _fail_five_times(client)
    _time_passes(16)
    response = _sign_in(client, "alice", "alice-password-1")
    assert response.status_code == 302 and response["Location"] == "/mail/"


def test_a_shorter_lockout_setting_is_kept(client, alice, settings):
    settings.LOGIN_LOCKOUT_MINUTES = 2
    settings.LOGIN_FAILURE_LIMIT = 3
    for _ in range(3):
        response = _sign_in(client, "alice", WRONG_PASSWORD)
    assert "Too many failed sign-ins. Try again in 2 minutes." in response.content.decode()
    _time_passes(1)
    assert _sign_in(client, "alice", "alice-password-1").status_code == 429
    _time_passes(2)
    assert _sign_in(client, "alice", "alice-password-1").status_code == 302


def test_the_attempt_log_keeps_no_password(client, alice):
    _fail_five_times(client)
    stored = " ".join(AccessAttempt.objects.values_list("post_data", flat=True))
    assert WRONG_PASSWORD not in stored
