"""webmail.services.organise against the real Dovecot: after each action, what the server
holds, seen by another connection. alice's account points at a fresh `mail_user`."""

import pytest

from tests.dovecot import MailUser, new_mail_user
from tests.personas import account_for
from webmail.protocols.errors import FolderNotFound
from webmail.services import organise
from webmail.services.errors import ActionNotAllowed
from webmail.services.organise import (
    ConfirmationRequired,
    SelectionGone,
    StaleSelection,
    folder_empty,
    folder_empty_preview,
    messages_archive,
    messages_delete,
    messages_mark_flagged,
    messages_mark_read,
    messages_move,
    messages_report_junk,
)

pytestmark = pytest.mark.django_db


def _mail(subject: str) -> bytes:
    return f"From: a@example.org\r\nSubject: {subject}\r\n\r\nbody\r\n".encode()


def subjects(user: MailUser, folder: str) -> list[str]:
    """The subjects in `folder`, sorted, as another device sees them."""
    with user.client() as client:
        client.select_folder(folder, readonly=True)
        found = client.fetch(client.search("ALL"), ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
    return sorted(
        data[b"BODY[HEADER.FIELDS (SUBJECT)]"].decode().split(":", 1)[1].strip()
        for data in found.values()
    )


def folder_names(user: MailUser) -> set[str]:
    with user.client() as client:
        return {name for _flags, _delim, name in client.list_folders()}


@pytest.fixture
def inbox(mail_user) -> list[int]:
    return mail_user.append_many("INBOX", [_mail("one"), _mail("two"), _mail("three")])


@pytest.fixture
def account(alice, dovecot, mail_user):
    return account_for(alice, dovecot, mail_user)


@pytest.fixture
def act(account, mail_user):
    """Calls a service on alice's INBOX with its current UIDVALIDITY."""

    def call(service, uids, folder="INBOX", **kwargs):
        return service(
            account=account,
            folder=folder,
            uidvalidity=mail_user.uidvalidity(folder),
            uids=uids,
            **kwargs,
        )

    return call


def test_it_marks_messages_read_and_unread(act, mail_user, inbox):
    done = act(messages_mark_read, inbox[:2], read=True)
    assert done.count == 2
    assert [("\\Seen" in mail_user.flags("INBOX", uid)) for uid in inbox] == [True, True, False]

    act(messages_mark_read, [inbox[0]], read=False)
    assert mail_user.flags("INBOX", inbox[0]) == frozenset()
    assert mail_user.flags("INBOX", inbox[1]) == {"\\Seen"}


def test_it_flags_and_unflags(act, mail_user, inbox):
    act(messages_mark_flagged, [inbox[2]], flagged=True)
    assert mail_user.flags("INBOX", inbox[2]) == {"\\Flagged"}
    act(messages_mark_flagged, [inbox[2]], flagged=False)
    assert mail_user.flags("INBOX", inbox[2]) == frozenset()


def test_it_moves_to_any_folder(act, mail_user, inbox):
    mail_user.create_folder("Projects/2026")
    done = act(messages_move, inbox[1:], target="Projects/2026")
    assert (done.count, done.target, done.target_role) == (2, "Projects/2026", None)
    assert subjects(mail_user, "INBOX") == ["one"]
    assert subjects(mail_user, "Projects/2026") == ["three", "two"]


def test_moving_to_a_folder_that_is_gone_moves_nothing(act, mail_user, inbox):
    with pytest.raises(FolderNotFound):
        act(messages_move, inbox, target="Gone")
    assert subjects(mail_user, "INBOX") == ["one", "three", "two"]


def test_moving_into_the_same_folder_is_refused(act, mail_user, inbox):
    with pytest.raises(ActionNotAllowed, match="in that folder already"):
        act(messages_move, inbox, target="INBOX")
    assert subjects(mail_user, "INBOX") == ["one", "three", "two"]


def test_archive_moves_to_the_archive(act, mail_user, inbox):
    done = act(messages_archive, [inbox[0]])
    assert (done.count, done.target, done.target_role) == (1, "Archive", "\\Archive")
    assert subjects(mail_user, "Archive") == ["one"]
    assert subjects(mail_user, "INBOX") == ["three", "two"]


def _account_on(alice, dovecot, **settings):
    user = new_mail_user(dovecot, settings=settings)
    user.append("INBOX", _mail("keep me"))
    return user, account_for(alice, dovecot, user)


def _archive_all(account, user):
    return messages_archive(
        account=account,
        folder="INBOX",
        uidvalidity=user.uidvalidity("INBOX"),
        uids=[1],
    )


def test_archive_creates_the_archive_when_the_server_has_none(alice, dovecot):
    user, account = _account_on(alice, dovecot, **{"namespace/inbox/mailbox/Archive/auto": "no"})
    assert "Archive" not in folder_names(user)

    done = _archive_all(account, user)

    assert done.target == "Archive"
    assert subjects(user, "Archive") == ["keep me"]
    with user.client() as client:
        assert "Archive" in {name for _f, _d, name in client.list_sub_folders()}


def test_archive_creates_it_with_create_special_use_where_offered(alice, dovecot):
    user, account = _account_on(
        alice,
        dovecot,
        **{
            "namespace/inbox/mailbox/Archive/auto": "no",
            "imap_capability": "+CREATE-SPECIAL-USE",
        },
    )
    done = _archive_all(account, user)
    assert done.target == "Archive"
    assert subjects(user, "Archive") == ["keep me"]


def test_archive_uses_a_folder_named_archive_when_none_is_marked(alice, dovecot):
    """The \\Archive mark belongs to a folder that does not exist; an unmarked folder
    called Archive does. It is used; no second archive is made."""
    user, account = _account_on(
        alice,
        dovecot,
        **{
            "namespace/inbox/mailbox/Archive/name": "Archiv-Alt",
            "namespace/inbox/mailbox/Archive/auto": "no",
        },
    )
    user.create_folder("archive")
    done = _archive_all(account, user)
    assert done.target == "archive"
    assert subjects(user, "archive") == ["keep me"]
    assert "Archiv-Alt" not in folder_names(user)


def test_report_junk_moves_to_junk(act, mail_user, inbox):
    done = act(messages_report_junk, inbox[1:2])
    assert (done.count, done.target) == (1, "Junk")
    assert subjects(mail_user, "Junk") == ["two"]


def test_delete_moves_to_the_trash(act, mail_user, inbox):
    done = act(messages_delete, inbox[:2])
    assert (done.count, done.target, done.expunged) == (2, "Trash", False)
    assert subjects(mail_user, "Trash") == ["one", "two"]
    assert subjects(mail_user, "INBOX") == ["three"]


def test_delete_in_the_trash_asks_first_then_removes_for_good(act, mail_user):
    trash = mail_user.append_many("Trash", [_mail("old"), _mail("older"), _mail("stays")])

    with pytest.raises(ConfirmationRequired) as asked:
        act(messages_delete, trash[:2], folder="Trash")
    assert asked.value.count == 2
    assert subjects(mail_user, "Trash") == ["old", "older", "stays"]

    done = act(messages_delete, trash[:2], folder="Trash", confirmed=True)
    assert (done.count, done.expunged) == (2, True)
    assert subjects(mail_user, "Trash") == ["stays"]


def test_a_stale_uidvalidity_does_nothing(account, mail_user, inbox):
    stale = mail_user.uidvalidity("INBOX") + 1
    for service in (messages_delete, messages_archive):
        with pytest.raises(StaleSelection, match="nothing was done"):
            service(account=account, folder="INBOX", uidvalidity=stale, uids=inbox)
    with pytest.raises(StaleSelection):
        messages_mark_read(account=account, folder="INBOX", uidvalidity=stale, uids=inbox, read=True)
    assert subjects(mail_user, "INBOX") == ["one", "three", "two"]
    assert all(mail_user.flags("INBOX", uid) == frozenset() for uid in inbox)
    assert subjects(mail_user, "Trash") == []


def test_messages_gone_meanwhile_are_reported_not_counted(act, mail_user, inbox):
    with mail_user.client() as other:  # another device moves them first
        other.select_folder("INBOX")
        other.move(inbox[:2], "Junk")
    with pytest.raises(SelectionGone, match="no longer in this folder"):
        act(messages_delete, inbox[:1])
    done = act(messages_delete, inbox)
    assert done.count == 1
    assert subjects(mail_user, "Trash") == ["three"]


def test_an_empty_or_huge_selection_is_refused(act, mail_user, inbox):
    with pytest.raises(ActionNotAllowed, match="Select at least one"):
        act(messages_delete, [])
    with pytest.raises(ActionNotAllowed, match="at most"):
        act(messages_delete, list(range(1, organise.MAX_SELECTION + 2)))
    assert subjects(mail_user, "INBOX") == ["one", "three", "two"]


def test_emptying_the_trash_removes_only_what_the_page_counted(account, mail_user):
    mail_user.append_many("Trash", [_mail("a"), _mail("b")])
    preview = folder_empty_preview(account=account, folder="Trash")
    assert (preview.count, preview.role) == (2, "\\Trash")
    mail_user.append("Trash", _mail("arrived since"))

    done = folder_empty(
        account=account,
        folder="Trash",
        uidvalidity=preview.uidvalidity,
        below_uid=preview.uidnext,
    )

    assert (done.count, done.expunged, done.left) == (2, True, 0)
    assert subjects(mail_user, "Trash") == ["arrived since"]


def test_emptying_junk_works_too_and_a_stale_page_does_nothing(account, mail_user):
    mail_user.append_many("Junk", [_mail("spam 1"), _mail("spam 2")])
    preview = folder_empty_preview(account=account, folder="Junk")
    with pytest.raises(StaleSelection):
        folder_empty(
            account=account,
            folder="Junk",
            uidvalidity=preview.uidvalidity + 1,
            below_uid=preview.uidnext,
        )
    assert subjects(mail_user, "Junk") == ["spam 1", "spam 2"]
    folder_empty(
        account=account, folder="Junk", uidvalidity=preview.uidvalidity, below_uid=preview.uidnext
    )
    assert subjects(mail_user, "Junk") == []


def test_only_trash_and_junk_can_be_emptied(account, mail_user, inbox):
    with pytest.raises(ActionNotAllowed, match="Only the Trash and the Junk"):
        folder_empty_preview(account=account, folder="INBOX")
    with pytest.raises(ActionNotAllowed):
        folder_empty(
            account=account,
            folder="INBOX",
            uidvalidity=mail_user.uidvalidity("INBOX"),
            below_uid=100,
        )
    assert subjects(mail_user, "INBOX") == ["one", "three", "two"]
