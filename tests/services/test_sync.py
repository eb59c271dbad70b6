"""account_sync against the real Dovecot (another device is a second IMAP client or
doveadm) and, for the locks, the real Redis."""

import secrets
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from imapclient import IMAPClient

from accounts.models import MailAccount
from tests.personas import account_for
from webmail import clock
from webmail.models import IndexedFolder, IndexedMessage
from webmail.protocols.imap import ImapStore
from webmail.selectors import sync_status
from webmail.services import sync
from webmail.services.locks import job_lock
from webmail.services.sync import account_sync, accounts_due, sync_backoff, sync_due


def mail(n: int, *, subject: str = "", extra: str = "", body: str = "") -> bytes:
    return (
        f"From: Anna Schmidt <anna@example.org>\r\n"
        f'To: Bob <bob@example.org>, "Meyer, Carla" <carla@example.net>\r\n'
        f"Cc: Dora <dora@example.com>\r\n"
        f"Subject: {subject or f'Message {n}'}\r\n"
        f"Date: Mon, 02 Mar 2026 09:{n % 60:02d}:00 +0100\r\n"
        f"Message-ID: <msg-{n}@example.org>\r\n{extra}"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{body or f'Body of message {n}.'}\r\n"
    ).encode()


@pytest.fixture
def redis_locks(settings):
    """Locks in the real Redis, under keys no other test run uses."""
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    settings.REDIS_KEY_PREFIX = f"postfach-test-{secrets.token_hex(6)}:"


@pytest.fixture
def account(alice, dovecot, mail_user, redis_locks) -> MailAccount:
    return account_for(alice, dovecot, mail_user)


def rows(account, folder="INBOX"):
    return IndexedMessage.objects.filter(folder__account=account, folder__name=folder)


def index_uids(account, folder="INBOX") -> list[int]:
    return sorted(rows(account, folder).values_list("uid", flat=True))


def server_state(mail_user, folder="INBOX") -> dict[int, frozenset[str]]:
    with mail_user.client() as client:
        client.select_folder(folder, readonly=True)
        found = client.get_flags(client.search())
    return {uid: frozenset(f.decode() for f in flags if f != b"\\Recent") for uid, flags in found.items()}


def assert_index_equals_server(account, mail_user, folder="INBOX"):
    server = server_state(mail_user, folder)
    indexed = {
        uid: frozenset(flags.split()) for uid, flags in rows(account, folder).values_list("uid", "flags")
    }
    assert indexed == server


# -- the first sync ------------------------------------------------------------------------


def test_it_indexes_every_message_with_its_fields(account, mail_user):
    when = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
    uids = mail_user.append_many(
        "INBOX",
        [
            (mail(1), ("\\Seen",), when),
            (mail(2, extra="In-Reply-To: <msg-1@example.org>\r\nReferences: <msg-0@example.org> <msg-1@example.org>\r\n"), ("\\Flagged", "$Work"), when),
            (mail(3, subject="=?utf-8?q?Gr=C3=BC=C3=9Fe?=", body="Grüße aus Köln."), ("\\Answered", "\\Seen"), when),
        ],
    )
    mail_user.create_folder("Projects")
    mail_user.append("Projects", mail(4))

    report = account_sync(account)

    assert report.complete and report.started and not report.error
    assert (report.folders, report.folders_created, report.new) == (7, 7, 4)
    assert (report.changed, report.vanished, report.folders_deleted) == (0, 0, 0)
    inbox = IndexedFolder.objects.get(account=account, name="INBOX")
    assert inbox.fully_indexed and inbox.synced_at is not None
    assert inbox.uidvalidity == mail_user.uidvalidity("INBOX")
    assert inbox.uidnext == uids[-1] + 1
    assert inbox.highestmodseq > 0
    assert (inbox.messages, inbox.unseen, inbox.indexed_count, inbox.total_count) == (3, 1, 3, 3)
    assert IndexedFolder.objects.get(account=account, name="Sent").special_use == "\\Sent"

    first, second, third = (rows(account).get(uid=uid) for uid in uids)
    assert first.subject == "Message 1"
    assert (first.from_name, first.from_addr) == ("Anna Schmidt", "anna@example.org")
    assert first.to == 'Bob <bob@example.org>, "Meyer, Carla" <carla@example.net>'
    assert first.cc == "Dora <dora@example.com>"
    assert first.message_id == "msg-1@example.org"
    assert first.date == datetime(2026, 3, 2, 8, 1, tzinfo=UTC)
    assert first.internal_date == when
    assert first.size == len(mail(1))
    assert (first.flags, first.seen, first.flagged, first.answered) == ("\\Seen", True, False, False)
    assert first.preview == "Body of message 1."
    assert not first.has_attachments
    assert second.in_reply_to == "msg-1@example.org"
    assert second.references == "msg-0@example.org msg-1@example.org"
    assert (second.flags, second.seen, second.flagged) == ("$Work \\Flagged", False, True)
    assert third.subject == "Grüße"
    assert third.answered and third.search_text == "Grüße aus Köln."
    assert rows(account, "Projects").count() == 1


def test_it_reads_the_seeded_mailbox_as_the_list_page_does(alice, dovecot, seeded_mailbox, redis_locks):
    """Every fixture message (broken MIME, huge headers, 600 attachments) indexes, with
    the same summary the server-read list shows."""
    account = account_for(alice, dovecot, seeded_mailbox)
    report = account_sync(account)
    assert report.complete
    assert rows(account).count() == seeded_mailbox.count("INBOX")
    with seeded_mailbox.user.client() as client:  # other tests open (and so read) mail here
        unseen = client.folder_status("INBOX", ["UNSEEN"])[b"UNSEEN"]
    assert IndexedFolder.objects.get(account=account, name="INBOX").unseen == unseen
    budget = rows(account, "Projects/2026").get(uid=seeded_mailbox.folder_uids["Projects/2026"]["budget"])
    assert budget.has_attachments and budget.subject == "Budget 2026"
    assert rows(account, "Newsletters").get(subject="Grüße aus Köln")


# -- later syncs ---------------------------------------------------------------------------


def test_it_fetches_only_what_changed_elsewhere(account, mail_user):
    uids = mail_user.append_many("INBOX", [mail(n) for n in range(1, 7)])
    account_sync(account)
    with mail_user.client() as other:
        other.select_folder("INBOX")
        other.add_flags([uids[1]], ["\\Seen"])
        other.add_flags([uids[2]], ["\\Flagged"])
        other.add_flags([uids[3]], ["\\Deleted"])
        other.uid_expunge([uids[3]])
    new = mail_user.append("INBOX", mail(7))

    report = account_sync(account)

    assert report.complete
    assert (report.new, report.changed, report.vanished) == (1, 2, 1)
    assert index_uids(account) == sorted([*uids[:3], *uids[4:], new])
    assert rows(account).get(uid=uids[1]).seen
    assert rows(account).get(uid=uids[2]).flagged
    assert_index_equals_server(account, mail_user)
    inbox = IndexedFolder.objects.get(account=account, name="INBOX")
    assert (inbox.messages, inbox.unseen) == (6, 5)

    again = account_sync(account)
    assert (again.new, again.changed, again.vanished) == (0, 0, 0)


def test_it_keeps_in_step_without_condstore_and_qresync(account, mail_user, monkeypatch):
    """A server without RFC 7162: the UID SEARCH diff finds expunges and new mail, and
    the flags of recent messages are read again. (Dovecot offers them; the capability
    seam hides them, as for MOVE and UIDPLUS in the organise tests.)"""
    hidden = {"CONDSTORE", "QRESYNC", "ESEARCH", "LIST-STATUS"}
    real_has = ImapStore._has
    monkeypatch.setattr(ImapStore, "_has", lambda self, cap: cap not in hidden and real_has(self, cap))
    uids = mail_user.append_many("INBOX", [mail(n) for n in range(1, 6)])
    first = account_sync(account)
    assert (first.complete, first.new) == (True, 5)
    assert IndexedFolder.objects.get(account=account, name="INBOX").highestmodseq == 0
    with mail_user.client() as other:
        other.select_folder("INBOX")
        other.add_flags([uids[0]], ["\\Seen"])
        other.add_flags([uids[4]], ["\\Deleted"])
        other.uid_expunge([uids[4]])
    mail_user.append("INBOX", mail(6))

    report = account_sync(account)

    assert (report.new, report.changed, report.vanished) == (1, 1, 1)
    assert_index_equals_server(account, mail_user)


def test_with_condstore_but_no_qresync_expunges_come_from_a_uid_search(account, mail_user, monkeypatch):
    real_has = ImapStore._has
    monkeypatch.setattr(ImapStore, "_has", lambda self, cap: cap != "QRESYNC" and real_has(self, cap))
    uids = mail_user.append_many("INBOX", [mail(n) for n in range(1, 5)])
    account_sync(account)
    with mail_user.client() as other:
        other.select_folder("INBOX")
        other.add_flags([uids[0]], ["\\Flagged"])
        other.add_flags([uids[1]], ["\\Deleted"])
        other.uid_expunge([uids[1]])

    report = account_sync(account)

    assert (report.new, report.changed, report.vanished) == (0, 1, 1)
    assert_index_equals_server(account, mail_user)


def test_changes_are_fetched_in_windows_of_uids(account, mail_user, monkeypatch):
    monkeypatch.setattr(sync, "CHANGES_WINDOW", 2)
    uids = mail_user.append_many("INBOX", [mail(n) for n in range(1, 8)])
    account_sync(account)
    with mail_user.client() as other:
        other.select_folder("INBOX")
        other.add_flags([uids[0], uids[6]], ["\\Seen"])
        other.add_flags([uids[3]], ["\\Deleted"])
        other.uid_expunge([uids[3]])
    windows = sync._Run._windows

    seen = []
    monkeypatch.setattr(sync._Run, "_windows", lambda self, row: seen.append(windows(self, row)) or seen[-1])
    report = account_sync(account)

    assert seen == [[(1, uids[2] - 1), (uids[2], uids[4] - 1), (uids[4], uids[6] - 1), (uids[6], None)]]
    assert (report.changed, report.vanished) == (2, 1)
    assert_index_equals_server(account, mail_user)


def test_a_changed_uidvalidity_drops_and_rebuilds_the_folder(account, mail_user, dovecot):
    mail_user.append_many("INBOX", [mail(n) for n in range(1, 4)])
    account_sync(account)
    old = mail_user.uidvalidity("INBOX")
    dovecot.doveadm("mailbox", "update", "-u", mail_user.name, "--uid-validity", str(old + 1000), "INBOX")
    assert mail_user.uidvalidity("INBOX") == old + 1000

    report = account_sync(account)

    assert report.complete
    assert (report.folders_rebuilt, report.new) == (1, 3)
    inbox = IndexedFolder.objects.get(account=account, name="INBOX")
    assert (inbox.uidvalidity, inbox.messages, inbox.fully_indexed) == (old + 1000, 3, True)
    assert_index_equals_server(account, mail_user)


def test_folders_created_renamed_and_deleted_elsewhere_show_up(account, mail_user):
    mail_user.create_folder("Old")
    mail_user.create_folder("Clubs")
    mail_user.append("Clubs", mail(1))
    account_sync(account)
    clubs = IndexedFolder.objects.get(account=account, name="Clubs")
    with mail_user.client() as other:
        other.delete_folder("Old")
        other.rename_folder("Clubs", "Vereine")
        other.create_folder("Fresh")

    report = account_sync(account)

    assert (report.folders_created, report.folders_renamed, report.folders_deleted) == (1, 1, 1)
    names = set(IndexedFolder.objects.filter(account=account).values_list("name", flat=True))
    assert {"Vereine", "Fresh"} <= names and not {"Old", "Clubs"} & names
    renamed = IndexedFolder.objects.get(account=account, name="Vereine")
    assert renamed.pk == clubs.pk  # its index kept, not fetched again
    assert report.new == 0 and rows(account, "Vereine").count() == 1


# -- interrupted syncs ---------------------------------------------------------------------


def test_a_sync_out_of_time_resumes_with_no_gaps_and_no_duplicates(account, mail_user):
    uids = mail_user.append_many("INBOX", [mail(n) for n in range(1, 251)])

    first = account_sync(account, batch=100, budget_seconds=0)

    assert (first.complete, first.new) == (False, 100)
    assert index_uids(account) == uids[-100:]  # the newest first
    inbox = IndexedFolder.objects.get(account=account, name="INBOX")
    assert (inbox.fully_indexed, inbox.indexed_count, inbox.total_count) == (False, 100, 250)
    assert (sync_status(account=account).indexed, sync_status(account=account).total) == (100, 250)
    assert sync_status(account=account).in_progress

    rest = account_sync(account, batch=100)

    assert (rest.complete, rest.new) == (True, 150)
    assert index_uids(account) == uids
    assert not sync_status(account=account).in_progress


def test_a_connection_dropped_mid_sync_is_recorded_and_the_next_sync_resumes(account, mail_user, dovecot, monkeypatch):
    uids = mail_user.append_many("INBOX", [mail(n) for n in range(1, 121)])
    batches = []

    def kick_after_first_batch(point):
        batches.append(point)
        if len(batches) == 1:  # the server goes away between two batches
            dovecot.doveadm("kick", mail_user.name)

    monkeypatch.setattr(sync, "crash_hook", kick_after_first_batch)

    broken = account_sync(account, batch=50)

    assert not broken.complete and broken.error_code == "unavailable"
    assert index_uids(account) == uids[-50:]
    account.refresh_from_db()
    assert account.sync_failures == 1 and account.sync_error and account.sync_error_at

    monkeypatch.setattr(sync, "crash_hook", None)
    resumed = account_sync(account, batch=50)

    assert resumed.complete and resumed.new == 70
    assert index_uids(account) == uids
    account.refresh_from_db()
    assert (account.sync_failures, account.sync_error, account.sync_error_at) == (0, "", None)
    assert account.last_synced_at is not None


# -- one sync per account ------------------------------------------------------------------


def test_a_second_sync_of_the_same_account_returns_at_once(account, mail_user):
    mail_user.append("INBOX", mail(1))
    with job_lock(f"account-sync:{account.pk}", timeout=60) as held:
        assert held is not None
        report = account_sync(account)
    assert report.already_running and report.new == 0
    assert not IndexedFolder.objects.filter(account=account).exists()
    assert account_sync(account).new == 1


@pytest.mark.django_db(transaction=True)
def test_two_threads_syncing_one_account_sync_it_once(alice, dovecot, mail_user, redis_locks, monkeypatch):
    account = account_for(alice, dovecot, mail_user)
    mail_user.append_many("INBOX", [mail(n) for n in range(1, 31)])
    first_inside = threading.Event()
    second_done = threading.Event()

    def hold_first_batch(point):
        first_inside.set()
        second_done.wait(10)

    monkeypatch.setattr(sync, "crash_hook", hold_first_batch)
    reports = {}

    def run(name):
        try:
            reports[name] = account_sync(account, batch=10)
        finally:
            if threading.current_thread() is not threading.main_thread():
                connection.close()  # a thread's own connection; the test database must go

    first = threading.Thread(target=run, args=("first",))
    first.start()
    assert first_inside.wait(10)
    run("second")  # while the first is inside its first batch
    second_done.set()
    first.join(20)

    assert reports["second"].already_running
    assert reports["first"].complete and reports["first"].new == 30
    assert rows(account).count() == 30


def test_a_crashed_workers_redis_lock_expires(redis_locks):
    with job_lock("crash-test", timeout=1) as held:
        assert held is not None
        with job_lock("crash-test", timeout=1) as second:
            assert second is None
    # A worker killed while holding the lock never releases it: the expiry does.
    from webmail.services import locks

    lock = locks._redis(locks.settings.REDIS_URL).lock(
        f"{locks.settings.REDIS_KEY_PREFIX}lock:expiring", timeout=1
    )
    assert lock.acquire(blocking=False)
    with job_lock("expiring", timeout=1) as blocked:
        assert blocked is None
    import time

    time.sleep(1.2)
    with job_lock("expiring", timeout=1) as free:
        assert free is not None


def test_without_redis_a_file_lock_keeps_syncs_apart(settings, tmp_path):
    settings.REDIS_URL = ""
    settings.DATA_DIR = tmp_path
    with job_lock("account-sync:1", timeout=60) as held:
        assert held is not None
        with job_lock("account-sync:1", timeout=60) as second:
            assert second is None
        with job_lock("account-sync:2", timeout=60) as other:
            assert other is not None
    with job_lock("account-sync:1", timeout=60) as again:
        assert again is not None


# -- errors and back-off -------------------------------------------------------------------


def test_errors_are_recorded_backed_off_and_cleared(account, mail_user, monkeypatch):
    account.set_incoming_password("wrong-password")
    account.save()
    now = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    monkeypatch.setattr(clock, "now", lambda: now)

    report = account_sync(account)

    assert not report.complete and report.error_code == "auth_failed"
    assert "password" in report.error
    account.refresh_from_db()
    assert (account.sync_failures, account.sync_error_at) == (1, now)
    assert not sync_due(account) and account.pk not in accounts_due()

    account_sync(account)
    account.refresh_from_db()
    assert account.sync_failures == 2
    monkeypatch.setattr(clock, "now", lambda: now + timedelta(minutes=3))
    assert not sync_due(account)  # 2 failures: 4 minutes
    monkeypatch.setattr(clock, "now", lambda: now + timedelta(minutes=4))
    assert sync_due(account) and account.pk in accounts_due()

    account.set_incoming_password(mail_user.password)
    account.save()
    assert account_sync(account).complete
    account.refresh_from_db()
    assert (account.sync_failures, account.sync_error, account.sync_error_at) == (0, "", None)


def test_backoff_doubles_up_to_six_hours():
    assert [sync_backoff(n) for n in (0, 1, 2, 3)] == [
        timedelta(0), timedelta(minutes=2), timedelta(minutes=4), timedelta(minutes=8)
    ]
    assert sync_backoff(9) == timedelta(hours=6) == sync_backoff(1000)


def test_a_server_that_is_gone_is_an_error_not_a_crash(alice, redis_locks):
    from tests.personas import account_offline

    account = account_offline(alice, "gone@example.org")
    report = account_sync(account)
    assert report.error_code == "host_not_found"
    account.refresh_from_db()
    assert account.sync_failures == 1


def test_a_password_the_key_cannot_read_is_recorded_not_raised(account):
    MailAccount.objects.filter(pk=account.pk).update(incoming_password_encrypted="garbage")
    account.refresh_from_db()
    report = account_sync(account)
    assert report.error_code == "credentials" and "enter the password again" in report.error
    account.refresh_from_db()
    assert account.sync_failures == 1


def test_pop3_accounts_are_not_synced(account):
    account.protocol = MailAccount.Protocol.POP3
    account.save()
    assert account_sync(account).complete
    assert not IndexedFolder.objects.filter(account=account).exists()


def test_imapclient_still_refuses_ranges_in_fetch(mail_user):
    """The sync sends ranges through its own UID FETCH because imapclient's fetch() takes
    ids only (dovecot-for-tests.md); notice the day an upgrade changes that."""
    mail_user.append("INBOX", mail(1))
    with IMAPClient("127.0.0.1", mail_user.dovecot.imap_port, ssl=False) as client:
        client.login(mail_user.name, mail_user.password)
        client.select_folder("INBOX")
        with pytest.raises(ValueError):
            client.fetch("1:*", ["FLAGS"])
