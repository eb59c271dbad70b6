"""Moving a POP3 account to IMAP against the real Dovecot (issue 7): every locally stored
message ends up on the IMAP server exactly once, in the matching folder, with its flags
and internal date, even when the copy dies midway and is resumed; messages already
there are not uploaded again; a message the server refuses stays here, listed."""

import hashlib
import io
from collections import Counter
from datetime import UTC

import pytest
from django.core.management import CommandError, call_command

from accounts.models import MailAccount
from tests.dovecot import new_mail_user
from tests.personas import pop3_account_for
from tests.pop3_helpers import message
from webmail.models import (
    IndexedFolder,
    IndexedMessage,
    Pop3Migration,
    Pop3MigrationItem,
    StoredMessage,
)
from webmail.protocols.errors import AuthenticationFailed
from webmail.services import pop3_migration as migrating
from webmail.services.local_mail import LocalStore
from webmail.services.local_store import blob_store
from webmail.services.locks import job_lock
from webmail.services.pop3_fetch import pop3_fetch
from webmail.services.pop3_migration import (
    pop3_migration_pause,
    pop3_migration_resume,
    pop3_migration_run,
    pop3_migration_start,
)
from webmail.tasks import MIGRATION_WAIT, pop3_migration_task


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path  # blobs and file locks of this test only


@pytest.fixture(autouse=True)
def _no_crash_hook():
    yield
    migrating.crash_hook = None


class Crash(BaseException):
    """Stands in for a killed worker: nothing after it runs, no except clause catches it."""


def no_message_id(subject: str) -> bytes:
    return (
        f"From: sender@example.org\r\nTo: reader@example.org\r\nSubject: {subject}\r\n\r\n"
        "Kein Message-ID-Kopf.\r\n"
    ).encode()


def fetched_account(alice, dovecot, raws: list[bytes]) -> MailAccount:
    source = new_mail_user(dovecot, "pop")
    source.append_many("INBOX", raws)
    account = pop3_account_for(alice, dovecot, source)
    while True:
        report = pop3_fetch(account=account)
        assert report.error == ""
        if report.complete and report.new == 0:
            break
    assert StoredMessage.objects.filter(account=account).count() == len(raws)
    return account


def local_uids(account, folder: str) -> list[int]:
    rows = IndexedMessage.objects.filter(folder__account=account, folder__name=folder)
    return sorted(rows.values_list("uid", flat=True))


def expected(account) -> dict[str, tuple[str, frozenset[str], object]]:
    """SHA-256 of each local message -> (local folder, flags, internal date in seconds)."""
    found = {}
    for stored in StoredMessage.objects.filter(account=account, indexed__isnull=False):
        row = stored.indexed
        flags = {"\\Seen": row.seen, "\\Flagged": row.flagged, "\\Answered": row.answered}
        found[stored.digest] = (
            row.folder.name,
            frozenset(f for f, on in flags.items() if on),
            row.internal_date.astimezone(UTC).replace(microsecond=0),
        )
    return found


def on_server(user, folders) -> list[tuple[str, str, frozenset[str], object]]:
    """(sha256, folder, flags, internal date) of every message in `folders`, as another
    device sees them."""
    found = []
    with user.client() as client:
        for folder in folders:
            client.select_folder(folder, readonly=True)
            uids = client.search()
            if not uids:
                continue
            data = client.fetch(uids, ["BODY.PEEK[]", "FLAGS", "INTERNALDATE"])
            client.normalise_times = False
            for item in data.values():
                flags = frozenset(f.decode() for f in item[b"FLAGS"] if f != b"\\Recent")
                found.append(
                    (
                        hashlib.sha256(item[b"BODY[]"]).hexdigest(),
                        folder,
                        flags,
                        item[b"INTERNALDATE"].astimezone(UTC),
                    )
                )
    return found


def start(account, dovecot, target, *, password: str | None = None) -> Pop3Migration:
    return pop3_migration_start(
        account=account,
        host=dovecot.host,
        port=dovecot.imap_port,
        security="none",
        login=target.name,
        password=target.password if password is None else password,
    )


LOCAL_TO_SERVER = {"INBOX": "INBOX", "Sent": "Sent", "Archive": "Archive", "Projekte": "Projekte"}


def test_it_moves_500_messages_in_four_folders_exactly_once_through_a_crash(alice, dovecot):
    raws = [message(f"Nachricht {n}") for n in range(490)]
    raws += [no_message_id(f"Ohne Kennung {n}") for n in range(10)]
    account = fetched_account(alice, dovecot, raws)
    local = LocalStore(account)
    local.folder_create("Projekte")
    uids = local_uids(account, "INBOX")
    local.messages_move("INBOX", uids[:100], "Sent", uidvalidity=1)
    local.messages_move("INBOX", uids[100:150], "Archive", uidvalidity=1)
    local.messages_move("INBOX", uids[150:200] + uids[-3:], "Projekte", uidvalidity=1)
    local.flags_add("INBOX", uids[200:260], ["\\Seen"], uidvalidity=1)
    local.flags_add("INBOX", uids[250:270], ["\\Flagged"], uidvalidity=1)
    local.flags_add("INBOX", uids[265:280], ["\\Answered"], uidvalidity=1)
    # One message deleted here for good: it is not copied.
    gone = local_uids(account, "INBOX")[-1]
    local.messages_expunge("INBOX", [gone], uidvalidity=1)
    want = expected(account)
    assert len(want) == 499

    target = new_mail_user(dovecot, "imap")
    # Three already on the server (one without a Message-ID): not uploaded again.
    in_projekte = StoredMessage.objects.filter(
        account=account, indexed__folder__name="Projekte"
    ).order_by("pk")
    there = [
        *in_projekte.exclude(indexed__message_id="")[:2],
        in_projekte.filter(indexed__message_id="").first(),
    ]
    target.create_folder("Projekte")
    store = blob_store()
    for n, stored in enumerate(there):
        with store.open(stored.digest) as file:
            target.append("Projekte" if n else "INBOX", file.read())

    migration = start(account, dovecot, target)
    assert (migration.state, migration.total) == ("running", 499)

    appended = []

    def die(name):
        appended.append(name)
        if len(appended) == 120:
            raise Crash

    migrating.crash_hook = die
    with pytest.raises(Crash):
        pop3_migration_run(account=account, budget=1000)
    migrating.crash_hook = None
    # The 120th append is on the server but its item was never committed.
    assert Pop3MigrationItem.objects.filter(migration=migration, state="pending").count() == 380

    # Starting again resumes: no new items.
    start(account, dovecot, target)
    migration = pop3_migration_run(account=account, budget=1000)

    assert migration.state == "done"
    assert (migration.total, migration.failed) == (499, 0)
    assert migration.copied + migration.already_there == 499
    assert migration.already_there == 3  # the 120th after the crash, and two of the three
    # pre-appended (the one put into INBOX is not in Projekte, so Projekte gets its copy)
    found = on_server(target, ["INBOX", "Sent", "Archive", "Projekte"])
    counts = Counter(digest for digest, *_ in found)
    inbox_extra = there[0].digest
    assert {d: n for d, n in counts.items() if n != 1} == {inbox_extra: 2}
    for digest, folder, flags, when in found:
        if digest == inbox_extra and folder == "INBOX":
            continue
        local_folder, local_flags, local_when = want[digest]
        if digest in {s.digest for s in there}:  # put there by "another client", as it was
            local_flags, local_when = flags, when
        assert (folder, flags, when) == (LOCAL_TO_SERVER[local_folder], local_flags, local_when)
    assert set(counts) == set(want)

    account.refresh_from_db()
    assert (account.protocol, account.incoming_login) == ("imap", target.name)
    assert account.incoming_port == dovecot.imap_port
    assert account.incoming_password() == target.password
    # SMTP keeps the POP3 login it had.
    assert account.smtp_credentials()[0] != target.name
    # The local copies stay on disk; the local index is gone for the IMAP sync to fill.
    assert StoredMessage.objects.filter(account=account).count() == 500
    assert not IndexedFolder.objects.filter(account=account).exists()
    for stored in StoredMessage.objects.filter(account=account):
        with store.open(stored.digest) as file:
            assert hashlib.sha256(file.read()).hexdigest() == stored.digest


def test_a_wrong_password_is_refused_before_anything_is_stored(alice, dovecot):
    account = fetched_account(alice, dovecot, [message("Eins")])
    target = new_mail_user(dovecot, "imap")
    with pytest.raises(AuthenticationFailed):
        start(account, dovecot, target, password="wrong-password")
    assert not Pop3Migration.objects.exists()


def test_a_message_the_server_refuses_is_listed_and_stays_local(alice, dovecot):
    big = message("Zu groß", b"y" * 76 + b"\r\n" * 1 + (b"z" * 76 + b"\r\n") * 3000)
    account = fetched_account(alice, dovecot, [message("Klein"), big])
    target = new_mail_user(dovecot, "imap", quota="100K")
    start(account, dovecot, target)
    migration = pop3_migration_run(account=account)

    assert (migration.state, migration.copied, migration.failed) == ("done", 1, 1)
    failed = Pop3MigrationItem.objects.get(migration=migration, state="failed")
    assert failed.reason == "The mailbox on the IMAP server is full (quota reached)."
    assert failed.stored.size == len(big)
    with blob_store().open(failed.stored.digest) as file:
        assert file.read() == big
    found = on_server(target, ["INBOX"])
    assert len(found) == 1


def test_a_paused_move_stops_between_messages_and_resumes(alice, dovecot):
    account = fetched_account(alice, dovecot, [message(f"M {n}") for n in range(5)])
    target = new_mail_user(dovecot, "imap")
    start(account, dovecot, target)

    def pause_after_two(name):
        if Pop3MigrationItem.objects.exclude(state="pending").count() == 1:
            pop3_migration_pause(account=account)

    migrating.crash_hook = pause_after_two
    migration = pop3_migration_run(account=account)
    assert (migration.state, migration.copied) == ("paused", 2)
    assert pop3_migration_run(account=account).copied == 2  # paused: nothing happens

    assert pop3_migration_resume(account=account)
    migrating.crash_hook = None
    migration = pop3_migration_run(account=account)
    assert (migration.state, migration.copied) == ("done", 5)
    assert len(on_server(target, ["INBOX"])) == 5


def test_the_command_moves_an_account_and_prints_the_summary(alice, dovecot, monkeypatch):
    account = fetched_account(alice, dovecot, [message("A"), message("B")])
    target = new_mail_user(dovecot, "imap")
    monkeypatch.setattr("sys.stdin", io.StringIO(target.password + "\n"))
    out = io.StringIO()
    call_command(
        "mailaccount",
        "migrate",
        str(account.pk),
        "--imap-host",
        dovecot.host,
        "--imap-port",
        str(dovecot.imap_port),
        "--security",
        "none",
        "--login",
        target.name,
        "--password-stdin",
        stdout=out,
    )
    text = out.getvalue()
    assert "copied: 2" in text
    account.refresh_from_db()
    assert account.protocol == "imap"
    assert len(on_server(target, ["INBOX"])) == 2


def test_mail_fetched_or_moved_here_during_the_move_goes_where_it_is_now(alice, dovecot):
    raws = [message("Alt 1"), message("Alt 2")]
    account = fetched_account(alice, dovecot, raws)
    target = new_mail_user(dovecot, "imap")
    start(account, dovecot, target)
    local = LocalStore(account)
    local.messages_move("INBOX", local_uids(account, "INBOX")[:1], "Archive", uidvalidity=1)
    source = MailAccount.objects.get(pk=account.pk).incoming_login
    late = message("Neu")
    dovecot.append(source, "INBOX", late)
    assert pop3_fetch(account=account).new == 1

    migration = pop3_migration_run(account=account)

    assert (migration.state, migration.total, migration.copied) == ("done", 3, 3)
    found = on_server(target, ["INBOX", "Archive"])
    by_folder = Counter(folder for _digest, folder, *_ in found)
    assert by_folder == {"INBOX": 2, "Archive": 1}
    assert hashlib.sha256(late).hexdigest() in {digest for digest, *_ in found}


def test_the_task_copies_and_waits_while_a_fetch_holds_the_account(alice, dovecot, monkeypatch):
    account = fetched_account(alice, dovecot, [message("Eins"), message("Zwei")])
    target = new_mail_user(dovecot, "imap")
    start(account, dovecot, target)
    queued = []
    monkeypatch.setattr(
        pop3_migration_task, "apply_async", lambda args, countdown: queued.append(countdown)
    )

    with job_lock(f"account-sync:{account.pk}", timeout=60):
        pop3_migration_task(account.pk)
    assert queued == [MIGRATION_WAIT]  # nothing done: tries again later
    assert len(on_server(target, ["INBOX"])) == 0

    pop3_migration_task(account.pk)
    assert queued == [MIGRATION_WAIT]  # done in one batch: not queued again
    account.refresh_from_db()
    assert account.protocol == "imap"
    assert len(on_server(target, ["INBOX"])) == 2


def test_the_command_lists_refused_messages_and_fails(alice, dovecot, monkeypatch):
    big = message("Zu groß", (b"z" * 76 + b"\r\n") * 3000)
    account = fetched_account(alice, dovecot, [message("A"), big])
    target = new_mail_user(dovecot, "imap", quota="100K")
    monkeypatch.setattr("sys.stdin", io.StringIO(target.password + "\n"))
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 messages stay here only"):
        call_command(
            "mailaccount",
            "migrate",
            str(account.pk),
            *("--imap-host", dovecot.host, "--imap-port", str(dovecot.imap_port)),
            *("--security", "none", "--login", target.name, "--password-stdin"),
            stdout=out,
        )
    text = out.getvalue()
    assert "copied: 1, already there: 0, failed: 1" in text
    assert "not copied: INBOX: 'Zu groß': The mailbox on the IMAP server is full" in text
