"""The admin's user screens (issue 6, "Admin"): an admin creates a user with a password
the validators accept, disables one (signed out everywhere, its accounts leave the
schedulers), deletes one with its mail after a confirmation that counts what goes (the
local mail's blobs too, unless another account stores the same bytes), resets a
password, sets language, time zone and staff flags. Every change is in the audit log."""

import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session

from accounts.models import AuditEvent, MailAccount, User
from tests.admin_forms import admin_messages, form_data, page, page_text
from tests.dovecot import new_mail_user
from tests.personas import account_for, account_offline, pop3_account_for
from tests.pop3_helpers import message
from webmail.models import IndexedMessage, StoredMessage
from webmail.services.local_store import blob_store
from webmail.services.pop3_fetch import pop3_accounts_due, pop3_fetch
from webmail.services.sync import account_sync, accounts_due

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path  # blobs of this test only


def sessions_of(user) -> int:
    return sum(
        1 for s in Session.objects.all() if str(s.get_decoded().get(SESSION_KEY)) == str(user.pk)
    )


def admin_actions() -> list[str]:
    rows = AuditEvent.objects.filter(kind=AuditEvent.Kind.ADMIN_ACTION).order_by("id")
    return [f"{row.username}: {row.detail}" for row in rows]


# -- create ----------------------------------------------------------------------------------


def test_it_creates_a_user_whose_password_passes_the_validators(admin_client):
    data = form_data(admin_client.get("/admin/accounts/user/add/"))
    data.update(username="carol", email="carol@example.org", password1="carol", password2="carol")
    data["usable_password"] = "true"

    refused = page_text(admin_client.post("/admin/accounts/user/add/", data))
    assert "This password is too short. It must contain at least 8 characters." in refused
    assert not User.objects.filter(username="carol").exists()

    data.update(password1="Wendeltreppe-42", password2="Wendeltreppe-42", language="de")
    response = admin_client.post("/admin/accounts/user/add/", data)
    assert response.status_code == 302
    carol = User.objects.get(username="carol")
    assert carol.check_password("Wendeltreppe-42") and carol.is_active
    assert (carol.email, carol.language) == ("carol@example.org", "de")
    assert admin_actions() == ["admin: user: Added “carol”."]


# -- disable ---------------------------------------------------------------------------------


def test_unticking_active_signs_the_user_out_everywhere_and_stops_its_syncs(
    admin_client, alice, alice_client
):
    imap = account_offline(alice, "alice@example.org")
    assert sessions_of(alice) == 1 and imap.pk in accounts_due()
    url = f"/admin/accounts/user/{alice.pk}/change/"
    data = form_data(admin_client.get(url))
    del data["is_active"]

    response = admin_client.post(url, data)

    assert response.status_code == 302
    alice.refresh_from_db()
    assert not alice.is_active
    assert sessions_of(alice) == 0
    assert alice_client.get("/settings/accounts/").status_code == 302  # to the sign-in page
    assert imap.pk not in accounts_due()
    assert "admin: user: Changed “alice” — Changed Active." in admin_actions()
    assert AuditEvent.objects.filter(
        kind=AuditEvent.Kind.SIGN_OUT_EVERYWHERE, user=alice, detail="1 sessions ended"
    ).exists()


def test_the_disable_action_stops_the_chosen_users_but_never_the_admin_itself(
    admin_client, admin_user, alice, alice_client, bob, dovecot, mail_user
):
    pop3 = pop3_account_for(alice, dovecot, mail_user)
    bobs = account_offline(bob, "bob@example.org")
    assert pop3.pk in pop3_accounts_due()

    response = admin_client.post(
        "/admin/accounts/user/",
        {"action": "users_disable", "_selected_action": [alice.pk, admin_user.pk]},
        follow=True,
    )

    assert admin_messages(response) == [
        "You cannot disable yourself.",
        "1 user was disabled and signed out everywhere; their accounts no longer sync.",
    ]
    assert not User.objects.get(pk=alice.pk).is_active
    assert User.objects.get(pk=admin_user.pk).is_active
    assert sessions_of(alice) == 0 and pop3.pk not in pop3_accounts_due()
    assert bobs.pk in accounts_due()
    assert admin_actions() == ["admin: user disabled: alice (1 sessions ended)"]

    response = admin_client.post(
        "/admin/accounts/user/",
        {"action": "users_enable", "_selected_action": [alice.pk]},
        follow=True,
    )
    assert admin_messages(response) == ["1 user was enabled."]
    assert pop3.pk in pop3_accounts_due()
    assert admin_actions()[-1] == "admin: user enabled: alice"


# -- delete ----------------------------------------------------------------------------------


@pytest.fixture
def alice_with_mail(alice, bob, dovecot, mail_user, seeded_mailbox):
    """alice: a POP3 account that stored two messages here (one of them, byte for byte,
    also stored by bob's account) and an IMAP account with its index synced."""
    shared = message("Rundschreiben")
    own = message("Nur für Alice")
    mail_user.append("INBOX", shared)
    mail_user.append("INBOX", own)
    pop3 = pop3_account_for(alice, dovecot, mail_user)
    assert pop3_fetch(account=pop3).new == 2
    imap = account_for(alice, dovecot, seeded_mailbox)
    assert account_sync(imap).complete

    bobs_mailbox = new_mail_user(dovecot)
    bobs_mailbox.append("INBOX", shared)
    bobs = pop3_account_for(bob, dovecot, bobs_mailbox)
    assert pop3_fetch(account=bobs).new == 1
    return pop3, imap, bobs, shared, own


def test_deleting_a_user_says_first_what_goes(admin_client, alice, alice_with_mail):
    pop3, imap, _bobs, shared, own = alice_with_mail
    indexed = IndexedMessage.objects.filter(folder__account__user=alice).count()
    assert indexed > 2

    text = page_text(admin_client.get(f"/admin/accounts/user/{alice.pk}/delete/"))

    size = f"{len(shared) + len(own)}\xa0bytes"
    assert f"Mail account: {pop3.email} (POP3, 127.0.0.1)" in text
    assert f"Mail account: {imap.email} (IMAP, 127.0.0.1)" in text
    assert f"2 messages stored here ({size}): for POP3 accounts possibly the only copy" in text
    assert f"{indexed:,} messages in the index (mail on IMAP servers stays there)" in text
    assert "Mail accounts: 2" in text and f"Messages stored here: 2 ({size})" in text
    assert User.objects.filter(pk=alice.pk).exists()  # asking deleted nothing


def test_a_deleted_user_leaves_no_mail_behind_but_what_others_store(
    admin_client, alice, alice_client, alice_with_mail, django_capture_on_commit_callbacks
):
    pop3, imap, bobs, shared, own = alice_with_mail
    store = blob_store()
    alices = dict(StoredMessage.objects.filter(account=pop3).values_list("size", "digest"))
    shared_digest, own_digest = alices[len(shared)], alices[len(own)]
    assert store.exists(shared_digest) and store.exists(own_digest)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            f"/admin/accounts/user/{alice.pk}/delete/", {"post": "yes"}, follow=True
        )

    assert admin_messages(response) == [
        "Deleted with the user alice: 2 mail accounts, 2 messages stored here "
        f"({len(shared) + len(own)}\xa0bytes). Nothing on a mail server was touched.",
        "The user “alice” was deleted successfully.",
    ]
    assert not User.objects.filter(username="alice").exists()
    assert not MailAccount.objects.filter(pk__in=[pop3.pk, imap.pk]).exists()
    assert not IndexedMessage.objects.filter(folder__account__in=[pop3.pk, imap.pk]).exists()
    assert not StoredMessage.objects.filter(account__in=[pop3.pk, imap.pk]).exists()
    assert not store.exists(own_digest)
    assert store.exists(shared_digest)  # bob's account stores the same bytes
    assert StoredMessage.objects.get(account=bobs).digest == shared_digest
    assert sessions_of(alice) == 0
    assert "admin: user: Deleted “alice.”" in admin_actions()
    removed = AuditEvent.objects.filter(kind=AuditEvent.Kind.ACCOUNT_REMOVED, username="alice")
    assert sorted(removed.values_list("detail", flat=True)) == sorted(
        [f"{pop3.email} (POP3, 127.0.0.1)", f"{imap.email} (IMAP, 127.0.0.1)"]
    )


def test_deleting_several_users_counts_them_together(admin_client, alice, bob):
    account_offline(alice, "alice@example.org")
    account_offline(bob, "bob@example.org")
    response = admin_client.post(
        "/admin/accounts/user/",
        {"action": "delete_selected", "_selected_action": [alice.pk, bob.pk]},
    )
    text = page_text(response)
    assert "Users: 2" in text and "Mail accounts: 2" in text
    assert "Mail account: alice@example.org (IMAP, imap.example.invalid)" in text
    assert "Messages stored here: 0 (0\xa0bytes)" in text

    response = admin_client.post(
        "/admin/accounts/user/",
        {"action": "delete_selected", "_selected_action": [alice.pk, bob.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert not User.objects.filter(username__in=["alice", "bob"]).exists()
    assert not MailAccount.objects.exists()


# -- password, preferences, flags ------------------------------------------------------------


def test_an_admin_resets_a_password_without_seeing_the_old_one(admin_client, alice):
    url = f"/admin/accounts/user/{alice.pk}/password/"
    text = page(admin_client.get(url))
    assert "alice-password-1" not in text and alice.password not in text

    response = admin_client.post(
        url, {"password1": "Neues-Passwort-7", "password2": "Neues-Passwort-7"}
    )

    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("Neues-Passwort-7")
    assert admin_actions() == ["admin: user: Changed “alice” — Changed password."]


def test_an_admin_sets_language_time_zone_and_staff_flags(admin_client, alice):
    url = f"/admin/accounts/user/{alice.pk}/change/"
    data = form_data(admin_client.get(url))
    data.update(language="de", time_zone="Europe/Berlin", is_staff="on")

    assert admin_client.post(url, data).status_code == 302

    alice.refresh_from_db()
    assert (alice.language, alice.time_zone, alice.is_staff) == ("de", "Europe/Berlin", True)
    assert not alice.is_superuser
    [change] = admin_actions()
    assert change.startswith("admin: user: Changed “alice” — Changed Staff status")
    assert "Language" in change and "Time zone" in change
