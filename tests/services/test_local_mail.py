"""The local store as a MailStore, over mail fetched from the real Dovecot POP3: what the
reader's actions leave in the local folders and the stored messages, and that the POP3
server keeps every message whatever happens here."""

from datetime import timedelta

import pytest

from tests.personas import pop3_account_for
from tests.pop3_helpers import message, server_subjects
from webmail import clock
from webmail.models import IndexedFolder, IndexedMessage, StoredMessage
from webmail.protocols.errors import FolderChanged, MessageNotFound
from webmail.services.local_store import blob_store
from webmail.services.pop3_fetch import pop3_fetch
from webmail.services.stores import store_open

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path


@pytest.fixture
def fetched(alice, dovecot, mail_user):
    """A POP3 account with three messages fetched into its local INBOX."""
    mail_user.append("INBOX", message("one"))
    mail_user.append("INBOX", message("two", b"x" * 5000 + b"\r\n"))
    mail_user.append("INBOX", message("three"))
    account = pop3_account_for(alice, dovecot, mail_user)
    assert pop3_fetch(account=account).new == 3
    return account


def subjects(account, folder: str) -> list[str]:
    rows = IndexedMessage.objects.filter(folder__account=account, folder__name=folder)
    return sorted(rows.values_list("subject", flat=True))


def uid_of(account, subject: str) -> int:
    return IndexedMessage.objects.get(folder__account=account, subject=subject).uid


def test_it_lists_the_local_folders_and_pages_newest_first(fetched):
    with store_open(fetched) as store:
        folders = {f.name: (f.special_use, f.messages, f.unseen) for f in store.folders()}
        page = store.folder_page("INBOX", offset=1, limit=5)
    assert folders == {
        "INBOX": (None, 3, 3), "Sent": ("\\Sent", 0, 0), "Drafts": ("\\Drafts", 0, 0),
        "Trash": ("\\Trash", 0, 0), "Archive": ("\\Archive", 0, 0),
    }  # fmt: skip
    assert (page.uidvalidity, page.total) == (1, 3)
    assert [s.subject for s in page.summaries] == ["two", "one"]


def test_it_gives_the_stored_bytes_whole_or_their_beginning(fetched):
    uid = uid_of(fetched, "two")
    stored = StoredMessage.objects.get(indexed__uid=uid, account=fetched)
    with blob_store().open(stored.digest) as file:
        on_disk = file.read()
    with store_open(fetched) as store:
        whole = store.message_raw("INBOX", uid, uidvalidity=1)
        start = store.message_raw("INBOX", uid, uidvalidity=1, max_bytes=100)
        with pytest.raises(FolderChanged):
            store.message_raw("INBOX", uid, uidvalidity=2)
        with pytest.raises(MessageNotFound):
            store.message_raw("INBOX", 999, uidvalidity=1)
    assert (whole.data, whole.truncated, whole.size) == (on_disk, False, len(on_disk))
    assert (start.data, start.truncated, start.size) == (on_disk[:100], True, len(on_disk))
    assert whole.flags == frozenset()  # reading the bytes marks nothing read


def test_it_marks_read_moves_and_deletes_locally_never_on_the_server(fetched, mail_user):
    one, two = uid_of(fetched, "one"), uid_of(fetched, "two")
    with store_open(fetched) as store:
        assert store.flags_add("INBOX", [one, 999], ["\\Seen"], uidvalidity=1) == [one]
        moved = store.messages_move_mapped("INBOX", [one, two], "Archive", uidvalidity=1)
        with pytest.raises(FolderChanged):
            store.messages_move("Archive", [1], "Trash", uidvalidity=7)
        trashed = store.messages_move("Archive", [moved.new_uids[two]], "Trash", uidvalidity=1)
        gone = store.messages_expunge("Trash", [1], uidvalidity=1)
    assert moved.uids == [one, two] and sorted(moved.new_uids.values()) == [1, 2]
    assert (trashed, gone) == ([2], [1])
    assert subjects(fetched, "INBOX") == ["three"]
    assert subjects(fetched, "Archive") == ["one"] and subjects(fetched, "Trash") == []
    archive = IndexedFolder.objects.get(account=fetched, name="Archive")
    assert (archive.messages, archive.unseen, archive.uidnext) == (1, 0, 3)
    deleted = StoredMessage.objects.get(account=fetched, user_deleted_at__isnull=False)
    assert deleted.indexed is None and blob_store().exists(deleted.digest)  # bytes kept
    assert server_subjects(mail_user) == ["one", "three", "two"]


def test_it_appends_makes_renames_and_deletes_user_folders(fetched, monkeypatch):
    raw = b"From: me@example.org\r\nSubject: sent copy\r\n\r\nHi.\r\n"
    with store_open(fetched) as store:
        uid = store.message_append("Sent", raw, flags=["\\Seen"])
        assert store.special_folder("\\Sent") == "Sent"
        store.folder_create("Projects")
        store.folder_create("Projects/2026")
        store.messages_move("INBOX", [uid_of(fetched, "three")], "Projects/2026", uidvalidity=1)
        store.folder_rename("Projects", "Work")
        names = [f.name for f in store.folders()]
        validity = store.folder_status("Work/2026").uidvalidity
        with pytest.raises(FolderChanged):
            store.folder_delete("Work/2026", uidvalidity=1)
        store.folder_delete("Work/2026", uidvalidity=validity)
        later = clock.now() + timedelta(seconds=5)
        monkeypatch.setattr(clock, "now", lambda: later)
        store.folder_create("Work/2026")  # made again: a page of the old one acts on nothing
        assert store.folder_status("Work/2026").uidvalidity > validity
        assert store.message_raw("Sent", uid, uidvalidity=1).data == raw
        assert store.quota() is None
    assert names == ["INBOX", "Archive", "Drafts", "Sent", "Trash", "Work", "Work/2026"]
    sent = IndexedMessage.objects.get(folder__account=fetched, folder__name="Sent")
    assert (sent.subject, sent.seen) == ("sent copy", True)
    assert not IndexedMessage.objects.filter(folder__name__startswith="Work/").exists()
    assert StoredMessage.objects.filter(account=fetched, user_deleted_at__isnull=False).count() == 1
