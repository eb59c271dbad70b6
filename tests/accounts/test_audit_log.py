"""The audit log (accounts.models.AuditEvent) as an admin reads it: sign-ins and failed
sign-ins with the address they came from, sign-outs, mail accounts added and removed;
in the admin it can be read, filtered and searched, never added to, changed or deleted."""

import pytest

from accounts.models import AuditEvent, User
from tests.personas import account_for
from webmail.services.accounts import mail_account_add, mail_account_delete

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("quick_password_hashes")]

LOGIN_URL = "/accounts/login/"
WRONG_PASSWORD = "Wr0ng-Pa55word-7d1f"


@pytest.fixture
def admin(db) -> User:
    return User.objects.create_superuser("root", "root@example.org", "root-password-1")


def _events():
    return list(
        AuditEvent.objects.order_by("id").values_list(
            "kind", "user__username", "username", "remote_address"
        )
    )


def test_it_records_sign_in_failure_and_sign_out_with_the_address(client, alice):
    client.post(
        LOGIN_URL, {"username": "alice", "password": WRONG_PASSWORD}, REMOTE_ADDR="192.0.2.5"
    )
    client.post(
        LOGIN_URL, {"username": "nobody", "password": WRONG_PASSWORD}, REMOTE_ADDR="2001:db8::7"
    )
    client.post(
        LOGIN_URL, {"username": "alice", "password": "alice-password-1"}, REMOTE_ADDR="192.0.2.5"
    )
    client.post("/accounts/logout/", REMOTE_ADDR="192.0.2.5")
    assert _events() == [
        ("sign_in_failed", None, "alice", "192.0.2.5"),
        ("sign_in_failed", None, "nobody", "2001:db8::7"),
        ("sign_in", "alice", "alice", "192.0.2.5"),
        ("sign_out", "alice", "alice", "192.0.2.5"),
    ]
    assert AuditEvent.objects.filter(detail__contains=WRONG_PASSWORD).count() == 0
    assert all(event.when is not None for event in AuditEvent.objects.all())


def test_it_records_accounts_added_and_removed(alice, dovecot, mail_user):
    account = mail_account_add(
        user=alice,
        email="alice@example.org",
        protocol="imap",
        host=dovecot.host,
        port=dovecot.imap_port,
        security="none",
        login=mail_user.name,
        password=mail_user.password,
    )
    mail_account_delete(account=account)
    detail = f"alice@example.org (IMAP, {dovecot.host})"
    assert list(AuditEvent.objects.order_by("id").values_list("kind", "user", "detail")) == [
        ("account_added", alice.pk, detail),
        ("account_removed", alice.pk, detail),
    ]


def test_an_event_outlives_its_user(alice, dovecot, mail_user):
    mail_account_delete(account=account_for(alice, dovecot, mail_user))
    alice.delete()
    event = AuditEvent.objects.get()
    assert (event.user, event.username) == (None, "alice")


def test_admins_read_filter_and_search_it(client, admin, alice):
    client.post(
        LOGIN_URL, {"username": "alice", "password": WRONG_PASSWORD}, REMOTE_ADDR="192.0.2.5"
    )
    client.force_login(admin)
    page = client.get("/admin/accounts/auditevent/").content.decode()
    assert "sign-in failed" in page and "192.0.2.5" in page

    def found(query: str) -> int:
        return client.get(f"/admin/accounts/auditevent/?{query}").context["cl"].result_count

    assert found("kind=sign_in_failed") == 1
    assert found("kind=sign_out") == 0
    assert found("q=192.0.2.5") == 1
    assert found("q=alice") == 1


def test_nobody_adds_changes_or_deletes_it_in_the_admin(client, admin, alice):
    client.post(LOGIN_URL, {"username": "alice", "password": WRONG_PASSWORD})
    event = AuditEvent.objects.get()
    client.force_login(admin)
    assert client.get("/admin/accounts/auditevent/add/").status_code == 403
    assert (
        client.post(
            f"/admin/accounts/auditevent/{event.pk}/change/", {"detail": "edited"}
        ).status_code
        == 403
    )
    assert (
        client.post(f"/admin/accounts/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert client.get(f"/admin/accounts/auditevent/{event.pk}/change/").status_code == 200
    event.refresh_from_db()
    assert event.detail == ""
    assert AuditEvent.objects.filter(pk=event.pk).exists()
