"""pop3_fetch against the real Dovecot POP3: new mail lands in the local store with the
server's bytes and in the local INBOX's index, nothing is stored twice, and nothing is
ever deleted on the server (mail-sync.md rules 1, 3 and "POP3 details")."""

import hashlib
import io

import pytest
from django.core.management import call_command
from kombu import Connection

from tests.faultproxy import FaultProxy
from tests.personas import pop3_account_for
from tests.pop3_helpers import files_under, message
from webmail.celery import app as celery_app
from webmail.models import IndexedFolder, IndexedMessage, Pop3Mailbox, Pop3Uidl, StoredMessage
from webmail.protocols.pop3 import Pop3Session
from webmail.services import pop3_fetch as fetching
from webmail.services.local_store import blob_store
from webmail.services.locks import job_lock
from webmail.services.pop3_fetch import pop3_fetch
from webmail.services.sync import account_sync_queue
from webmail.tasks import account_sync_task


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path  # blobs and file locks of this test only


def server_messages(mail_user) -> dict[str, bytes]:
    """UIDL -> the bytes the server gives for it, as another POP3 client reads them."""
    found = {}
    with Pop3Session(mail_user.pop3_settings()) as session:
        for entry in session.listing():
            out = io.BytesIO()
            session.retr_to(entry.number, out)
            found[entry.uidl] = out.getvalue()
        session.quit()
    return found


def stored_bytes(account) -> list[bytes]:
    store = blob_store()
    result = []
    for stored in StoredMessage.objects.filter(account=account).order_by("pk"):
        with store.open(stored.digest) as file:
            result.append(file.read())
    return result


def inbox_subjects(account) -> list[str]:
    rows = IndexedMessage.objects.filter(folder__account=account, folder__name="INBOX")
    return sorted(rows.values_list("subject", flat=True))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_it_stores_new_mail_with_the_servers_bytes_and_lists_it_in_the_local_inbox(
    alice, dovecot, mail_user
):
    mail_user.append("INBOX", message("Grüße aus Köln", b"Bis bald.\r\n"))
    mail_user.append("INBOX", message("Second", b"x" * 200_000 + b"\r\n"))
    mail_user.append("INBOX", message("Third"))
    account = pop3_account_for(alice, dovecot, mail_user)

    report = pop3_fetch(account=account)

    assert (report.complete, report.new, report.listed, report.error) == (True, 3, 3, "")
    on_server = server_messages(mail_user)
    assert len(on_server) == 3  # no DELE: the server holds every message still
    assert sorted(stored_bytes(account)) == sorted(on_server.values())
    assert inbox_subjects(account) == ["Grüße aus Köln", "Second", "Third"]
    row = IndexedMessage.objects.get(folder__account=account, subject="Grüße aus Köln")
    assert (row.from_addr, row.preview, row.seen) == ("sender@example.org", "Bis bald.", False)
    assert row.stored.size == len(on_server[Pop3Uidl.objects.get(stored=row.stored).uidl])
    folders = {f.name: f.special_use for f in IndexedFolder.objects.filter(account=account)}
    assert folders == {
        "INBOX": "", "Sent": "\\Sent", "Drafts": "\\Drafts", "Trash": "\\Trash",
        "Archive": "\\Archive",
    }  # fmt: skip
    inbox = IndexedFolder.objects.get(account=account, name="INBOX")
    assert (inbox.messages, inbox.unseen, inbox.fully_indexed) == (3, 3, True)
    ledger = {(u.uidl, u.size, u.state) for u in Pop3Uidl.objects.filter(account=account)}
    assert ledger == {(uidl, len(raw), "stored") for uidl, raw in on_server.items()}
    assert Pop3Mailbox.objects.get(account=account).uidl_supported


def test_it_stores_nothing_twice_when_fetching_again(alice, dovecot, mail_user):
    mail_user.append("INBOX", message("One"))
    mail_user.append("INBOX", message("Two"))
    account = pop3_account_for(alice, dovecot, mail_user)
    pop3_fetch(account=account)

    again = pop3_fetch(account=account)
    mail_user.append("INBOX", message("Three"))
    third = pop3_fetch(account=account)

    assert (again.new, again.listed, third.new, third.listed) == (0, 2, 1, 3)
    assert inbox_subjects(account) == ["One", "Three", "Two"]
    assert sorted(stored_bytes(account)) == sorted(server_messages(mail_user).values())
    assert len(files_under(blob_store().root)) == 3


def test_it_takes_a_reused_uidl_with_another_size_for_a_new_message(alice, dovecot, mail_user):
    mail_user.append("INBOX", message("Old"))
    account = pop3_account_for(alice, dovecot, mail_user)
    pop3_fetch(account=account)
    [old_uidl] = server_messages(mail_user)
    with mail_user.client() as client:  # another device deletes it; other mail arrives
        client.select_folder("INBOX")
        client.delete_messages(client.search())
        client.expunge()
    mail_user.append("INBOX", message("New, under the old UIDL", b"longer text\r\n" * 20))
    [new_uidl] = server_messages(mail_user)

    with FaultProxy(dovecot.host, dovecot.pop3_port) as proxy:
        proxy.rewrite_replies(new_uidl.encode(), old_uidl.encode())  # the server reuses it
        account.incoming_port = proxy.port
        report = pop3_fetch(account=account)
        again = pop3_fetch(account=account)

    assert (report.new, again.new) == (1, 0)
    assert inbox_subjects(account) == ["New, under the old UIDL", "Old"]
    assert sorted(Pop3Uidl.objects.filter(account=account).values_list("uidl", flat=True)) == [
        old_uidl, old_uidl
    ]  # fmt: skip


def test_a_stored_message_under_a_new_uidl_is_not_stored_again(alice, dovecot, mail_user):
    mail_user.append("INBOX", message("Once"))
    account = pop3_account_for(alice, dovecot, mail_user)
    pop3_fetch(account=account)
    [uidl] = server_messages(mail_user)
    other = uidl[::-1]  # the server renumbered its UIDLs (a rebuilt mailbox, say)

    with FaultProxy(dovecot.host, dovecot.pop3_port) as proxy:
        proxy.rewrite_replies(uidl.encode(), other.encode())
        account.incoming_port = proxy.port
        report = pop3_fetch(account=account)

    assert (report.new, report.linked) == (0, 1)
    assert inbox_subjects(account) == ["Once"]
    assert StoredMessage.objects.filter(account=account).count() == 1
    assert sorted(Pop3Uidl.objects.values_list("uidl", flat=True)) == sorted([uidl, other])
    assert len(files_under(blob_store().root)) == 1


def test_it_leaves_alone_a_uidl_listed_twice(alice, dovecot, mail_user):
    mail_user.append("INBOX", message("First"))
    mail_user.append("INBOX", message("Second"))
    first, second = server_messages(mail_user)
    account = pop3_account_for(alice, dovecot, mail_user)

    with FaultProxy(dovecot.host, dovecot.pop3_port) as proxy:
        proxy.rewrite_replies(second.encode(), first.encode())
        account.incoming_port = proxy.port
        report = pop3_fetch(account=account)

    assert (report.new, report.duplicates, report.listed) == (0, 2, 2)
    assert inbox_subjects(account) == []
    assert not Pop3Uidl.objects.filter(account=account).exists()
    account.incoming_port = dovecot.pop3_port  # the listing is sane again: both come
    assert pop3_fetch(account=account).new == 2
    assert len(server_messages(mail_user)) == 2


def test_a_cut_in_the_middle_of_retr_stores_nothing_half_and_the_next_fetch_completes(
    alice, dovecot, mail_user, monkeypatch
):
    mail_user.append("INBOX", message("Small"))
    mail_user.append("INBOX", message("Large", b"z" * 500_000 + b"\r\n"))
    mail_user.append("INBOX", message("Last"))
    account = pop3_account_for(alice, dovecot, mail_user)

    with FaultProxy(dovecot.host, dovecot.pop3_port) as proxy:

        def cut_during_the_next_retr(name: str) -> None:
            if name == "message_committed":
                proxy.cut_after(10_000)

        monkeypatch.setattr(fetching, "crash_hook", cut_during_the_next_retr)
        account.incoming_port = proxy.port
        report = pop3_fetch(account=account)
    monkeypatch.setattr(fetching, "crash_hook", None)

    assert (report.new, report.complete, report.error_code) == (1, False, "transfer_interrupted")
    assert report.error  # shown to the reader as a sentence
    assert inbox_subjects(account) == ["Small"]
    assert files_under(blob_store().root / "tmp") == []  # the partial download is gone
    account.incoming_port = dovecot.pop3_port
    assert pop3_fetch(account=account).new == 2
    assert sorted(stored_bytes(account)) == sorted(server_messages(mail_user).values())


def test_a_server_without_uidl_is_fetched_by_header_digest_and_marked(alice, dovecot, mail_user):
    mail_user.append("INBOX", message("One"))
    mail_user.append("INBOX", message("Two"))
    account = pop3_account_for(alice, dovecot, mail_user)

    with FaultProxy(dovecot.host, dovecot.pop3_port) as proxy:
        proxy.refuse_commands("UIDL")
        account.incoming_port = proxy.port
        report = pop3_fetch(account=account)
        again = pop3_fetch(account=account)

    assert (report.new, report.uidl_supported, again.new) == (2, False, 0)
    assert not Pop3Mailbox.objects.get(account=account).uidl_supported
    assert all(u.startswith("sha256:") for u in Pop3Uidl.objects.values_list("uidl", flat=True))
    assert sorted(stored_bytes(account)) == sorted(server_messages(mail_user).values())


def test_the_caps_leave_the_rest_for_the_next_fetch(alice, dovecot, mail_user):
    for n in range(4):
        mail_user.append("INBOX", message(f"Mail {n}"))
    account = pop3_account_for(alice, dovecot, mail_user)

    capped = pop3_fetch(account=account, max_messages=3)
    by_bytes = pop3_fetch(account=account, max_bytes=1)  # the first one always comes

    assert (capped.new, capped.left, capped.complete) == (3, 1, False)
    assert (by_bytes.new, by_bytes.left, by_bytes.complete) == (1, 0, True)
    assert inbox_subjects(account) == [f"Mail {n}" for n in range(4)]


def test_it_does_nothing_while_another_job_holds_the_account(alice, dovecot, mail_user):
    mail_user.append("INBOX", message("Waiting"))
    account = pop3_account_for(alice, dovecot, mail_user)

    with job_lock(f"account-sync:{account.pk}", timeout=60):
        report = pop3_fetch(account=account)

    assert report.already_running
    assert inbox_subjects(account) == []


def test_a_mailbox_busy_elsewhere_is_try_later_and_no_failure(alice, dovecot, mail_user):
    mail_user.append("INBOX", message("Later"))
    account = pop3_account_for(alice, dovecot, mail_user)

    with FaultProxy(dovecot.host, dovecot.pop3_port) as proxy:
        # What a server says while another client holds the mailbox (RFC 2449 8.1.2).
        proxy.rewrite_replies(b"+OK Logged in.", b"-ERR [IN-USE] Mailbox locked")
        account.incoming_port = proxy.port
        report = pop3_fetch(account=account)

    account.refresh_from_db()
    assert (report.busy, report.complete, report.new) == (True, False, 0)
    assert "try again later" in report.error
    assert (account.sync_error, account.sync_failures) == ("", 0)  # no back-off for it
    assert inbox_subjects(account) == []


def test_a_wrong_password_is_recorded_on_the_account(alice, dovecot, mail_user):
    account = pop3_account_for(alice, dovecot, mail_user)
    account.set_incoming_password("not-the-password")
    account.save()

    report = pop3_fetch(account=account)

    account.refresh_from_db()
    assert report.error_code == "auth_failed"
    assert (account.sync_error, account.sync_failures) == (report.error, 1)


def test_the_sync_task_fetches_a_pop3_account(alice, dovecot, mail_user):
    mail_user.append("INBOX", message("By the task"))
    account = pop3_account_for(alice, dovecot, mail_user)

    account_sync_task(account.pk)

    assert inbox_subjects(account) == ["By the task"]
    account.refresh_from_db()
    assert account.last_synced_at is not None


def test_the_command_fetches_and_says_what_it_did(alice, dovecot, mail_user, capsys):
    mail_user.append("INBOX", message("From the command line"))
    account = pop3_account_for(alice, dovecot, mail_user)

    call_command("mailaccount", "fetch", account.email)

    out = capsys.readouterr().out
    assert f"Fetched {account.email}" in out
    assert "1 new" in out
    assert inbox_subjects(account) == ["From the command line"]
    assert sha(stored_bytes(account)[0]) == sha(next(iter(server_messages(mail_user).values())))


def test_it_queues_a_pop3_account_whose_task_then_fetches_its_mail(
    alice, dovecot, mail_user, django_capture_on_commit_callbacks
):
    # Sign-in and "refresh" queue through account_sync_queue: POP3 accounts too.
    mail_user.append("INBOX", message("Queued at sign-in"))
    account = pop3_account_for(alice, dovecot, mail_user)
    with Connection("memory://") as connection:
        connection.SimpleQueue("celery").clear()

    with django_capture_on_commit_callbacks(execute=True):
        account_sync_queue([account])

    with celery_app.connection_for_write() as connection:
        queue = connection.SimpleQueue("celery")
        queued = queue.get(block=False)
        name, args = queued.headers["task"], queued.decode()[0]
        queued.ack()
        queue.close()
    assert (name, args) == ("webmail.tasks.account_sync_task", [account.pk])
    account_sync_task(*args)
    assert inbox_subjects(account) == ["Queued at sign-in"]
