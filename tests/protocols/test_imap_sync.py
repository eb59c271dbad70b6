"""The IMAP reads of the background sync (SyncSource), against Dovecot. Servers without
an extension are played by hiding it at the store's capability seam (`ImapStore._has`)."""

import pytest

from webmail.protocols.errors import FolderChanged, NotSupported
from webmail.protocols.imap import _sequence_set, _vanished_uids, imap_store


def _hide(store, *capabilities):
    real = store._has
    store._has = lambda name: name not in capabilities and real(name)


def _mail(subject: str, *, headers: str = "", body: str = "Hello.\r\n") -> bytes:
    head = headers or "Content-Type: text/plain; charset=utf-8\r\n"
    return (f"From: a@example.org\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n{head}\r\n{body}").encode()


ALTERNATIVE = _mail(
    "alternative",
    headers='Content-Type: multipart/alternative; boundary="b"\r\n',
    body=(
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlain words.\r\n"
        "--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>HTML words</p>\r\n--b--\r\n"
    ),
)
HTML_ONLY = _mail(
    "html",
    headers="Content-Type: text/html; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n",
    body="<style>p{}</style><p>Gr=FC=DFe aus K=F6ln</p>\r\n",
)
MIXED = _mail(
    "mixed",
    headers='Content-Type: multipart/mixed; boundary="m"\r\n',
    body=(
        '--m\r\nContent-Type: multipart/alternative; boundary="a"\r\n\r\n'
        "--a\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        "VGV4dCBpbiBiYXNlNjQu\r\n--a--\r\n"
        "--m\r\nContent-Type: text/plain; name=notes.txt\r\nContent-Disposition: attachment\r\n\r\n"
        "Attached words.\r\n--m--\r\n"
    ),
)


@pytest.fixture
def folder(mail_user) -> list[int]:
    return mail_user.append_many(
        "INBOX", [(ALTERNATIVE, ("\\Seen",), None), HTML_ONLY, MIXED, _mail("four")]
    )


def test_sync_begin_turns_on_qresync_and_only_before_a_folder_is_selected(mail_user):
    with imap_store(mail_user.settings()) as store:
        features = store.sync_begin()
        assert (features.condstore, features.qresync) == (True, True)
        store.folder_examine("INBOX")
        with pytest.raises(ValueError):
            store.sync_begin()
    with imap_store(mail_user.settings()) as store:
        _hide(store, "QRESYNC", "CONDSTORE")
        features = store.sync_begin()
        assert (features.condstore, features.qresync) == (False, False)
        with pytest.raises(NotSupported):
            store.message_changes("INBOX", uidvalidity=1, since=1, first=1, last=None)


def test_folders_state_has_every_counter_with_and_without_list_status(mail_user, folder):
    with imap_store(mail_user.settings()) as store:
        store.sync_begin()
        listed = {state.name: state for state in store.folders_state()}
        _hide(store, "LIST-STATUS")
        asked = {state.name: state for state in store.folders_state()}
    inbox = listed["INBOX"]
    assert inbox.uidvalidity == mail_user.uidvalidity("INBOX")
    assert (inbox.uidnext, inbox.messages, inbox.unseen) == (folder[-1] + 1, 4, 3)
    assert inbox.highestmodseq > 0
    assert listed["Trash"].special_use == "\\Trash"
    assert asked == listed


def test_uids_from_with_and_without_esearch(mail_user, folder):
    with imap_store(mail_user.settings()) as store:
        store.sync_begin()
        snapshot = store.folder_examine("INBOX")
        uidvalidity = snapshot.uidvalidity
        assert (snapshot.exists, snapshot.uidnext) == (4, folder[-1] + 1)
        assert store.message_uids_from("INBOX", uidvalidity=uidvalidity) == folder
        assert store.message_uids_from("INBOX", uidvalidity=uidvalidity, first=folder[2]) == folder[2:]
        # "n:*" above the last UID still matches the last message; it must not come back.
        assert store.message_uids_from("INBOX", uidvalidity=uidvalidity, first=folder[-1] + 1) == []
        _hide(store, "ESEARCH")
        assert store.message_uids_from("INBOX", uidvalidity=uidvalidity) == folder
        assert store.message_uids_from("INBOX", uidvalidity=uidvalidity, first=folder[-1] + 1) == []
        with pytest.raises(FolderChanged):
            store.message_uids_from("INBOX", uidvalidity=uidvalidity + 1)


def test_index_entries_take_the_readable_text_part_and_never_set_seen(mail_user, folder):
    with imap_store(mail_user.settings()) as store:
        store.sync_begin()
        uidvalidity = store.folder_examine("INBOX").uidvalidity
        entries = store.messages_index("INBOX", folder, uidvalidity=uidvalidity, text_bytes=500)
    assert [e.summary.uid for e in entries] == folder[::-1]  # newest first
    text = {e.summary.subject: e.text for e in entries}
    assert text == {
        "alternative": "Plain words.",
        "html": "Grüße aus Köln",
        "mixed": "Text in base64.",
        "four": "Hello.",
    }
    mixed = next(e for e in entries if e.summary.subject == "mixed")
    assert mixed.summary.has_attachments
    assert [mail_user.flags("INBOX", uid) for uid in folder] == [
        frozenset({"\\Seen"}), frozenset(), frozenset(), frozenset()
    ]


def test_changes_since_a_modseq_and_what_vanished(mail_user, folder):
    with imap_store(mail_user.settings()) as store:
        store.sync_begin()
        snapshot = store.folder_examine("INBOX")
        with mail_user.client() as other:
            other.select_folder("INBOX")
            other.add_flags([folder[1]], ["\\Flagged"])
            other.add_flags([folder[2]], ["\\Deleted"])
            other.uid_expunge([folder[2]])
        changes = store.message_changes(
            "INBOX", uidvalidity=snapshot.uidvalidity, since=snapshot.highestmodseq,
            first=1, last=None,
        )
        assert changes.flags == {folder[1]: frozenset({"\\Flagged"})}
        assert changes.vanished == [folder[2]]
        below = store.message_changes(
            "INBOX", uidvalidity=snapshot.uidvalidity, since=snapshot.highestmodseq,
            first=1, last=folder[0],
        )
        assert below.flags == {}


def test_sequence_sets_and_vanished_responses():
    assert _sequence_set([5, 1, 2, 3, 9, 10, 3]) == "1:3,5,9:10"
    assert _sequence_set([7]) == "7"
    assert _vanished_uids([b"(EARLIER) 1:3,7", b"9"]) == [1, 2, 3, 7, 9]
