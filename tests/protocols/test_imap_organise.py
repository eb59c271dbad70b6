"""The organising commands of webmail.protocols.imap against the real test Dovecot: what
the server holds afterwards, seen through a second connection ("another device").

Dovecot always offers MOVE and UIDPLUS; the paths for servers without them are reached
through the store's one capability seam (`ImapStore._has`)."""

import pytest

from tests.dovecot import MailUser
from webmail.protocols.errors import (
    ActionRefused,
    FolderChanged,
    FolderNotFound,
    NotSupported,
)
from webmail.protocols.imap import imap_store


def _mail(subject: str) -> bytes:
    return f"From: a@example.org\r\nSubject: {subject}\r\n\r\nbody\r\n".encode()


def _subjects(user: MailUser, folder: str) -> list[str]:
    with user.client() as client:
        client.select_folder(folder, readonly=True)
        found = client.fetch(client.search("ALL"), ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
    return sorted(
        data[b"BODY[HEADER.FIELDS (SUBJECT)]"].decode().split(":", 1)[1].strip()
        for data in found.values()
    )


def _without(store, *capabilities: str) -> None:
    real = store._has
    store._has = lambda name: name not in capabilities and real(name)


@pytest.fixture
def three(mail_user) -> list[int]:
    return mail_user.append_many("INBOX", [_mail("one"), _mail("two"), _mail("three")])


def test_it_moves_exactly_the_given_uids(mail_user, three):
    validity = mail_user.uidvalidity("INBOX")
    with imap_store(mail_user.settings()) as store:
        moved = store.messages_move("INBOX", [three[0], three[2], 999], "Trash", uidvalidity=validity)
    assert moved == [three[0], three[2]]  # 999 was never there
    assert _subjects(mail_user, "INBOX") == ["two"]
    assert _subjects(mail_user, "Trash") == ["one", "three"]


def test_without_move_it_copies_and_expunges_only_those_uids(mail_user, three):
    """Another device has marked "two" \\Deleted without expunging: a bare EXPUNGE would
    take it too. UID EXPUNGE must leave it."""
    with mail_user.client() as other:
        other.select_folder("INBOX")
        other.add_flags([three[1]], ["\\Deleted"])
    validity = mail_user.uidvalidity("INBOX")
    with imap_store(mail_user.settings()) as store:
        _without(store, "MOVE")
        moved = store.messages_move("INBOX", [three[0]], "Archive", uidvalidity=validity)
    assert moved == [three[0]]
    assert _subjects(mail_user, "INBOX") == ["three", "two"]
    assert "\\Deleted" in mail_user.flags("INBOX", three[1])
    assert _subjects(mail_user, "Archive") == ["one"]


def test_without_move_or_uidplus_it_does_nothing(mail_user, three):
    validity = mail_user.uidvalidity("INBOX")
    with imap_store(mail_user.settings()) as store:
        _without(store, "MOVE", "UIDPLUS")
        with pytest.raises(NotSupported):
            store.messages_move("INBOX", three, "Trash", uidvalidity=validity)
        with pytest.raises(NotSupported):
            store.messages_expunge("INBOX", three, uidvalidity=validity)
    assert _subjects(mail_user, "INBOX") == ["one", "three", "two"]
    assert all("\\Deleted" not in mail_user.flags("INBOX", uid) for uid in three)


def test_expunge_removes_only_the_given_uids(mail_user, three):
    with mail_user.client() as other:
        other.select_folder("INBOX")
        other.add_flags([three[2]], ["\\Deleted"])
    validity = mail_user.uidvalidity("INBOX")
    with imap_store(mail_user.settings()) as store:
        gone = store.messages_expunge("INBOX", [three[0]], uidvalidity=validity)
    assert gone == [three[0]]
    assert _subjects(mail_user, "INBOX") == ["three", "two"]


def test_a_stale_uidvalidity_changes_nothing(mail_user, three):
    stale = mail_user.uidvalidity("INBOX") + 1
    with imap_store(mail_user.settings()) as store:
        with pytest.raises(FolderChanged):
            store.messages_move("INBOX", three, "Trash", uidvalidity=stale)
        with pytest.raises(FolderChanged):
            store.flags_add("INBOX", three, ["\\Seen"], uidvalidity=stale)
        with pytest.raises(FolderChanged):
            store.messages_expunge("INBOX", three, uidvalidity=stale)
    assert _subjects(mail_user, "INBOX") == ["one", "three", "two"]
    assert all(mail_user.flags("INBOX", uid) == frozenset() for uid in three)


def test_flags_are_added_and_removed_on_the_uids_still_there(mail_user, three):
    validity = mail_user.uidvalidity("INBOX")
    with imap_store(mail_user.settings()) as store:
        assert store.flags_add("INBOX", [three[0], 999], ["\\Flagged"], uidvalidity=validity) == [
            three[0]
        ]
        assert mail_user.flags("INBOX", three[0]) == {"\\Flagged"}
        assert store.flags_remove("INBOX", three, ["\\Flagged"], uidvalidity=validity) == three
    assert mail_user.flags("INBOX", three[0]) == frozenset()


def test_moving_to_a_missing_folder_is_folder_not_found(mail_user, three):
    validity = mail_user.uidvalidity("INBOX")
    with imap_store(mail_user.settings()) as store:
        with pytest.raises(FolderNotFound):
            store.messages_move("INBOX", three, "No such folder", uidvalidity=validity)
    assert _subjects(mail_user, "INBOX") == ["one", "three", "two"]


def test_message_uids_stop_below_the_given_uidnext(mail_user, three):
    validity = mail_user.uidvalidity("INBOX")
    with imap_store(mail_user.settings()) as store:
        assert store.message_uids("INBOX", uidvalidity=validity) == three
        assert store.message_uids("INBOX", uidvalidity=validity, below=three[2]) == three[:2]
        assert store.message_uids("INBOX", uidvalidity=validity, below=1) == []


def test_folders_are_created_renamed_subscribed_and_deleted(mail_user):
    with imap_store(mail_user.settings()) as store:
        store.folder_create("Reisen/Köln")
        store.folder_subscribe("Reisen/Köln", subscribed=True)
        assert "Reisen/Köln" in store.folder_subscriptions()
        store.folder_rename("Reisen/Köln", "Reisen/Bonn")
        names = {f.name for f in store.folders()}
        assert "Reisen/Bonn" in names and "Reisen/Köln" not in names
        status = store.folder_status("Reisen/Bonn")
        assert status.messages == 0 and status.uidnext == 1
        with pytest.raises(FolderChanged):
            store.folder_delete("Reisen/Bonn", uidvalidity=status.uidvalidity + 1)
        store.folder_delete("Reisen/Bonn", uidvalidity=status.uidvalidity)
        assert "Reisen/Bonn" not in {f.name for f in store.folders()}
    with mail_user.client() as other:
        assert "Reisen/Bonn" not in {name for _f, _d, name in other.list_folders()}


def test_a_refused_change_names_the_servers_reason(mail_user):
    with imap_store(mail_user.settings()) as store:
        store.folder_create("Kept")
        with pytest.raises(ActionRefused) as refused:
            store.folder_create("Kept")
        assert refused.value.reason == "ALREADYEXISTS"
        with pytest.raises(FolderNotFound):
            store.folder_status("Nowhere")


def test_it_finds_special_use_folders(mail_user):
    with imap_store(mail_user.settings()) as store:
        assert store.special_folder("\\Trash") == "Trash"
        assert store.special_folder("\\Junk") == "Junk"
        _without(store, "SPECIAL-USE")  # the plain LIST carries the attributes too
        assert store.special_folder("\\Archive") == "Archive"
        assert store.special_folder("\\All") is None
